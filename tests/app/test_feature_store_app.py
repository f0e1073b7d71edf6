"""training.feature_store and training.experiment_tracking across the Training stacks: the groups and
the server live in the first stack; a pipeline of any stack ingests into its set's group and logs to
the server, and the processing role may put records into exactly the groups pipelines feed."""

from __future__ import annotations

import json
import sys

import pytest
from aws_cdk import Stack

from ml_platform.platform_app import build_app
from ml_platform.stacks.partition import GROUP_SIZES
from tests.conftest import CDK_CONTEXT, ROOT, stack_templates

sys.path.insert(0, str(ROOT / "tools"))
from scale_config import scale_config  # noqa: E402

#: churn (first stack) and m<N> (TrainingPipelines2) feed a set each; m01 feeds none.
N = GROUP_SIZES["pipelines"]
LATE = f"m{N:02d}"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feature-store")
    config = scale_config("scale", datasets=2, databrew=1, models=N + 2, endpoints=1, monitored=1)
    config["training"]["feature_store"] = {"feature_sets": {
        "churn": {"pipeline": "churn"}, "late": {"pipeline": LATE, "online": {"ttl_hours": 24}},
        "external": {"record_identifier": "id", "features": [{"name": "id", "type": "String"}]}}}
    config["training"]["experiment_tracking"] = {}
    config["network"]["interface_endpoints"] = ["sagemaker_api", "sagemaker_runtime", "sts", "logs", "monitoring",
                                                "ecr_api", "ecr_docker", "sagemaker_experiments",
                                                "featurestore_runtime"]
    (tmp / "config").mkdir()
    (tmp / "config" / "scale.yaml").write_text(json.dumps(config))
    app = build_app(tmp / "config", outdir=str(tmp / "out"), context=CDK_CONTEXT)
    app.synth()  # with the platform's nag packs: any unacknowledged finding raises
    templates = {n: json.loads(p.read_text()) for n, p in stack_templates(tmp / "out")["scale"].items()}
    return app.node.find_child("scale"), templates


def _definition(stage, model: str) -> dict:
    pipeline = stage.pipelines[model]
    return Stack.of(pipeline).resolve(pipeline.definition)


def _processing_statements(templates) -> list[dict]:
    resources = templates["mlp-scale-Training"]["Resources"]
    return [s for k, r in resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy" and "RolesProcessingRole" in k
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def test_the_groups_and_the_server_are_in_the_first_stack(synthesized):
    stage, templates = synthesized
    training = templates["mlp-scale-Training"]["Resources"]
    groups = {r["Properties"]["FeatureGroupName"]: r["Properties"] for r in training.values()
              if r["Type"] == "AWS::SageMaker::FeatureGroup"}
    assert sorted(groups) == ["mlp-scale-churn", "mlp-scale-external", "mlp-scale-late"]
    # the DataCatalog stack's curated database
    assert "CuratedDatabase" in json.dumps(groups["mlp-scale-churn"]["OfflineStoreConfig"]["DataCatalogConfig"]["Database"])
    assert "OnlineStoreConfig" not in groups["mlp-scale-churn"] and "OnlineStoreConfig" in groups["mlp-scale-late"]
    assert not any(r["Type"] in ("AWS::SageMaker::FeatureGroup", "AWS::SageMaker::MlflowTrackingServer")
                   for r in templates["mlp-scale-TrainingPipelines2"]["Resources"].values())
    second = stage.training_stacks[1]
    assert second.feature_store is stage.training.feature_store
    assert second.experiment_tracking is stage.training.experiment_tracking
    network = json.dumps(templates["mlp-scale-Network"]["Resources"])
    assert "sagemaker.featurestore-runtime" in network


def test_each_feeding_pipeline_ingests_into_its_group_in_whichever_stack(synthesized):
    stage, _ = synthesized
    assert Stack.of(stage.pipelines[LATE]) is stage.training_stacks[1]
    for model, group in (("churn", "mlp-scale-churn"), (LATE, "mlp-scale-late")):
        steps = {s["Name"]: s for s in _definition(stage, model)["Steps"]}
        arguments = steps["Ingest"]["Arguments"]["AppSpecification"]["ContainerArguments"]
        assert arguments[:2] == ["--feature-group", group]
    assert "Ingest" not in {s["Name"] for s in _definition(stage, "m01")["Steps"]}


def test_the_processing_role_may_put_records_into_exactly_the_fed_groups(synthesized):
    _, templates = synthesized
    statements = [s for s in _processing_statements(templates) if "sagemaker:PutRecord" in s["Action"]]
    resources = sorted(json.dumps(s["Resource"]) for s in statements)
    assert len(resources) == 2
    assert "feature-group/mlp-scale-churn" in resources[0] and "feature-group/mlp-scale-late" in resources[1]
    assert not any("mlp-scale-external" in json.dumps(s) for s in _processing_statements(templates))
    # the online store of 'late' is encrypted with the lake key: data-plane writes decrypt with it
    late = [s for s in statements if "mlp-scale-late" in json.dumps(s["Resource"])]
    assert late and any("kms:Decrypt" in json.dumps(s["Action"]) for s in _processing_statements(templates))


def test_every_pipeline_logs_to_the_servers_arn(synthesized):
    stage, templates = synthesized
    server = stage.training.experiment_tracking
    for model in ("churn", "m01", LATE):
        pipeline = stage.pipelines[model]
        [track] = [s for s in _definition(stage, model)["Steps"] if s["Name"] == "Track"]
        arguments = track["Arguments"]["AppSpecification"]["ContainerArguments"]
        assert arguments[3] == model and arguments[5] == {"Get": "Execution.PipelineExecutionId"}
        assert "--best-effort" in arguments
        # the server's attribute: a local reference in the first stack, an import in the second
        reference = json.dumps(arguments[1])
        assert arguments[1] == Stack.of(pipeline).resolve(server.server_arn) or (
            "TrackingServerArn" in reference and Stack.of(pipeline) is not stage.training), reference
    logging = [s for s in _processing_statements(templates) if "sagemaker-mlflow:CreateRun" in s["Action"]]
    assert [s["Resource"] for s in logging] == [{"Fn::GetAtt": [
        stage.training.resolve(server.server.logical_id), "TrackingServerArn"]}]
