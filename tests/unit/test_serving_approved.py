"""``version: approved``: settings accept it, and the Serving stack serves the package ARN that the
Training stack's promotion writes, read by CloudFormation from SSM at every deploy."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.core.validation import SettingsError
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.serving.serving_settings import APPROVED, ServedModel, ServingSettings
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.promotion import PromotionTarget, approved_package_parameter
from ml_platform.constructs.training.training_settings import TrainingSettings
from ml_platform.stacks.serving_stack import ServingStack
from ml_platform.stacks.training_stack import TrainingStack

ENV = {"account": "111111111111", "region": "eu-west-1"}
PARAMETER = approved_package_parameter("t", "dev", "churn")
SSM_TYPE = "AWS::SSM::Parameter::Value<String>"
ENDPOINT = {"model": "churn", "instance_type": "ml.m5.large"}


def build(endpoint: dict, *, promotion: PromotionTarget | None = PromotionTarget("t", "dev")) -> Stack:
    app = App()
    base = Stack(app, "Base", env=ENV)
    alerts = AlertPath(base, "Alerts")
    lake = DataLake(base, "Lake")
    network = MlNetwork(base, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    parts = {"name_prefix": "t-dev", "lake": lake, "network": network, "alerts": alerts,
             "allow_data_deletion": False, "env": ENV}
    training = TrainingStack(app, "Training", settings=TrainingSettings(models=["churn"], roles={"inference": {}}),
                             promotion=promotion, **parts)
    return ServingStack(app, "Serving", settings=ServingSettings.model_validate({"endpoints": {"churn": endpoint}}),
                        training=training, **parts)


def ssm_parameters(template: Template) -> dict[str, dict]:
    """The SSM-typed stack parameters besides the bootstrap version every stack has."""
    return {k: p for k, p in template.to_json().get("Parameters", {}).items()
            if p["Type"] == SSM_TYPE and k != "BootstrapVersion"}


def package_names(template: Template) -> list:
    return [c["ModelPackageName"] for m in template.find_resources("AWS::SageMaker::Model").values()
            for c in m["Properties"]["Containers"]]


@pytest.fixture(scope="module")
def approved() -> Template:
    return Template.from_stack(build({**ENDPOINT, "version": APPROVED, "challengers": {
        "pinned": {"weight": 1, "instance_type": "ml.m5.large", "version": 2},
        "latest": {"weight": 1, "instance_type": "ml.m5.large", "version": APPROVED}}}))


def test_the_served_package_is_the_ssm_parameter_cloudformation_reads_at_deploy(approved):
    (name, parameter), = ssm_parameters(approved).items()
    assert parameter["Default"] == PARAMETER
    names = package_names(approved)
    assert names.count({"Ref": name}) == 2  # the first variant and the challenger serving approved


def test_a_pinned_version_still_names_its_package(approved):
    pinned = [n for n in package_names(approved) if "Ref" not in n]
    assert pinned == [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                         ":sagemaker:eu-west-1:111111111111:model-package/t-dev-churn/2"]]}]


def test_without_the_promotion_approved_is_an_error_in_one_line():
    with pytest.raises(ValueError, match="^TrainingStack Training: version 'approved' of model 'churn' needs its "
                                         "promotion; give TrainingStack promotion=") as error:
        build({**ENDPOINT, "version": APPROVED}, promotion=None)
    assert "\n" not in str(error.value)


def test_settings_accept_approved_and_numbers():
    assert ServedModel(**ENDPOINT, version=APPROVED).version == APPROVED
    assert ServedModel(**ENDPOINT, version=3).version == 3


@pytest.mark.parametrize("version", ["latest", "Approved", 1.5, True])
def test_other_versions_fail_in_one_line(version):
    with pytest.raises(SettingsError) as error:
        ServedModel(**ENDPOINT, version=version)
    assert str(error.value) == (f"ServedModel: version: give a registry version number (1 or more) or 'approved' "
                                f"(got {version!r})")


def test_a_version_below_one_fails_in_one_line():
    with pytest.raises(SettingsError) as error:
        ServedModel(**ENDPOINT, version=0)
    assert str(error.value) == "ServedModel: version: input should be greater than or equal to 1 (got 0)"


def test_approved_without_a_model_fails_in_one_line():
    with pytest.raises(SettingsError, match=r"^ServedModel: \(top level\): give model, the registry model whose "
                                            "version is served$") as error:
        ServedModel(instance_type="ml.m5.large", version=APPROVED)
    assert "\n" not in str(error.value)
