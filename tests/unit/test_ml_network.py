"""MlNetwork: isolated subnets, endpoints, security groups, flow logs, and importing a VPC."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template


from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.training.ml_network import DEFAULT_ENDPOINTS, ENDPOINTS, MlNetwork, NetworkSettings
from ml_platform.stacks.network_stack import NetworkStack

ENV = {"account": "111111111111", "region": "eu-west-1"}


def build(**settings) -> tuple[NetworkStack, dict]:
    app = App()
    alerts = AlertPath(Stack(app, "Alerts", env=ENV), "Alerts")
    stack = NetworkStack(app, "Net", env=ENV, settings=NetworkSettings(**settings), alerts=alerts,
                         allow_data_deletion=False)
    return stack, Template.from_stack(stack).to_json()["Resources"]


def of_type(resources: dict, resource_type: str) -> list[dict]:
    return [r for r in resources.values() if r["Type"] == resource_type]


@pytest.fixture(scope="module")
def default():
    return build()


def test_defaults_two_isolated_subnets_no_internet_route(default):
    _, resources = default
    subnets = of_type(resources, "AWS::EC2::Subnet")
    assert [s["Properties"]["AvailabilityZone"] for s in subnets] == [
        {"Fn::Select": [0, {"Fn::GetAZs": ""}]}, {"Fn::Select": [1, {"Fn::GetAZs": ""}]}]
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)
    assert of_type(resources, "AWS::EC2::InternetGateway") == [] and of_type(resources, "AWS::EC2::NatGateway") == []
    assert of_type(resources, "AWS::EC2::VPC")[0]["Properties"]["CidrBlock"] == "10.0.0.0/16"


def test_endpoints_s3_gateway_and_all_interface_endpoints_with_private_dns(default):
    _, resources = default
    endpoints = of_type(resources, "AWS::EC2::VPCEndpoint")
    gateway = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Gateway"]
    assert len(gateway) == 1 and "s3" in json.dumps(gateway[0]["Properties"]["ServiceName"])
    interface = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"]
    assert len(interface) == len(DEFAULT_ENDPOINTS) == 7
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in interface)


def test_security_groups_jobs_reach_endpoints_over_https_only(default):
    stack, resources = default
    network = stack.network
    job_id = stack.resolve(network.job_security_group.node.default_child.logical_id)
    endpoint_id = stack.resolve(network.endpoint_security_group.node.default_child.logical_id)
    [ingress] = [r["Properties"] for r in of_type(resources, "AWS::EC2::SecurityGroupIngress")
                 if r["Properties"]["GroupId"] == {"Fn::GetAtt": [endpoint_id, "GroupId"]}]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 443, 443)
    assert ingress["SourceSecurityGroupId"] == {"Fn::GetAtt": [job_id, "GroupId"]}
    assert "CidrIp" not in json.dumps(resources[endpoint_id]["Properties"].get("SecurityGroupIngress", []))
    job = resources[job_id]["Properties"]
    assert job["SecurityGroupEgress"] == [{"CidrIp": "0.0.0.0/0", "Description": job["SecurityGroupEgress"][0]["Description"],
                                           "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}]
    self_rules = [r["Properties"] for r in resources.values()
                  if r["Type"] in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
                  and r["Properties"]["GroupId"] == {"Fn::GetAtt": [job_id, "GroupId"]}]
    assert len(self_rules) == 2
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in self_rules} == {("tcp", 0, 65535)}


def test_flow_logs_all_traffic_to_an_encrypted_group_with_a_managed_policy_role(default):
    _, resources = default
    [flow] = of_type(resources, "AWS::EC2::FlowLog")
    assert flow["Properties"]["TrafficType"] == "ALL" and flow["Properties"]["LogDestinationType"] == "cloud-watch-logs"
    [group] = of_type(resources, "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == 365 and "KmsKeyId" in group["Properties"]
    assert of_type(resources, "AWS::IAM::Policy") == []


def test_cheaper_options_fewer_zones_and_endpoints_another_cidr():
    _, resources = build(az_count=1, interface_endpoints=["sagemaker_api", "ecr_docker"], cidr="10.50.0.0/20",
                         flow_log_retention_days=90)
    assert len(of_type(resources, "AWS::EC2::Subnet")) == 1
    interface = [e for e in of_type(resources, "AWS::EC2::VPCEndpoint") if e["Properties"].get("VpcEndpointType") == "Interface"]
    assert len(interface) == 2
    assert of_type(resources, "AWS::EC2::VPC")[0]["Properties"]["CidrBlock"] == "10.50.0.0/20"
    assert of_type(resources, "AWS::Logs::LogGroup")[0]["Properties"]["RetentionInDays"] == 90


def test_existing_vpc_is_imported_without_lookups_and_gets_only_the_job_group():
    stack, resources = build(existing={"vpc_id": "vpc-0123456789abcdef0", "availability_zones": ["eu-west-1a", "eu-west-1b"],
                                       "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]})
    assert {r["Type"] for r in resources.values()} == {"AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"}
    assert [s.subnet_id for s in stack.network.vpc.isolated_subnets] == ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    assert stack.availability_zones == ["eu-west-1a", "eu-west-1b"]


@pytest.mark.parametrize(("settings", "message"), [
    ({"az_count": 0}, "greater than or equal to 1"),
    ({"cidr": "10.0.0.0/8"}, "is not an IPv4 CIDR block from /16 to /24"),
    ({"cidr": "300.0.0.0/16"}, "is not an IPv4 CIDR block"),
    ({"interface_endpoints": ["sagemaker_api", "sagemaker_api"]}, "interface_endpoints name sagemaker_api more than once"),
    ({"interface_endpoints": ["glue"]}, "'sagemaker_api'"),
    ({"flow_log_retention_days": 100}, "30, 90, 180, 365"),
    ({"existing": {"vpc_id": "vpc-1", "availability_zones": ["eu-west-1a"], "subnet_ids": ["subnet-0123456789abcdef0"]}}, "should match pattern"),
    ({"existing": {"vpc_id": "vpc-0123456789abcdef0", "availability_zones": ["eu-west-1a"], "subnet_ids": []}}, "at least 1 item"),
    ({"existing": {"vpc_id": "vpc-0123456789abcdef0", "availability_zones": ["west"], "subnet_ids": ["subnet-0123456789abcdef0"]}}, "is not an availability zone name"),
    ({"existing": {"vpc_id": "vpc-0123456789abcdef0", "availability_zones": ["eu-west-1a", "eu-west-1b"], "subnet_ids": ["subnet-0123456789abcdef0"]}}, "1 subnet_ids for 2 availability_zones"),
])
def test_network_settings_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        NetworkSettings(**settings)


def test_endpoint_names_cover_what_sagemaker_jobs_need():
    assert set(DEFAULT_ENDPOINTS) == {"sagemaker_api", "sagemaker_runtime", "sts", "logs", "monitoring", "ecr_api",
                                      "ecr_docker"}
    # MLflow's and Feature Store's endpoints only where a tracking server or a pipeline-fed feature
    # set is configured (each bills per zone-hour)
    assert set(ENDPOINTS) - set(DEFAULT_ENDPOINTS) == {"sagemaker_experiments", "featurestore_runtime"}
    assert ENDPOINTS["featurestore_runtime"].short_name == "sagemaker.featurestore-runtime"  # PutRecord


def test_network_construct_works_in_any_stack_with_a_given_key():
    from aws_cdk import aws_kms as kms

    stack = Stack(App(), "Any", env=ENV)
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    MlNetwork(stack, "Net", settings=NetworkSettings(az_count=1, interface_endpoints=[]), logs_key=key)
    resources = Template.from_stack(stack).to_json()["Resources"]
    assert len(of_type(resources, "AWS::KMS::Key")) == 1
