"""training.experiment_tracking in an environment: the MLflow server beside the registry, reachable
through its interface endpoint, usable by the personas and logged to as the processing role."""

from __future__ import annotations

import json
import shutil

from aws_cdk.assertions import Template

from ml_platform.platform_app import build_app
from ml_platform.stacks.stage import PlatformStage
from tests.conftest import CDK_CONTEXT, CONFIG_DIR


def test_an_environment_with_experiment_tracking_gets_the_server_endpoint_and_grants(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    text = (CONFIG_DIR / "prod.yaml").read_text()
    assert "\n  personas: {}\n" in text and "\nnetwork:\n" in text
    text = text.replace("\n  personas: {}\n", "\n  personas: {}\n  experiment_tracking: {size: Small}\n", 1)
    text = text.replace("\nnetwork:\n", "\nnetwork:\n  interface_endpoints: [sagemaker_api, sagemaker_runtime, sts, logs, "
                                        "monitoring, ecr_api, ecr_docker, sagemaker_experiments]\n", 1)
    (config / "prod.yaml").write_text(text)
    app = build_app(config, ["prod"], outdir=str(tmp_path / "out"), context=CDK_CONTEXT)
    [stage] = [c for c in app.node.children if isinstance(c, PlatformStage)]
    training = Template.from_stack(stage.training).to_json()["Resources"]
    [server] = [r["Properties"] for r in training.values() if r["Type"] == "AWS::SageMaker::MlflowTrackingServer"]
    assert server["TrackingServerName"] == "mlp-prod-mlflow" and server["TrackingServerSize"] == "Small"
    policies = {k: json.dumps(r["Properties"]) for k, r in training.items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    granted = {k for k, p in policies.items() if "sagemaker-mlflow:" in p}
    assert any("PersonasDataScientist" in k for k in granted) and any("PersonasMlEngineer" in k for k in granted)
    assert any("RolesProcessingRole" in k for k in granted)
    assert not any("RolesInferenceRole" in k for k in granted)
    network = json.dumps(Template.from_stack(stage.network).to_json()["Resources"])
    assert ".experiments" in network


def test_experiment_tracking_without_its_endpoint_is_refused_in_one_line(tmp_path):
    from ml_platform.config import ConfigError, load_environment
    import pytest

    text = (CONFIG_DIR / "prod.yaml").read_text().replace("\n  personas: {}\n",
                                                          "\n  personas: {}\n  experiment_tracking: {}\n", 1)
    (tmp_path / "prod.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_environment(tmp_path / "prod.yaml")
    assert str(caught.value).endswith("prod.yaml: training.experiment_tracking: needs sagemaker_experiments in "
                                      "network.interface_endpoints (pipeline jobs and Studio reach MLflow through it)")
    shutil.rmtree(tmp_path, ignore_errors=True)
