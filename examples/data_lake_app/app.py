#!/usr/bin/env python3
"""An ML team's own CDK app that uses the platform's constructs from the installed package.

Install the library (``pip install sagemaker-ml-platform-cdk`` or a wheel built from this
repository), then ``cdk synth``. The training role may read one raw dataset and write its
processed output only.
"""

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam

from ml_platform.constructs import DataLake, LifecyclePolicy, Transition, Zone, dataset_prefix

app = App()
stack = Stack(
    app, "ChurnLake", env=Environment(account="111111111111", region="eu-west-1")
)
lake = DataLake(
    stack,
    "Lake",
    lifecycle=LifecyclePolicy(
        transitions=(Transition(storage_class="INTELLIGENT_TIERING", days=0),),
        noncurrent_version_expiration_days=30,
    ),
)
# pyright (not mypy) flags every aws-cdk-lib principal passed as an IPrincipal: the generated
# Python names a parameter "_statement" where the interface says "statement" (aws/aws-cdk#31454).
training_role = iam.Role(
    stack,
    "TrainingRole",
    assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),  # pyright: ignore[reportArgumentType]
)
lake.grant_read(training_role, Zone.RAW, dataset_prefix("churn"))
lake.grant_write(training_role, Zone.PROCESSED, dataset_prefix("churn"))
app.synth()
