"""``report.md`` of one environment: a one-minute security review of its synthesized templates.

Sections, in order: a summary line; what each stack creates (resource counts by type, grouped by
lifecycle stage); every IAM role (who may assume it, what it may do); network paths; encryption
keys; exceptions recorded in resource metadata. Pure Python over the parsed templates, deterministic
(everything sorted, no timestamps), and free of CloudFormation tokens: references are shown as the
names of the resources they point to, across stacks.
"""

from __future__ import annotations

from collections import Counter

from tools.review.report_exceptions import collect, counts, render_exceptions
from tools.review.report_iam import analyze_roles, render_roles
from tools.review.report_keys import render_keys
from tools.review.report_md import table, text
from tools.review.report_network import public_items, render_network
from tools.review.report_refs import Model
from tools.review.stages import STAGES, stack_stage

#: Stage of a resource type regardless of its stack (exact type, or type prefix ending in ``::``).
TYPE_STAGES = {
    "AWS::S3::": "lake", "AWS::Glue::": "catalog/preparation", "AWS::DataBrew::": "catalog/preparation",
    "AWS::Athena::": "catalog/preparation", "Custom::DataBrewRecipeVersion": "catalog/preparation",
    "AWS::ECR::": "training", "AWS::SageMaker::Pipeline": "training", "AWS::SageMaker::ModelPackageGroup": "training",
    "AWS::SageMaker::Model": "serving", "AWS::SageMaker::EndpointConfig": "serving",
    "AWS::SageMaker::Endpoint": "serving", "AWS::ApplicationAutoScaling::": "serving",
    "AWS::SageMaker::MonitoringSchedule": "monitoring", "AWS::SageMaker::DataQualityJobDefinition": "monitoring",
    "AWS::SageMaker::ModelQualityJobDefinition": "monitoring", "AWS::SageMaker::ModelBiasJobDefinition": "monitoring",
    "AWS::SageMaker::ModelExplainabilityJobDefinition": "monitoring", "Custom::MonitoringBaselines": "monitoring",
    "AWS::SageMaker::Workforce": "labeling", "AWS::SageMaker::Workteam": "labeling", "AWS::Cognito::": "labeling",
    "AWS::EC2::": "network", "AWS::SNS::": "alerting", "AWS::CloudWatch::Alarm": "alerting",
}


def resource_stage(resource_type: str, stack_short_name: str) -> str:
    """The stage of a resource: by its type where the type says it, else by its stack."""
    if resource_type in TYPE_STAGES:
        return TYPE_STAGES[resource_type]
    prefix = resource_type.rsplit("::", 1)[0] + "::"
    return TYPE_STAGES.get(prefix, stack_stage(stack_short_name))


def report_counts(templates: dict[str, dict]) -> dict[str, object]:
    """Numbers the report states: stacks, resources, roles, keys, exceptions (total and per gate)."""
    model = Model(templates)
    acks = collect(model)
    return {
        "stacks": len(model.stacks),
        "resources": sum(len(model.resources(s)) for s in model.stacks),
        "roles": len(model.of_type("AWS::IAM::Role")),
        "keys": len(model.of_type("AWS::KMS::Key")),
        "exceptions": len(acks),
        "exceptions_by_gate": counts(acks),
    }


def _stacks_section(model: Model) -> list[str]:
    lines = ["## What each stack creates", ""]
    order = sorted(model.stacks, key=lambda s: (STAGES.index(stack_stage(model.short[s])), model.short[s]))
    for stack in order:
        short = model.short[stack]
        by_type = Counter(str(r.get("Type", "")) for r in model.resources(stack).values())
        rows = sorted(([resource_stage(t, short), t.removeprefix("AWS::"), str(n)] for t, n in by_type.items()),
                      key=lambda r: (STAGES.index(r[0]), r[1]))
        description = model.text(stack, model.templates[stack].get("Description", ""))
        lines += [f"### {short} ({stack_stage(short)}): {sum(by_type.values())} resources", ""]
        lines += ([text(description), ""] if description else [])
        lines += table(["Stage", "Resource type", "Count"], rows) + [""]
    return lines


def render_report(env: str, templates: dict[str, dict]) -> str:
    """The markdown review report of environment ``env`` from its templates {stack name: template}."""
    model = Model(templates, env)
    acks = collect(model)
    numbers = report_counts(templates)
    roles = analyze_roles(model)
    by_gate = ", ".join(f"{gate} {n}" for gate, n in counts(acks).items())
    public = public_items(model)
    lines = [
        f"# Security review: {env}", "",
        f"**{env}**: {numbers['stacks']} stacks, {numbers['resources']} resources, {numbers['roles']} IAM roles, "
        f"{numbers['keys']} KMS keys, {numbers['exceptions']} exceptions" + (f" ({by_gate})" if by_gate else "")
        + ".", "",
        "Public exposure: " + (f"{len(public)} item(s), see [Network paths](#network-paths)." if public
                               else "nothing public (see [Network paths](#network-paths))."), "",
        f"Account {model.account or 'unknown'}, region {model.region or 'unknown'}. Resources are named by "
        "logical ID without the CDK hash; stacks without the prefix and environment.", "",
    ]
    lines += _stacks_section(model)
    lines += render_roles(model, roles)
    lines += render_network(model)
    lines += render_keys(model, roles)
    lines += render_exceptions(model, acks)
    return "\n".join(lines).rstrip("\n") + "\n"
