"""The wheel ships the library (lambda code included) and another CDK app can compose it.

The wheel is built from a copy of the sources, installed into a fresh virtual environment and
used by examples/data_lake_app from a directory outside the source tree. To stay offline and
fast, the fresh environment borrows the already pinned dependencies (aws-cdk-lib, ...) of the
test environment through a .pth file; ml_platform itself comes only from the installed wheel.
"""

from __future__ import annotations

import email
import importlib.metadata
import json
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ml_platform.constructs.monitoring.model_monitor import monitor_image
from ml_platform.constructs.training.sagemaker_images import builtin_image
from tests.conftest import ROOT

#: The PyPI name (``ml-platform`` is an unrelated project's); the import package stays ml_platform.
DISTRIBUTION = "sagemaker-ml-platform-cdk"

pytestmark = pytest.mark.slow


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "ml_platform", source / "ml_platform",
                    ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", dist, source)
    [built] = dist.glob("sagemaker_ml_platform_cdk-*.whl")
    return built


def test_wheel_contains_the_package_lambda_code_and_type_marker(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "ml_platform/config.py",
        "ml_platform/constructs/lake/data_lake.py",
        "ml_platform/stacks/stage.py",
        "ml_platform/lambdas/__init__.py",
        "ml_platform/lambdas/databrew_recipe_publisher/handler.py",
        "ml_platform/jobs/glue/raw_to_parquet/raw_to_parquet.py",
        "ml_platform/jobs/training_pipeline/prepare.py",
        "ml_platform/jobs/labeling_ui/image_classification.liquid.html",
        "ml_platform/py.typed",
    } <= names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "config/"))]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str], extras: frozenset[str] = frozenset()) -> set[str]:
    """Every distribution that installing ``requirements`` (the wheel's) with ``extras`` pulls,
    read from the metadata of the test environment, which holds all of them (offline)."""
    seen: set[str] = set()
    pending = [(Requirement(r), extras) for r in requirements]
    while pending:
        requirement, wanted = pending.pop()
        markers = [{"extra": e} for e in wanted or {""}]
        if requirement.marker and not any(requirement.marker.evaluate(m) for m in markers):
            continue
        name = normalized(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        if name == DISTRIBUTION:  # the "all" extra names the others
            pending += [(Requirement(r), frozenset(requirement.extras)) for r in requirements]
            continue
        requires = importlib.metadata.distribution(name).requires or []
        pending += [(Requirement(r), frozenset(requirement.extras)) for r in requires]
    return seen


def test_the_wheel_has_its_own_pypi_name_and_a_light_core_install(wheel):
    with zipfile.ZipFile(wheel) as archive:
        [metadata_path] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_path))
        licenses = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert metadata["Name"] == DISTRIBUTION and metadata["License-Expression"] == "Apache-2.0"
    assert licenses and metadata.get_all("License-File") == ["LICENSE"]
    assert set(metadata.get_all("Provides-Extra")) == {"rebalance", "all", "dev"}
    requires = metadata.get_all("Requires-Dist")
    core = [r for r in requires if "extra ==" not in r]
    pulled = closure(core)
    assert {"aws-cdk-lib", "constructs", "cdk-nag", "pydantic", "pyyaml", "botocore"} <= pulled
    assert not pulled & {"pandas", "scipy", "scikit-learn", "sagemaker-core", "imbalanced-learn"}, pulled
    # What needs scipy is one extra away; the platform app takes it. The SageMaker SDK (pandas) is
    # needed by no install: image URIs come from the table it generates (a dev dependency).
    assert "imbalanced-learn" in closure(requires, frozenset({"rebalance"}))
    everything = closure(requires, frozenset({"all"}))
    assert {"scipy", "imbalanced-learn", "boto3"} <= everything
    assert not everything & {"sagemaker-core", "pandas"}, everything
    assert "ml_platform/constructs/training/image_uris.json" in zipfile.ZipFile(wheel).namelist()


def pins(lock: str) -> dict[str, str]:
    lines = (ROOT / lock).read_text().splitlines()
    return dict(normalized(line).split("==") for line in lines if "==" in line)


def test_the_runtime_lock_pins_exactly_what_the_app_installs_and_nothing_for_tests(wheel):
    with zipfile.ZipFile(wheel) as archive:
        [metadata_path] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = email.message_from_bytes(archive.read(metadata_path)).get_all("Requires-Dist")
    runtime = pins("requirements.lock")
    assert set(runtime) == closure(requires, frozenset({"all"})) - {DISTRIBUTION}
    dev = pins("requirements-dev.lock")
    assert "-r requirements.lock" in (ROOT / "requirements-dev.lock").read_text().splitlines()
    assert not set(runtime) & set(dev)
    assert {"pytest", "pyspark", "moto", "cfn-lint", "mypy", "pdoc"} <= set(dev)


def test_make_synth_sets_up_only_what_synthesis_needs():
    def recipes(target: str) -> str:
        return subprocess.run(["make", "--no-print-directory", "-n", "-B", target], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
    synth, test = recipes("synth"), recipes("test")
    assert "-r requirements.lock" in synth and "npm ci" in synth and "--omit=dev" in synth
    assert "requirements-dev.lock" not in synth and "checkov" not in synth
    assert "-r requirements-dev.lock" in test and "requirements-checkov.lock" in test
    assert re.search(r"^npm ci(?!.*--omit=dev).*$", test, re.MULTILINE)


@pytest.fixture()
def without_sagemaker_sdk(monkeypatch):
    # import sagemaker -> ModuleNotFoundError, also when another test of this process imported it
    for name in ("sagemaker", "sagemaker.core", "sagemaker.core.image_uris"):
        monkeypatch.setitem(sys.modules, name, None)
    builtin_image.cache_clear()
    yield
    builtin_image.cache_clear()


@pytest.mark.parametrize("lookup", [lambda: builtin_image("xgboost", "eu-west-1", "1.7-1"),
                                    lambda: monitor_image("model-monitor", "eu-west-1")])
def test_an_image_lookup_needs_neither_an_extra_nor_the_sagemaker_sdk(without_sagemaker_sdk, lookup):
    assert re.fullmatch(r"\d{12}\.dkr\.ecr\.eu-west-1\.amazonaws\.com/sagemaker-[a-z-]+(:1\.7-1)?", lookup())


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """One fresh virtual environment with the wheel (and the borrowed pinned dependencies): its
    python, its site-packages and the environment to run it in (no PYTHONPATH to the sources)."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    venv_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (venv_site / "pinned-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
        "--target", venv_site, wheel)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return python, venv_site, env


def test_example_app_synthesizes_from_the_installed_wheel(installed, tmp_path):
    python, venv_site, env = installed
    example = tmp_path / "example"
    shutil.copytree(ROOT / "examples" / "data_lake_app", example)
    located = run(python, "-c", "import ml_platform; print(ml_platform.__file__)", cwd=example, env=env)
    assert Path(located.stdout.strip()).is_relative_to(venv_site)

    out = tmp_path / "cdk.out"
    run(python, "app.py", cwd=example, env={**env, "CDK_OUTDIR": str(out)})
    template = json.loads((out / "ChurnLake.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::S3::Bucket") == 5
    [policy] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    resources = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "/churn/*" in resources and "INTELLIGENT_TIERING" in json.dumps(template)


#: The cdk-nag packs the platform gates on (ml_platform.platform_app.NAG_PACKS), by class name.
NAG_PACK_NAMES = ["AwsSolutionsChecks", "HIPAASecurityChecks", "NIST80053R5Checks", "PCIDSS321Checks"]
#: What a team already has: a library lake or network would create these; the stage apps import them.
TEAM_OWNED = ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup")
#: Runs an example's app.py and prints the class names of the validation plugins it added: the
#: packs are seen being added, and synth raises (exit 1) on any unacknowledged finding.
PLUGIN_RECORDER = """
import json, runpy
import aws_cdk

added = []
add_plugins = aws_cdk.Validations.add_plugins


def recording(self, *plugins):
    added.extend(type(p).__name__ for p in plugins)
    return add_plugins(self, *plugins)


aws_cdk.Validations.add_plugins = recording
runpy.run_path("app.py", run_name="__main__")
print(json.dumps(added))
"""
#: Per stage app: its main resource types, and the names of the team's own resources it must use.
STAGE_APPS = {
    "preparation_app": (("AWS::Glue::Job", "AWS::Glue::Crawler", "AWS::Glue::Workflow"),
                        ("team-churn-raw", "team_churn_processed", "key/11111111-2222")),
    "training_app": (("AWS::SageMaker::Pipeline", "AWS::SageMaker::ModelPackageGroup"),
                     ("team-churn-artifacts", "sg-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718", "team-ml-alerts")),
    "serving_app": (("AWS::SageMaker::Endpoint", "AWS::SageMaker::EndpointConfig"),
                    ("team-churn-raw", "subnet-0a1b2c3d4e5f60718", "role/team-churn-inference", "team-ml-alerts")),
    "monitoring_app": (("AWS::SageMaker::MonitoringSchedule", "AWS::SageMaker::DataQualityJobDefinition"),
                       ("team-churn-artifacts", "sg-0a1b2c3d4e5f60718", "role/team-churn-monitoring", "team-ml-alerts")),
    "labeling_app": (("AWS::SageMaker::Workteam", "AWS::Lambda::Function"),
                     ("team-scans-curated", "subnet-0a1b2c3d4e5f60718", "team-workforce")),
}


def test_every_stage_has_an_example_app():
    apps = {p.parent.name for p in (ROOT / "examples").glob("*/app.py")}
    assert apps == {"data_lake_app", *STAGE_APPS}
    assert all((ROOT / "examples" / name / "README.md").exists() for name in apps)


@pytest.mark.parametrize("name", sorted(STAGE_APPS))
def test_stage_app_composes_the_teams_own_resources_and_passes_the_nag_packs(installed, tmp_path, name):
    python, _, env = installed
    main_types, team_names = STAGE_APPS[name]
    example = tmp_path / name
    shutil.copytree(ROOT / "examples" / name, example, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    (tmp_path / "recorder.py").write_text(PLUGIN_RECORDER)
    out = tmp_path / "cdk.out"
    result = run(python, tmp_path / "recorder.py", cwd=example, env={**env, "CDK_OUTDIR": str(out)})
    assert json.loads(result.stdout.strip().splitlines()[-1]) == NAG_PACK_NAMES
    assert json.loads((out / "validation-report.json").read_text())["pluginReports"] == []
    [template_path] = out.glob("*.template.json")
    template = json.loads(template_path.read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert not types & set(TEAM_OWNED), types & set(TEAM_OWNED)
    assert set(main_types) <= types, types
    text = json.dumps(template)
    assert [n for n in team_names if n not in text] == []
