"""Templates of one environment as a model that resolves CloudFormation references to human names.

Resources are named by their logical ID without CDK's 8-hex-digit hash suffix, stacks by their name
without ``<prefix>-<env>-``. ``Fn::GetStackOutput`` is followed to the producer's output and from
there to the producer's resource, so a reader sees the producer's name (e.g. ``lake raw zone``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tools.review.report_md import code

_HASH = re.compile(r"^(.+?)[0-9A-F]{8}$")
_ARN = re.compile(r"arn:(aws[a-z-]*):([a-z0-9-]*):([a-z0-9-]*):(\d{12}|aws)?:")
#: Resource types whose reference to another resource is an IAM grant, not a use.
POLICY_TYPES = frozenset({"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"})
#: Nouns for resource types, used in human names (``role RolesInferenceRole``).
TYPE_NOUNS = {
    "AWS::IAM::Role": "role", "AWS::IAM::ManagedPolicy": "managed policy", "AWS::IAM::Policy": "policy",
    "AWS::KMS::Key": "key", "AWS::ECR::Repository": "repository", "AWS::Logs::LogGroup": "log group",
    "AWS::EC2::SecurityGroup": "security group", "AWS::EC2::Subnet": "subnet", "AWS::EC2::VPC": "VPC",
    "AWS::Lambda::Function": "function", "AWS::SNS::Topic": "topic", "AWS::SQS::Queue": "queue",
    "AWS::S3::Bucket": "bucket", "AWS::Glue::Database": "Glue database", "AWS::Glue::Job": "Glue job",
    "AWS::Glue::Crawler": "crawler", "AWS::Events::Rule": "event rule", "AWS::SageMaker::Pipeline": "pipeline",
    "AWS::SageMaker::ModelPackageGroup": "model package group", "AWS::SageMaker::Endpoint": "endpoint",
    "AWS::SageMaker::Model": "model", "AWS::SecretsManager::Secret": "secret",
    "AWS::SageMaker::Workteam": "work team", "AWS::Cognito::UserPool": "user pool",
    "AWS::EC2::VPCEndpoint": "VPC endpoint", "AWS::EC2::FlowLog": "flow log",
}
#: Properties that hold a literal physical name, per type: (property path, used for ``Ref``).
NAME_PROPERTIES = {
    "AWS::ECR::Repository": ("RepositoryName",), "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::Glue::Database": ("DatabaseInput", "Name"), "AWS::S3::Bucket": ("BucketName",),
    "AWS::IAM::Role": ("RoleName",), "AWS::Lambda::Function": ("FunctionName",),
    "AWS::SageMaker::ModelPackageGroup": ("ModelPackageGroupName",), "AWS::SageMaker::Endpoint": ("EndpointName",),
    "AWS::SageMaker::Pipeline": ("PipelineName",), "AWS::Glue::Job": ("Name",), "AWS::Glue::Crawler": ("Name",),
    "AWS::SageMaker::Workteam": ("WorkteamName",), "AWS::Events::Rule": ("Name",),
}
#: ``Ref`` returns the name (not an ARN or id) for these types, so a literal name may stand in for it.
REF_IS_NAME = frozenset({"AWS::ECR::Repository", "AWS::Logs::LogGroup", "AWS::Glue::Database",
                         "AWS::S3::Bucket", "AWS::IAM::Role", "AWS::Lambda::Function", "AWS::Glue::Job",
                         "AWS::Glue::Crawler", "AWS::SageMaker::Pipeline"})


def strip_hash(logical_id: str) -> str:
    """``logical_id`` without CDK's 8-hex-digit hash suffix (``LakeRawBucketA1B2C3D4`` -> ``LakeRawBucket``)."""
    match = _HASH.match(logical_id)
    return match.group(1) if match else logical_id


def camel_words(name: str) -> str:
    """``AccessLogs`` -> ``access logs``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name).lower()


@dataclass(frozen=True, order=True)
class Target:
    """A reference to resource ``logical`` of stack ``stack`` (a key of the templates); ``attr`` None = Ref."""

    stack: str
    logical: str
    attr: str | None = None


Segment = str | Target


class Model:
    """The templates of one environment, with name resolution across stacks."""

    def __init__(self, templates: dict[str, dict], env: str | None = None) -> None:
        self.templates = templates
        self.env = env
        self.stacks = sorted(templates)
        self.short = {s: self._short(s) for s in self.stacks}
        self.account, self.region = self._account_region()

    # ----- stacks and resources -------------------------------------------------------------
    def _short(self, stack: str) -> str:
        if self.env and f"-{self.env}-" in stack:
            return stack.split(f"-{self.env}-", 1)[1]
        parts = stack.split("-", 2)
        return parts[2] if len(parts) == 3 else stack

    def resources(self, stack: str) -> dict[str, dict]:
        return self.templates[stack].get("Resources") or {}

    def resource(self, target: Target) -> dict:
        return self.resources(target.stack).get(target.logical) or {}

    def type_of(self, target: Target) -> str:
        return str(self.resource(target).get("Type", ""))

    def all_resources(self) -> Iterator[tuple[str, str, dict]]:
        """(stack, logical ID, resource) for every resource, stacks and IDs sorted."""
        for stack in self.stacks:
            for logical in sorted(self.resources(stack)):
                yield stack, logical, self.resources(stack)[logical]

    def of_type(self, *types: str) -> list[Target]:
        return [Target(s, lid) for s, lid, r in self.all_resources() if r.get("Type") in types]

    def find_stack(self, name: Any) -> str | None:
        """The templates key of the stack called ``name`` (full or short name)."""
        if not isinstance(name, str):
            return None
        if name in self.templates:
            return name
        short = self._short(name)
        return next((s for s in self.stacks if self.short[s] == short), None)

    def _account_region(self) -> tuple[str, str]:
        accounts: Counter[str] = Counter()
        regions: Counter[str] = Counter()
        for text in self._strings(self.templates):
            if re.fullmatch(r"\d{12}", text):
                accounts[text] += 1
            for match in _ARN.finditer(text):
                if match.group(4) and match.group(4) != "aws":
                    accounts[match.group(4)] += 1
                if match.group(3):
                    regions[match.group(3)] += 1
        return (min(accounts, key=lambda a: (-accounts[a], a)) if accounts else "",
                min(regions, key=lambda r: (-regions[r], r)) if regions else "")

    def _strings(self, value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from self._strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from self._strings(item)

    # ----- resolution -----------------------------------------------------------------------
    def segments(self, stack: str, value: Any, depth: int = 0) -> list[Segment]:
        """``value`` as literal strings and :class:`Target` references, cross-stack outputs followed."""
        if depth > 20:
            return ["(deeply nested value)"]
        if isinstance(value, bool):
            return ["true" if value else "false"]
        if isinstance(value, (int, float)):
            return [str(value)]
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            out: list[Segment] = []
            for i, item in enumerate(value):
                out += ([", "] if i else []) + self.segments(stack, item, depth + 1)
            return out
        if not isinstance(value, dict):
            return [str(value)]
        if len(value) != 1:
            return [json.dumps(value, sort_keys=True)] if not self._has_intrinsic(value) else ["(object)"]
        key, arg = next(iter(value.items()))
        if key == "Ref":
            return self._ref(stack, arg)
        if key == "Fn::GetAtt":
            logical, _, attr = (arg.partition(".") if isinstance(arg, str) else (arg[0], ".", arg[1]))
            return [Target(stack, logical, attr)] if logical in self.resources(stack) else [f"{logical}.{attr}"]
        if key == "Fn::GetStackOutput":
            return self._stack_output(arg, depth)
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            sep, parts = arg
            parts = parts if isinstance(parts, list) else [parts]
            out = []
            for i, part in enumerate(parts):
                out += ([sep] if i and sep else []) + self.segments(stack, part, depth + 1)
            return out
        if key == "Fn::Sub":
            return self._sub(stack, arg, depth)
        if key == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
            return self._select(stack, arg[0], arg[1], depth)
        if key == "Fn::GetAZs":
            return ["the region's availability zones"]
        if key == "Fn::ImportValue":
            return ["import " + self.text(stack, arg)]
        if key.startswith("Fn::") or key == "Condition":
            return ["(computed value)"]
        return [json.dumps(value, sort_keys=True)] if not self._has_intrinsic(value) else ["(object)"]

    def _has_intrinsic(self, value: Any) -> bool:
        return "Fn::" in json.dumps(value) or '"Ref"' in json.dumps(value)

    def _ref(self, stack: str, name: Any) -> list[Segment]:
        pseudo = {"AWS::Region": self.region or "the region", "AWS::AccountId": self.account or "the account",
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack,
                  "AWS::NoValue": "", "AWS::StackId": f"stack {self.short.get(stack, stack)}"}
        if name in pseudo:
            return [pseudo[name]]
        if name in self.resources(stack):
            return [Target(stack, name)]
        return [f"parameter {name}"]

    def _stack_output(self, arg: Any, depth: int) -> list[Segment]:
        arg = arg if isinstance(arg, dict) else {}
        producer = self.find_stack(arg.get("StackName"))
        output = arg.get("OutputName")
        outputs = (self.templates[producer].get("Outputs") or {}) if producer else {}
        if producer and isinstance(output, str) and output in outputs:
            return self.segments(producer, outputs[output].get("Value"), depth + 1)
        stack_name = arg.get("StackName") if isinstance(arg.get("StackName"), str) else "another stack"
        return [f"output {output} of stack {self._short(stack_name)}"]

    def _sub(self, stack: str, arg: Any, depth: int) -> list[Segment]:
        template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
        out: list[Segment] = []
        pos = 0
        for match in re.finditer(r"\$\{([^}]*)\}", template):
            out.append(template[pos:match.start()])
            name = match.group(1)
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in variables:
                out += self.segments(stack, variables[name], depth + 1)
            elif "." in name:
                out += self.segments(stack, {"Fn::GetAtt": name}, depth + 1)
            else:
                out += self._ref(stack, name)
            pos = match.end()
        out.append(template[pos:])
        return [s for s in out if s != ""]

    def _select(self, stack: str, index: Any, source: Any, depth: int) -> list[Segment]:
        if isinstance(source, dict) and "Fn::GetAZs" in source:
            return [f"availability zone {int(index) + 1}" if str(index).isdigit() else "an availability zone"]
        if isinstance(source, dict) and "Fn::Split" in source:
            return self.segments(stack, source["Fn::Split"][1], depth + 1)  # a part of the named value
        if isinstance(source, list) and str(index).isdigit() and int(index) < len(source):
            return self.segments(stack, source[int(index)], depth + 1)
        return ["(selected value)"]

    # ----- names ----------------------------------------------------------------------------
    def literal_name(self, target: Target) -> str | None:
        """The resource's literal physical name property, if its template sets one."""
        value: Any = self.resource(target).get("Properties") or {}
        for key in NAME_PROPERTIES.get(self.type_of(target), ()):
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, str) and value else None

    def label(self, target: Target) -> str:
        """Stripped logical ID (used for headings and exception rows)."""
        return strip_hash(target.logical)

    def name(self, target: Target, from_stack: str | None = None) -> str:
        """Human name: ``lake raw zone``, ``repository mlp-prod/churn-training``, ``key DataLakeKey``."""
        typ = self.type_of(target)
        label = self.label(target)
        lake = re.match(r"^(.*Lake)(\w+?)Bucket$", label)
        if typ == "AWS::S3::Bucket" and lake:
            zone = camel_words(lake.group(2))
            return f"lake {zone} zone" if " " not in zone else f"lake {zone} bucket"
        if typ == "AWS::KMS::Key":
            alias = self.key_alias(target)
            base = f"key {alias}" if alias else f"key {label}"
        else:
            noun = TYPE_NOUNS.get(typ) or (camel_words(typ.rsplit("::", 1)[-1]) if typ else "resource")
            base = f"{noun} {self.literal_name(target) or label}"
        if target.attr == "DefaultSecurityGroup":
            base = f"default security group of {base}"
        if from_stack is not None and from_stack != target.stack:
            base += f" ({self.short[target.stack]})"
        return base

    def key_alias(self, key: Target) -> str | None:
        """The AliasName of the first (sorted) AWS::KMS::Alias whose TargetKeyId references ``key``."""
        for alias in self.of_type("AWS::KMS::Alias"):
            props = self.resource(alias).get("Properties") or {}
            targets = [s for s in self.segments(alias.stack, props.get("TargetKeyId")) if isinstance(s, Target)]
            if any((t.stack, t.logical) == (key.stack, key.logical) for t in targets):
                name = props.get("AliasName")
                return self.text(alias.stack, name) if name is not None else None
        return None

    def targets(self, stack: str, value: Any) -> list[Target]:
        return [s for s in self.segments(stack, value) if isinstance(s, Target)]

    # ----- rendering ------------------------------------------------------------------------
    def text(self, stack: str, value: Any, short: bool = True) -> str:
        """``value`` as plain text: references become literal names or human names.

        ARNs of this environment's account and region lose their ``arn:...:`` head unless ``short`` is False.
        """
        out = []
        for seg in self.segments(stack, value):
            if isinstance(seg, Target):
                literal = self.literal_name(seg) if seg.attr is None and self.type_of(seg) in REF_IS_NAME else None
                out.append(literal or self.name(seg, stack))
            else:
                out.append(seg)
        return self.short_arns("".join(out)) if short else "".join(out)

    def short_arns(self, text: str) -> str:
        """Drop ``arn:aws:<service>:<region>:<account>:`` where region and account are this environment's."""
        def repl(match: re.Match[str]) -> str:
            region, account = match.group(3), match.group(4) or ""
            if region not in ("", self.region) or account not in ("", self.account):
                return f"account {account}: " if account and account != "aws" else match.group(0)
            return ""
        return _ARN.sub(repl, text)

    def resource_text(self, stack: str, value: Any) -> str:
        """A policy ``Resource`` as markdown: ``lake raw zone: `sales/*` ``, ``key DataLakeKey``, `` `*` ``."""
        segs = [s for s in self.segments(stack, value) if s != ""]
        if len(segs) == 1 and isinstance(segs[0], Target):
            return self.name(segs[0], stack)
        if segs and isinstance(segs[0], Target) and segs[0].attr in (None, "Arn") and all(
                isinstance(s, str) for s in segs[1:]):
            rest = "".join(segs[1:]).lstrip("/")  # type: ignore[arg-type]
            return f"{self.name(segs[0], stack)}{' ' if rest.startswith(':') else ': '}{code(rest)}"
        if (len(segs) == 2 and isinstance(segs[0], str) and isinstance(segs[1], Target)
                and re.fullmatch(r"arn:[^:]*:[^:]*:[^:]*:[^:]*:[\w-]+[/:]", segs[0])):
            return self.name(segs[1], stack)
        rendered = self.text(stack, value)
        return code(rendered) if rendered else code("(empty)")


def _uses_index(model: Model) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """Per referenced resource (stack, logical): (stack, logical, property path) of each non-IAM user."""
    index: dict[tuple[str, str], set[tuple[str, str, str]]] = {}

    def walk(stack: str, logical: str, value: Any, path: list[str]) -> None:
        if isinstance(value, dict):
            if len(value) == 1 and (next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::")):
                shown = path if len(path) <= 2 else [path[0], "…", path[-1]]
                for t in model.targets(stack, value):
                    if (t.stack, t.logical) != (stack, logical):
                        index.setdefault((t.stack, t.logical), set()).add(
                            (stack, logical, ".".join(shown).replace(".….", "…")))
                return
            for key, item in value.items():
                walk(stack, logical, item, path + [key])
        elif isinstance(value, list):
            for item in value:
                walk(stack, logical, item, path)

    for stack, logical, res in model.all_resources():
        if res.get("Type") not in POLICY_TYPES:
            walk(stack, logical, res.get("Properties") or {}, [])
    return {k: sorted(v) for k, v in index.items()}


def uses_of(model: Model, target: Target) -> list[tuple[str, str, str]]:
    """(stack, logical, property path) of every resource outside IAM that references ``target``."""
    cache = model.__dict__.setdefault("_uses", None)
    if cache is None:
        cache = model.__dict__["_uses"] = _uses_index(model)
    return cache.get((target.stack, target.logical), [])
