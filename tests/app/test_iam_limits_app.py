"""The committed environments' roles fit IAM's size quotas, and the platform app checks them at synth."""

from __future__ import annotations

import pytest

from ml_platform.constructs.core import iam_limits
from ml_platform.platform_app import build_app
from tests.conftest import CDK_CONTEXT, CONFIG_DIR

ENVIRONMENTS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_committed_environments_fit_the_iam_quotas(templates, env):
    assert iam_limits.template_problems(templates[env]) == []


def test_the_platform_app_checks_iam_sizes_at_synth(monkeypatch):
    from aws_cdk import Stack

    app = build_app(CONFIG_DIR, only=[ENVIRONMENTS[0]], context=CDK_CONTEXT)
    stacks = [c for c in app.node.find_all() if isinstance(c, Stack)]
    assert stacks and all(s.node.validate() == [] for s in stacks)
    monkeypatch.setattr(iam_limits, "MANAGED_POLICY_MAX_CHARS", 1_000)
    problems = [p for s in stacks for p in s.node.validate()]
    assert problems and all(p.startswith("managed policy ") and p.endswith("IAM allows 1,000") for p in problems)


def test_an_oversized_policy_stops_synthesize_with_one_line_per_problem_and_no_traceback(capsys):
    from aws_cdk import App, Stack
    from aws_cdk import aws_iam as iam

    from ml_platform.constructs.core.iam_limits import check_iam_sizes
    from ml_platform.platform_app import synthesize

    app = App()
    stack = Stack(app, "S", env={"account": "111111111111", "region": "eu-west-1"})
    # A managed policy of the app's own (aws-cdk-lib splits only a role's default policy).
    iam.ManagedPolicy(stack, "Wide", roles=[iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))],
                      statements=[iam.PolicyStatement(actions=["s3:GetObject"],
                                                      resources=[f"arn:aws:s3:::bucket-{index:04d}/prefix-{index:04d}/*"])
                                  for index in range(200)])
    check_iam_sizes(app)
    with pytest.raises(SystemExit) as exited:
        synthesize(app)
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err and all("S/Wide" in line for line in err.splitlines()), err
