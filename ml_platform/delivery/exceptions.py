"""Why the resources CDK Pipelines generates pass review: each exception on its one resource.

aws-cdk-lib's pipeline grants its roles wildcard actions (``s3:GetObject*``, ``kms:GenerateDataKey*``)
and a few wildcard resources. Each wildcard that one of :data:`WILDCARD_REASONS` explains is
acknowledged on the policy that holds it, by its exact finding id (read from the resolved policy
when the app is validated, since the ids carry logical IDs); any other wildcard stays a finding.
"""

from __future__ import annotations

import re
from typing import Any

import jsii
from aws_cdk import CfnResource, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct, IValidation

from ml_platform.constructs.core.compliance import (
    acknowledge,
    acknowledge_compliance_rule,
    flatten_cfn_reference,
    ignore_cfn_lint,
    skip_checkov,
)

_ARTIFACTS = ("the pipeline's artifact bucket (aws-cdk-lib's read or read/write grant to the pipeline's "
              "roles); the resource is that bucket and its objects")
#: ``(policy path pattern, finding pattern, reason)``: each wildcard of CDK Pipelines' generated roles
#: that the platform accepts. A finding is ``Action::<action>`` or ``Resource::<flattened resource>``.
WILDCARD_REASONS: tuple[tuple[str, str, str], ...] = (
    (r".*", r"Action::s3:(Abort|DeleteObject|GetBucket|GetObject|List)\*", f"Object and bucket actions on {_ARTIFACTS}."),
    (r".*", r"Resource::<PipelineArtifactsBucket[0-9A-F]{8}\.Arn>/\*", f"The objects of {_ARTIFACTS}."),
    (r".*", r"Action::kms:(GenerateDataKey|ReEncrypt)\*",
     "Data keys and re-encryption with the pipeline's artifact key (and the replication keys of other "
     "regions), the only keys the statement names."),
    (r".*", r"Resource::arn:aws[a-z-]*:s3:::[a-z0-9-]+-support-[a-z0-9.-]+/\*",
     "The objects of CDK Pipelines' artifact replication bucket in another region (cross-region support stack)."),
    (r".*", r"Resource::arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:/aws/codebuild/.*",
     "CodeBuild's default grant to write the log streams of its own project's log group."),
    (r".*", r"Resource::arn:aws[a-z-]*:codebuild:[a-z0-9-]+:\d{12}:report-group/.*",
     "CodeBuild's default grant to write test reports of its own project's report groups."),
    (r".*/UpdatePipeline/SelfMutation/Role/.*", r"Resource::arn:\*:iam::\d{12}:role/\*",
     "Self-mutation assumes the CDK bootstrap roles (deploy, file- and image-publishing) of the tooling "
     "account; the statement allows only roles tagged aws-cdk:bootstrap-role with those values."),
    (r".*/UpdatePipeline/SelfMutation/Role/.*", r"Resource::\*",
     "cloudformation:DescribeStacks and s3:ListBucket, read-only calls the CDK CLI makes before deploying "
     "the pipeline stack; the stacks and bootstrap bucket are found at run time."),
    (r".*/Pipeline/Pipeline/Role/.*", r"Resource::\*",
     "The artifact keys of other regions' support stacks are named by alias at deploy time; the "
     "statement allows only KMS data-key actions."),
    (r".*/Assets/File(Role|Asset\d+)/.*", r"Resource::\*",
     "codebuild:StartBuild/BatchGetBuilds/StopBuild on the asset-publishing projects CDK Pipelines creates "
     "per asset, whose names are not known to the role's policy."),
)

#: Generated policies (path under the CodePipeline construct) with a write action on ``*``, and why.
_UNCONSTRAINED_WRITES = {
    ("Pipeline", "Role", "DefaultPolicy", "Resource"):
        "kms:Encrypt/ReEncrypt*/GenerateDataKey* on the artifact keys of other regions' support stacks, "
        "named by alias at deploy time (aws-cdk-lib); only KMS data-key actions.",
    ("Assets", "FileRole", "DefaultPolicy", "Resource"):
        "codebuild:StartBuild/StopBuild on the asset-publishing projects CDK Pipelines creates per asset "
        "(aws-cdk-lib's grant); the role can do nothing else of write.",
}
_NO_INLINE = ("aws-cdk-lib's CDK Pipelines writes each generated role's grants as that role's inline default "
              "policy; the statements are reviewed in WILDCARD_REASONS and the template.")
_PIPELINE_SOURCE = ("The project's source is CODEPIPELINE: the pipeline hands it the artifacts; it has no "
                    "repository URL and holds no credentials (the repository is reached by a CodeConnections "
                    "connection or S3).")


def explain_generated_resources(stack: Stack, pipeline: pipelines.CodePipeline) -> None:
    """Acknowledge the generated resources' findings of ``pipeline`` (after ``build_pipeline()``)."""
    cfn_pipeline = pipeline.pipeline.node.default_child
    assert isinstance(cfn_pipeline, CfnResource)
    ignore_cfn_lint(cfn_pipeline, "E3703", "aws-cdk-lib builds each deploy action's RoleArn (the CDK bootstrap "
                    "deploy role of the environment's account) with Fn::Join; the value is correct, only its form differs.")
    ignore_cfn_lint(cfn_pipeline, "W3005", "aws-cdk-lib declares DependsOn the pipeline role besides referencing it; "
                    "the redundant dependency is harmless and not ours to change.")
    for path, reason in _UNCONSTRAINED_WRITES.items():
        policy = pipeline.node.try_find_child(path[0])
        for part in path[1:]:
            policy = policy.node.try_find_child(part) if policy is not None else None
        if isinstance(policy, CfnResource):
            skip_checkov(policy, "CKV_AWS_111", reason)
    validation = _WildcardReasons(pipeline)
    pipeline.node.add_validation(validation)
    for construct in pipeline.node.find_all():
        if isinstance(construct, codebuild.CfnProject):
            acknowledge_compliance_rule(construct, "CodeBuildProjectSourceRepoUrl", _PIPELINE_SOURCE)
    for region_support in pipeline.pipeline.cross_region_support.values():
        bucket = region_support.replication_bucket.node.default_child
        assert isinstance(bucket, s3.CfnBucket)
        for rule in ("S3BucketLoggingEnabled", "S3BucketVersioningEnabled", "S3BucketReplicationEnabled"):
            acknowledge_compliance_rule(
                bucket, rule, "CDK Pipelines' artifact replica bucket of another region: it holds copies of the "
                "artifacts of one execution, which stay versioned and access-logged in the primary artifact bucket.")
        acknowledge(bucket, ["AwsSolutions-S1"], "Replica of the primary artifact bucket, which has access logs.")
        skip_checkov(bucket, "CKV_AWS_18", "Replica of the primary artifact bucket, which has access logs.")
        skip_checkov(bucket, "CKV_AWS_21", "Replica of one execution's artifacts; the primary artifact bucket is versioned.")


@jsii.implements(IValidation)
class _WildcardReasons:
    """At validation time, acknowledge each wildcard finding of the generated policies that
    :data:`WILDCARD_REASONS` explains, and the inline-policy rule on each of them."""

    def __init__(self, scope: Construct) -> None:
        self.scope = scope

    def validate(self) -> list[str]:
        for policy in self.scope.node.find_all():
            if isinstance(policy, iam.CfnPolicy):
                _explain_policy(policy)
        return []


def _explain_policy(policy: iam.CfnPolicy) -> None:
    acknowledge_compliance_rule(policy, "IAMNoInlinePolicy", _NO_INLINE)
    document = Stack.of(policy).resolve(policy.policy_document) or {}
    findings: set[str] = set()
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        findings |= {f"Action::{a}" for a in _as_list(statement.get("Action")) if "*" in a}
        findings |= {f"Resource::{flat}" for r in _as_list(statement.get("Resource"))
                     if "*" in (flat := flatten_cfn_reference(r))}
    path = policy.node.path
    for finding in sorted(findings):
        reason = next((why for where, what, why in WILDCARD_REASONS
                       if re.fullmatch(where, path) and re.fullmatch(what, finding)), None)
        if reason is not None:
            acknowledge(policy, [f"AwsSolutions-IAM5[{finding}]"], reason)


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def explain_access_log_bucket(bucket: IConstruct) -> None:
    """The artifact bucket's access-log bucket: SSE-S3 (required by S3 server access logging), no replica."""
    cfn = bucket.node.default_child
    assert isinstance(cfn, CfnResource)
    acknowledge_compliance_rule(cfn, "S3DefaultEncryptionKMS",
                                "S3 server access logging cannot deliver to a bucket whose default encryption is "
                                "SSE-KMS; this bucket uses SSE-S3, blocks public access and requires TLS.")
    skip_checkov(cfn, "CKV_AWS_18", "This is the access-log bucket of the artifact bucket; logging it into itself would loop.")
    explain_no_replica(cfn)


def explain_no_replica(bucket: CfnResource) -> None:
    acknowledge_compliance_rule(bucket, "S3BucketReplicationEnabled",
                                "Pipeline artifacts are rebuilt from the repository by any execution; recovery "
                                "within the region relies on versioning and RETAIN, and a cross-region replica "
                                "would need a replica region and key chosen per organization.")
