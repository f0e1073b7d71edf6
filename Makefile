# Every target sets up what it needs first: a fresh clone runs `make synth` or `make test` directly.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .tools/checkov
PIP_FLAGS := --quiet --disable-pip-version-check
ENVIRONMENTS := $(sort $(basename $(notdir $(wildcard config/*.yaml))))

# The pinned Node.js (npm package node@22) and CDK CLI come first, then the project's venv.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov
CDK := cdk --no-notices
# Synthesis needs no AWS access: do not probe the EC2 instance metadata service for credentials.
OFFLINE := AWS_EC2_METADATA_DISABLED=true

.PHONY: help setup synth-setup synth synth-pipeline deploy-pipeline test docs typecheck bench lineage alerts lifecycle review snapshots deploy diff preflight clean
help:
	@echo "make synth [ENV=<env>]    synthesize every environment (config/*.yaml), or ENV's, into cdk.out/"
	@echo "make test                 run the whole test suite, gates and type checks included"
	@echo "make docs                 the HTML API reference of ml_platform.constructs into build/docs/"
	@echo "make typecheck            mypy and pyright on ml_platform/ and examples/ (settings: pyproject.toml)"
	@echo "make bench [SCALE=1]      synth time, peak memory, resources and template sizes (SCALE: a generated large environment)"
	@echo "make lineage              every lake location each resource reads or writes, checked (offline)"
	@echo "make alerts               failure coverage: every run-time failure routed to an alert topic (offline)"
	@echo "make lifecycle            the offline end-to-end run: lake -> features -> model -> serving -> feedback"
	@echo "make review               review/<env>/: report, diff against the snapshots, architecture picture, idle cost (offline)"
	@echo "make snapshots            rewrite tests/snapshots/ and review/prod/ from the current synth"
	@echo "make diff ENV=<env>       cdk diff one environment (AWS credentials needed)"
	@echo "make deploy ENV=<env>     cdk deploy one environment (AWS credentials, bootstrapped account)"
	@echo "make synth-pipeline       synthesize the delivery pipeline app (pipeline_app.py) into cdk.out.pipeline/ (offline)"
	@echo "make deploy-pipeline      cdk deploy the delivery pipeline (credentials for the tooling account; docs/delivery.md)"
	@echo "environments: $(ENVIRONMENTS)"

# Two setups into the same .venv and node_modules: synth-setup installs what synthesis needs
# (requirements.lock: the library with its extras; npm dependencies: Node.js and the CDK CLI);
# setup adds what only tests need (requirements-dev.lock, checkov's own venv, npm devDependencies:
# pyright). A marker records each; the full setup writes both, so a synth after a test reinstalls
# nothing.
synth-setup: $(VENV)/.installed-runtime node_modules/.installed-runtime
setup: $(VENV)/.installed-dev $(CHECKOV_VENV)/.installed node_modules/.installed-dev

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-runtime: requirements.lock | $(VENV)/bin/python
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements.lock
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock requirements.lock | $(VENV)/bin/python
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements-dev.lock
	touch $@ $(VENV)/.installed-runtime

$(CHECKOV_VENV)/.installed: requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) -r requirements-checkov.lock
	touch $@

NPM_CI := npm ci --no-fund --no-audit --loglevel=error --fetch-timeout=60000 --fetch-retries=5
# npm ci empties node_modules first, markers included.
node_modules/.installed-runtime: package.json package-lock.json
	$(NPM_CI) --omit=dev
	touch $@

node_modules/.installed-dev: package.json package-lock.json
	$(NPM_CI)
	touch $@ node_modules/.installed-runtime

# cdk-nag's packs gate every synth. aws-cdk-lib's built-in CloudFormation validation is off unless
# ML_PLATFORM_BUILTIN_VALIDATION=true (make test runs it, and cfn-lint, on every environment).
# ENV=<env> builds that environment's stage only (every environment file is still validated).
synth: synth-setup
	@test -z "$(ENV)" || test -f "config/$(ENV).yaml" || { echo "config/$(ENV).yaml does not exist; environments: $(ENVIRONMENTS)" >&2; exit 2; }
	rm -rf cdk.out
	$(OFFLINE) $(if $(ENV),ML_PLATFORM_ENVIRONMENTS=$(ENV)) $(CDK) synth --quiet
	@echo "Synthesized: $$(ls -d cdk.out/assembly-* | tr '\n' ' ')"

# The delivery pipeline's app (config/delivery/pipeline.yaml): its stack and every stage it deploys,
# the cloud assembly the pipeline's synth step hands to its deploy actions (docs/delivery.md).
PIPELINE_APP := --app "python3 pipeline_app.py" --output cdk.out.pipeline
synth-pipeline: synth-setup
	rm -rf cdk.out.pipeline
	$(OFFLINE) $(CDK) $(PIPELINE_APP) synth --quiet
	@echo "Synthesized: cdk.out.pipeline/"

# Once, by hand, with credentials for the tooling account; afterwards the pipeline updates itself.
deploy-pipeline: synth-setup
	$(CDK) $(PIPELINE_APP) deploy Delivery --require-approval broadening

test: setup
	$(OFFLINE) $(VENV)/bin/python -m pytest -n 2 $(PYTEST_ARGS)

# pdoc reports a module that fails to import, or a docstring or annotation it cannot process, as a
# UserWarning and goes on: -W error::UserWarning makes each of them fail the build. pdoc has no check
# of cross-references (an unresolved one stays plain text): tests/app/test_api_docs.py checks them.
# PDOC_ALLOW_EXEC: importing aws_cdk starts jsii's Node.js process, which pdoc blocks by default.
DOCS_DIR ?= build/docs
DOCS_MODULES := ml_platform.constructs $(addprefix ml_platform.constructs.,core lake preparation training serving monitoring labeling)
docs: setup
	rm -rf $(DOCS_DIR)
	$(OFFLINE) PDOC_ALLOW_EXEC=1 $(VENV)/bin/python -W error::UserWarning -m pdoc --docformat restructuredtext --no-show-source -o $(DOCS_DIR) $(DOCS_MODULES)
	@echo "API reference: $(DOCS_DIR)/index.html"

typecheck: setup
	$(VENV)/bin/mypy
	pyright --pythonpath $(VENV)/bin/python

# make bench SCALE=1: the same on a generated environment (tools/scale_config.py: 200 Glue datasets,
# 50 DataBrew datasets, 20 models with pipelines, 50 endpoints, 20 monitored) with every gate.
bench: setup
	@if [ -n "$(SCALE)" ]; then \
	  dir=$$(mktemp -d) && $(VENV)/bin/python tools/scale_config.py "$$dir" && \
	  $(OFFLINE) ML_PLATFORM_CONFIG_DIR="$$dir" $(VENV)/bin/python tools/bench.py; status=$$?; rm -rf "$$dir"; exit $$status; \
	else $(OFFLINE) $(VENV)/bin/python tools/bench.py; fi

lineage: setup
	$(OFFLINE) $(VENV)/bin/python tools/lineage.py

alerts: setup
	$(OFFLINE) $(VENV)/bin/python tools/alert_coverage.py

lifecycle: setup
	$(OFFLINE) $(VENV)/bin/python tools/lifecycle.py

# The picture is rendered by Graphviz and resvg compiled to WebAssembly (npm devDependencies).
review: setup
	$(OFFLINE) $(VENV)/bin/python -m tools.review

snapshots: setup
	$(OFFLINE) UPDATE_SNAPSHOTS=1 $(VENV)/bin/python -m pytest tests/app/test_snapshots.py tests/app/test_review.py -q

preflight: synth-setup
	@test -n "$(ENV)" || { echo "ENV is required: make $(MAKECMDGOALS) ENV=<one of: $(ENVIRONMENTS)>" >&2; exit 2; }
	@test -f "config/$(ENV).yaml" || { echo "config/$(ENV).yaml does not exist; environments: $(ENVIRONMENTS)" >&2; exit 2; }
	$(VENV)/bin/python tools/preflight.py "config/$(ENV).yaml"

# Only ENV's stage is built (every environment file is still validated).
diff: preflight
	ML_PLATFORM_ENVIRONMENTS=$(ENV) $(CDK) diff "$(ENV)/*"

deploy: preflight
	ML_PLATFORM_ENVIRONMENTS=$(ENV) $(CDK) deploy "$(ENV)/*" --require-approval broadening

clean:
	rm -rf cdk.out cdk.out.pipeline .pytest_cache .mypy_cache build dist *.egg-info
