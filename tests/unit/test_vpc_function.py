"""VpcFunction: its own role may do what Lambda needs to run it in the VPC and log, narrowed."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.core.vpc_function import VpcFunction
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings

ENV = {"account": "111111111111", "region": "eu-west-1"}
#: The AWS managed policy AWSLambdaVPCAccessExecutionRole, v3 (AWS Managed Policy Reference), which
#: aws-cdk-lib attaches only to a role it creates itself.
MANAGED_VPC_ACCESS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                      "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                      "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}


@pytest.fixture(scope="module")
def built():
    stack = Stack(App(), "S", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings())
    key = kms.Key(stack, "Key")
    allow_cloudwatch_logs(key)
    function = VpcFunction(stack, "Fn", name="labeling_pre_annotation", description="test", network=network,
                           key=key, no_dlq_reason="test")
    resources = Template.from_stack(stack).to_json()["Resources"]
    return stack, function, resources


def _document(stack, function, resources) -> dict:
    [policy] = function.role.policies
    return resources[stack.resolve(policy.node.default_child.logical_id)]["Properties"]["PolicyDocument"]


def test_the_role_has_what_lambda_needs_of_the_managed_vpc_policy_but_creating_log_groups(built):
    stack, function, resources = built
    document = _document(stack, function, resources)
    actions = {a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == MANAGED_VPC_ACCESS - {"logs:CreateLogGroup"}  # the group is created by the stack
    role = resources[stack.resolve(function.role.node.default_child.logical_id)]
    assert "ManagedPolicyArns" not in role["Properties"]  # aws-cdk-lib attaches nothing to a given role


def test_the_role_is_narrowed_to_its_log_group_and_the_platforms_subnets_and_vpc(built):
    stack, function, resources = built
    statements = _document(stack, function, resources)["Statement"]
    logs = next(s for s in statements if "logs:PutLogEvents" in s["Action"])
    assert logs["Resource"] == {"Fn::GetAtt": [stack.resolve(function.function.log_group.node.default_child.logical_id),
                                               "Arn"]}
    create = next(s for s in statements if s["Action"] == "ec2:CreateNetworkInterface")
    text = json.dumps(create["Resource"])
    assert "subnet/" in text and "security-group/" in text and "network-interface/*" in text
    manage = next(s for s in statements if "ec2:DeleteNetworkInterface" in s["Action"])
    assert set(manage["Condition"]["ArnEquals"]) == {"ec2:Vpc"} and "network-interface/*" in json.dumps(manage["Resource"])
    describe = next(s for s in statements if "ec2:DescribeSubnets" in s["Action"])
    assert describe["Resource"] == "*"
