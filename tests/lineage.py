"""Lineage check over the synthesized templates of an environment: who reads and writes which lake
location, as which role, and whether each read is handed over by a writer and each access granted.

The lifecycle is a chain of hand-offs (docs: DESIGN.md, "The lifecycle is the product"). This
module reads the CloudFormation templates of one environment (``{stack name: template}``) and

1. resolves intrinsic functions to strings (:class:`Resolver`): lake buckets become
   ``bucket:<zone>``, the lake key a fixed fake ARN, roles ``role:<logical id>``, values it cannot
   resolve a readable ``<Ref ...>``/``<GetAtt ...>`` token;
2. extracts every S3 location of the lake each platform resource reads or writes and the role
   it acts as (:data:`EXTRACTORS`, one function per resource type), reporting what it cannot
   interpret instead of skipping it;
3. checks each read against the writers (:meth:`Location.hands_over_to`) and the declared
   landing zones (:func:`declared_landings`), and each access against the acting role's identity
   policies with moto's IAM evaluator (:class:`Policies`).

Importable without pytest: ``tests/app/test_lineage.py`` and ``tools/lineage.py`` use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The zones (buckets) of the lake, as :class:`ml_platform.constructs.lake.data_lake.Zone` names them.
ZONES = ("raw", "processed", "curated", "artifacts")
#: Zones whose every prefix is a landing: data written from outside the platform (config names raw
#: prefixes only for such data). Objects of other zones that config gives as deploy-time inputs
#: (``{zone, key}``: baselines, model data) are declared too, see :func:`declared_landings`.
LANDING_ZONES = ("raw",)
#: Zones whose ``{zone, key}`` objects in config are deploy-time inputs placed before a deploy.
DEPLOY_INPUT_ZONES = ("artifacts",)
#: Lambda environment variables name lake locations as ``BUCKET_<X>`` (or ``<X>_BUCKET``) with
#: ``<X>_PREFIX``, or ``<X>_URI`` / ``<X>_PATH`` with an ``s3://`` URI; ``<X>`` says the direction.
#: A name not listed here is reported, never guessed.
LAMBDA_LOCATION_DIRECTIONS = {
    "INPUT": "read", "SOURCE": "read", "CAPTURE": "read", "LABELS": "read", "BASELINES": "read",
    "OUTPUT": "write", "TARGET": "write", "DESTINATION": "write", "GROUND_TRUTH": "write",
    "FEEDBACK": "write", "REPORTS": "write", "RESULTS": "write",
    "CODE": "read", "STATISTICS": "read", "CONSTRAINTS": "read", "METRICS": "read",
}
#: A function whose environment names ``ROLE_ARN`` starts jobs that run as that role (the drift
#: launcher): the locations it names are the job's, checked against that role, not the function's.
LAMBDA_JOB_ROLE = "ROLE_ARN"
#: A location read below a folder the function's environment names: SageMaker captures an endpoint's
#: requests under ``<capture prefix>/<endpoint name>/``, and a function given ``CAPTURE_PREFIX``
#: with ``ENDPOINT_NAME`` reads that endpoint's folder only.
LAMBDA_LOCATION_SUFFIXES = {"CAPTURE": "ENDPOINT_NAME"}
#: Resource types that grant or hold lake data rather than read or write it, and housekeeping
#: that deletes a bucket's objects with the stack (dev): no lineage of their own.
NOT_DATA_FLOW = frozenset({
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy",
    "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::KMS::Key", "AWS::KMS::Alias",
    "Custom::S3AutoDeleteObjects",
    # names the lake buckets whose object-level access it records; it reads and writes no data
    "AWS::CloudTrail::Trail",
    # sets Canvas's workspace location on the Studio domain at deploy; Canvas's own access is its role's
    "Custom::StudioCanvasSettings",
})
#: Fake concrete names for IAM evaluation (moto gets plain JSON, no symbols).
FAKE_EXECUTION = "execution-id"

_LAKE_BUCKET = re.compile(r"(?<![\w-])bucket:(raw|processed|curated|artifacts)\b")
_ROLE = re.compile(r"(?<![\w:])role:([\w./-]+)")
_PLACEHOLDER = re.compile(r"\{([a-z0-9-]+)\}")
_TOKEN = re.compile(r"<[^<>\"]*>")
_S3_URI = re.compile(r"^s3://([^/]+)/?(.*)$", re.S)
_ASSET_BUCKET = re.compile(r"^cdk-[a-z0-9]+-assets-")


# -- locations ------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Location:
    """A place in the lake: a key prefix (``kind="prefix"``) or one object of a zone.

    Keys may hold placeholders for names known only at run time, e.g. ``{execution}`` for a
    pipeline execution's folder or ``{training-job}``; a placeholder matches only itself.
    """

    zone: str
    key: str
    kind: str = "prefix"

    def __str__(self) -> str:
        return f"s3://bucket:{self.zone}/{self.key}"

    def hands_over_to(self, read: Location) -> bool:
        """Whether data written at ``self`` reaches a reader of ``read``: same zone, and one key is a
        prefix of the other (string prefix, as S3 lists keys).

        - A written prefix covers any read inside it: ``processed/sales/`` written, ``processed/
          sales/year=2024/`` read.
        - A read prefix covers any write inside it: a reader of ``processed/`` reads what a Glue job
          writes under ``processed/sales/`` (the read is matched as soon as some writer feeds it).
        - Two objects hand over only when their keys are equal (``a.json`` does not feed
          ``a.json.gz``).

        Folder prefixes end in ``/`` (outputs are normalized so), which keeps ``churn/models/``
        from matching ``churn/models-old/``; an input prefix given without ``/`` matches as S3
        would (``churn/features`` reads ``churn/features-old/`` too).
        """
        if self.zone != read.zone:
            return False
        if self.kind == "object" and read.kind == "object":
            return self.key == read.key
        if self.kind == "prefix" and read.key.startswith(self.key):
            return True
        return read.kind == "prefix" and self.key.startswith(read.key)

    def object_arn(self, bucket: str) -> str:
        """An object this location reads or writes: the key itself, or ``<prefix>x`` (``<prefix>/x``
        when the prefix does not end in ``/``), placeholders made plain."""
        key = self.key if self.kind == "object" else (
            self.key + "x" if self.key == "" or self.key.endswith("/") else self.key + "/x")
        return f"arn:aws:s3:::{bucket}/{_plain_placeholders(key)}"


def _plain_placeholders(text: str) -> str:
    return _PLACEHOLDER.sub(lambda m: FAKE_EXECUTION if "execution" in m[1] else m[1], text)


def folder(key: str) -> str:
    """``key`` as an output folder: SageMaker and Glue write below ``<path>/``."""
    return key if key == "" or key.endswith("/") else key + "/"


# -- resolving intrinsic functions ----------------------------------------------------------------


class Resolver:
    """Turns template values into strings, across the stacks of one environment.

    ``Ref``/``Fn::GetAtt`` of the lake's zone buckets become ``bucket:<zone>`` (``Arn``:
    ``arn:aws:s3:::bucket:<zone>``), of the lake key :attr:`key_arn` (``Ref``: ``lake``), of an IAM
    role ``role:<logical id>`` (``role:<stack>/<logical id>`` if two stacks share the id), of a
    managed policy ``policy:<stack>/<logical id>``, of a Glue database its name. Weak cross-stack
    references (``Fn::GetStackOutput``) and ``Fn::ImportValue`` are followed to the producing
    stack's output; ``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``,
    ``Fn::Base64`` and ``Fn::ToJsonString`` are evaluated. Anything else becomes a token such as
    ``<GetAtt mlp-dev-Serving/ChurnModel.ModelName>`` that names what it stands for.

    Zones are found from the lake stack's buckets: ``Metadata["aws:cdk:path"]`` ending in
    ``DataLake/<Zone>Bucket/Resource``, or, when path metadata is off, the logical id CDK derives
    from that path (``DataLake<Zone>Bucket<hash>``).
    """

    def __init__(self, stacks: Mapping[str, Mapping], *, region: str = "us-east-1",
                 account: str = "123456789012") -> None:
        self.stacks = stacks
        self.region, self.account = region, account
        self.key_arn = f"arn:aws:kms:{region}:{account}:key/lake"
        self.zone_of: dict[tuple[str, str], str] = {}
        self.lake_key: tuple[str, str] | None = None
        for stack, template in stacks.items():
            for lid, res in template.get("Resources", {}).items():
                if res.get("Type") == "AWS::S3::Bucket" and (zone := _zone_of_bucket(lid, res)):
                    self.zone_of[(stack, lid)] = zone
                    key = _bucket_key(res)
                    if key:
                        self.lake_key = (stack, key)
        roles = [(s, lid) for s, t in stacks.items() for lid, r in t.get("Resources", {}).items()
                 if r.get("Type") == "AWS::IAM::Role"]
        ids = [lid for _, lid in roles]
        self.role_symbol = {(s, lid): f"role:{lid}" if ids.count(lid) == 1 else f"role:{s}/{lid}"
                            for s, lid in roles}
        self.role_by_symbol = {v: k for k, v in self.role_symbol.items()}

    # -- public ------------------------------------------------------------------------------

    def resource(self, stack: str, lid: str) -> dict | None:
        return self.stacks.get(stack, {}).get("Resources", {}).get(lid)

    def resolve(self, value: Any, stack: str) -> Any:
        """``value`` with every intrinsic function replaced by its value (a string or a list)."""
        if isinstance(value, list):
            return [self.resolve(v, stack) for v in value]
        if isinstance(value, dict):
            if len(value) == 1:
                (name, arg), = value.items()
                if name == "Ref" or name.startswith("Fn::"):
                    return self._intrinsic(name, arg, stack)
            return {k: self.resolve(v, stack) for k, v in value.items()}
        return value

    def text(self, value: Any, stack: str) -> str:
        """``value`` resolved to one string (lists and objects as JSON)."""
        return _as_text(self.resolve(value, stack))

    def target(self, value: Any, stack: str) -> tuple[str, str] | None:
        """The resource a ``Ref``/``Fn::GetAtt`` points at, following cross-stack outputs."""
        if isinstance(value, dict) and len(value) == 1:
            (name, arg), = value.items()
            if name == "Ref" and isinstance(arg, str) and self.resource(stack, arg):
                return stack, arg
            if name == "Fn::GetAtt":
                lid = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                return (stack, lid) if self.resource(stack, lid) else None
            if name == "Fn::GetStackOutput":
                producer, output = self._output(arg, stack)
                return self.target(output, producer) if output is not None else None
        if isinstance(value, str) and (match := re.fullmatch(r"<(?:Ref|GetAtt) ([^/]+)/([^.>]+)[^>]*>", value)):
            return (match[1], match[2]) if self.resource(match[1], match[2]) else None
        return None

    def concrete(self, text: str) -> str:
        """``text`` with symbols replaced by fake concrete names, for IAM evaluation: ``bucket:<zone>``
        by ``lake-<zone>``, roles by role ARNs, placeholders by plain words, other tokens by
        ``unresolved``. The lake key ARN is already concrete."""
        text = _LAKE_BUCKET.sub(r"lake-\1", text)
        text = _ROLE.sub(lambda m: f"arn:aws:iam::{self.account}:role/{m[1]}", text)
        text = _plain_placeholders(text)
        return _TOKEN.sub("unresolved", text)

    # -- intrinsics --------------------------------------------------------------------------

    def _intrinsic(self, name: str, arg: Any, stack: str) -> Any:
        if name == "Ref":
            return self._ref(arg, stack)
        if name == "Fn::GetAtt":
            lid, attr = (arg[0], ".".join(arg[1:])) if isinstance(arg, list) else str(arg).split(".", 1)
            return self._getatt(lid, attr, stack)
        if name == "Fn::GetStackOutput":
            producer, output = self._output(arg, stack)
            if output is None:
                return f"<Output {self.text(arg.get('StackName'), stack)}.{arg.get('OutputName')}>"
            return self.resolve(output, producer)
        if name == "Fn::ImportValue":
            export = self.text(arg, stack)
            for other, template in self.stacks.items():
                for out in template.get("Outputs", {}).values():
                    if self.text(out.get("Export", {}).get("Name"), other) == export:
                        return self.resolve(out["Value"], other)
            return f"<Import {export}>"
        if name == "Fn::Join":
            sep, items = arg
            items = self.resolve(items, stack)
            return self.text(sep, stack).join(_as_text(i) for i in (items if isinstance(items, list) else [items]))
        if name == "Fn::Sub":
            template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return re.sub(r"\$\{([^}]*)\}", lambda m: self._sub(m[1], variables, stack), template)
        if name == "Fn::Split":
            sep, source = arg
            return self.text(source, stack).split(self.text(sep, stack))
        if name == "Fn::Select":
            index, items = arg
            items = self.resolve(items, stack)
            i = int(self.text(index, stack))
            return items[i] if isinstance(items, list) and i < len(items) else f"<Select {i}>"
        if name == "Fn::FindInMap":
            m, k1, k2 = (self.text(a, stack) for a in arg[:3])
            found = self.stacks[stack].get("Mappings", {}).get(m, {}).get(k1, {}).get(k2)
            return self.resolve(found, stack) if found is not None else f"<FindInMap {m}.{k1}.{k2}>"
        if name == "Fn::Base64":
            return self.resolve(arg, stack)
        if name == "Fn::ToJsonString":
            return json.dumps(self.resolve(arg, stack), separators=(",", ":"))
        if name == "Fn::GetAZs":
            return [f"<AZ {i}>" for i in range(3)]
        return f"<{name.removeprefix('Fn::')}>"

    def _sub(self, expr: str, variables: Mapping, stack: str) -> str:
        if expr.startswith("!"):
            return "${" + expr[1:] + "}"
        if expr in variables:
            return self.text(variables[expr], stack)
        if "." in expr and not expr.startswith("AWS::"):
            lid, attr = expr.split(".", 1)
            return _as_text(self._getatt(lid, attr, stack))
        return _as_text(self._ref(expr, stack))

    def _output(self, arg: Mapping, stack: str) -> tuple[str, Any]:
        producer = self.text(arg.get("StackName"), stack)
        output = self.stacks.get(producer, {}).get("Outputs", {}).get(arg.get("OutputName"))
        return producer, (output or {}).get("Value")

    def _ref(self, name: str, stack: str) -> Any:
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack, "AWS::NoValue": None}
        if name in pseudo:
            return pseudo[name]
        template = self.stacks.get(stack, {})
        if name in template.get("Parameters", {}):
            default = template["Parameters"][name].get("Default")
            return default if default is not None else f"<Parameter {name}>"
        res = self.resource(stack, name)
        if res is None:
            return f"<Ref {stack}/{name}>"
        kind, props = res.get("Type"), res.get("Properties", {})
        if (stack, name) in self.zone_of:
            return f"bucket:{self.zone_of[(stack, name)]}"
        if (stack, name) == self.lake_key:
            return "lake"
        if kind == "AWS::IAM::Role":
            return self.role_symbol[(stack, name)]
        if kind == "AWS::IAM::ManagedPolicy":
            return f"policy:{stack}/{name}"
        if kind == "AWS::Glue::Database":
            return self.text(props.get("DatabaseInput", {}).get("Name"), stack)
        return f"<Ref {stack}/{name}>"

    def _getatt(self, lid: str, attr: str, stack: str) -> Any:
        res = self.resource(stack, lid)
        if res is not None:
            if (stack, lid) in self.zone_of:
                bucket = f"bucket:{self.zone_of[(stack, lid)]}"
                return {"Arn": f"arn:aws:s3:::{bucket}", "DomainName": f"{bucket}.s3.amazonaws.com",
                        "RegionalDomainName": f"{bucket}.s3.{self.region}.amazonaws.com"}.get(
                    attr, f"<GetAtt {stack}/{lid}.{attr}>")
            if (stack, lid) == self.lake_key and attr == "Arn":
                return self.key_arn
            if res.get("Type") == "AWS::IAM::Role" and attr == "Arn":
                return self.role_symbol[(stack, lid)]
            if res.get("Type") == "AWS::IAM::ManagedPolicy" and attr == "PolicyArn":
                return f"policy:{stack}/{lid}"
        return f"<GetAtt {stack}/{lid}.{attr}>"


def _zone_of_bucket(lid: str, res: Mapping) -> str | None:
    path = res.get("Metadata", {}).get("aws:cdk:path", "")
    match = re.search(r"DataLake/(\w+)Bucket/Resource$", path) or re.fullmatch(r"\w*DataLake(\w+)Bucket[0-9A-F]{8}", lid)
    zone = match[1].lower() if match else None
    return zone if zone in ZONES else None


def _bucket_key(res: Mapping) -> str | None:
    rules = res.get("Properties", {}).get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    for rule in rules:
        key = rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
        if isinstance(key, dict) and "Fn::GetAtt" in key:
            return key["Fn::GetAtt"][0]
        if isinstance(key, dict) and "Ref" in key:
            return key["Ref"]
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


# -- accesses, problems, reports ------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Access:
    """One resource reading or writing one location, acting as ``role`` (``None``: the caller)."""

    stack: str
    logical_id: str
    type: str
    mode: str  # "read" or "write"
    location: Location
    role: str | None
    via: str  # the property or step that names the location

    def describe(self) -> str:
        return f"{self.type} {self.logical_id} ({self.via})"


@dataclass(frozen=True, order=True)
class Problem:
    """A finding; ``str()`` names the environment, resource, location, role and denied action."""

    env: str
    kind: str  # "unwritten", "denied", "uninterpreted", "unresolved"
    type: str
    logical_id: str
    stack: str
    message: str

    def __str__(self) -> str:
        return f"{self.env}: {self.type} {self.logical_id} [{self.stack}]: {self.message}"


@dataclass
class Report:
    """The lineage of one environment."""

    env: str
    accesses: list[Access] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    handoffs: int = 0
    evaluations: int = 0

    def figure(self) -> str:
        return figure_line(self.env, len(self.accesses), self.handoffs, self.evaluations, len(self.problems))


def figure_line(env: str, checked: int, handoffs: int, evaluations: int, problems: int) -> str:
    return (f"lineage: {env}: locations checked {checked}, hand-offs {handoffs} (reads matched to a "
            f"writer), role/action pairs evaluated {evaluations}, problems {problems}")


def total_line(reports: list[Report]) -> str:
    return figure_line("total", sum(len(r.accesses) for r in reports), sum(r.handoffs for r in reports),
                       sum(r.evaluations for r in reports), sum(len(r.problems) for r in reports))


# -- extraction -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Res:
    stack: str
    logical_id: str
    type: str
    props: dict


class Context:
    """What extractors see: the resolver, the environment's resources, and where to put findings."""

    def __init__(self, env: str, resolver: Resolver) -> None:
        self.env, self.resolver = env, resolver
        self.accesses: list[Access] = []
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self._pipelines: dict[tuple[str, str], PipelineDefinition | None] = {}

    # -- navigation --------------------------------------------------------------------------

    def resources(self, *types: str) -> Iterator[Res]:
        for stack, template in self.resolver.stacks.items():
            for lid, res in template.get("Resources", {}).items():
                if not types or res.get("Type") in types:
                    yield Res(stack, lid, res.get("Type", ""), res.get("Properties", {}) or {})

    def res(self, ref: tuple[str, str] | None) -> Res | None:
        if ref is None:
            return None
        found = self.resolver.resource(*ref)
        return Res(ref[0], ref[1], found.get("Type", ""), found.get("Properties", {}) or {}) if found else None

    def text(self, value: Any, res: Res) -> str:
        return self.resolver.text(value, res.stack)

    def named(self, kind: str, prop: str, name: str) -> Res | None:
        """The resource of type ``kind`` whose ``prop`` resolves to ``name``."""
        return next((r for r in self.resources(kind) if self.text(r.props.get(prop), r) == name), None)

    def referenced(self, value: Any, res: Res, kind: str, name_prop: str) -> Res | None:
        """The ``kind`` resource ``value`` refers to: a Ref/GetAtt (also inside resolved text) or
        a literal name."""
        found = self.res(self.resolver.target(value, res.stack))
        if found is None and isinstance(value, str):
            found = self.res(self.resolver.target(value.strip(), res.stack))
            found = found or self.named(kind, name_prop, value)
        return found if found is not None and found.type == kind else None

    def role(self, value: Any, res: Res) -> str | None:
        """The role symbol of a role ARN or name (a template value or resolved text)."""
        text = (value if isinstance(value, str) else self.text(value, res)).strip()
        if text in self.resolver.role_by_symbol:
            return text
        name = text.rsplit("/", 1)[-1] if text.startswith("arn:") else text
        for role in self.resources("AWS::IAM::Role"):
            if self.text(role.props.get("RoleName"), role) == name:
                return self.resolver.role_symbol[(role.stack, role.logical_id)]
        self.problem(res, "unresolved", f"acting role {text or '(none)'} is not a role of the templates")
        return None

    def function_role(self, token: Any, res: Res) -> str | None:
        """The execution role of the Lambda function ``token`` points at (a custom resource's
        ServiceToken; a CDK provider framework is followed to the user's function)."""
        function = self.res(self.resolver.target(token, res.stack))
        for _ in range(3):
            if function is None or function.type != "AWS::Lambda::Function":
                break
            user = function.props.get("Environment", {}).get("Variables", {}).get("USER_ON_EVENT_FUNCTION_ARN")
            if user is None:
                return self.role(function.props.get("Role"), function)
            function = self.res(self.resolver.target(user, function.stack))
        self.problem(res, "unresolved", f"ServiceToken {self.text(token, res)} is not a Lambda function of the templates")
        return None

    # -- findings ----------------------------------------------------------------------------

    def problem(self, res: Res, kind: str, message: str) -> None:
        self.problems.append(Problem(self.env, kind, res.type, res.logical_id, res.stack, message))

    def location(self, uri: str, res: Res, via: str, *, kind: str = "auto") -> Location | None:
        """The lake location of ``s3://`` text, or ``None`` (a CDK asset, or reported).

        ``kind``: ``prefix`` (as given), ``folder`` (an output path: ``/`` appended), ``object``,
        or ``auto`` (``/`` at the end or no ``.`` in the last segment: folder; else object).
        """
        match = _S3_URI.match(uri.strip())
        if not match:
            self.problem(res, "uninterpreted", f"{via}: {uri!r} is not an s3:// URI")
            return None
        bucket, key = match[1], match[2]
        zone = _LAKE_BUCKET.fullmatch(bucket)
        if zone is None:
            if _ASSET_BUCKET.match(bucket):
                return None  # a CDK asset (code, configuration): deploy-time, not lake data
            self.problem(res, "uninterpreted", f"{via}: {uri} is not in a lake bucket")
            return None
        if kind == "auto":
            kind = "folder" if key == "" or key.endswith("/") or "." not in key.rsplit("/", 1)[-1] else "object"
        if kind == "folder":
            return Location(zone[1], folder(key), "prefix")
        return Location(zone[1], key, kind)

    def access(self, res: Res, mode: str, uri: str | None, role: str | None, via: str, *,
               kind: str = "auto") -> None:
        if uri is None:
            return
        location = self.location(uri, res, via, kind=kind)
        if location is not None:
            self.accesses.append(Access(res.stack, res.logical_id, res.type, mode, location, role, via))

    def read(self, res: Res, uri: str | None, role: str | None, via: str, *, kind: str = "auto") -> None:
        self.access(res, "read", uri, role, via, kind=kind)

    def write(self, res: Res, uri: str | None, role: str | None, via: str, *, kind: str = "folder") -> None:
        self.access(res, "write", uri, role, via, kind=kind)

    # -- shared lookups ----------------------------------------------------------------------

    def pipeline(self, res: Res) -> PipelineDefinition | None:
        key = (res.stack, res.logical_id)
        if key not in self._pipelines:
            self._pipelines[key] = PipelineDefinition.parse(self, res)
        return self._pipelines[key]

    def registered_model_data(self, group: str) -> list[tuple[str, Res, str]]:
        """``(model data URI, registering resource, via)`` of every registration into ``group``:
        RegisterModel steps of pipelines and ``AWS::SageMaker::ModelPackage`` resources."""
        found = []
        for res in self.resources("AWS::SageMaker::Pipeline"):
            definition = self.pipeline(res)
            for step_group, uri, via in (definition.registrations if definition else []):
                if step_group == group:
                    found.append((uri, res, via))
        for res in self.resources("AWS::SageMaker::ModelPackage"):
            if self.text(res.props.get("ModelPackageGroupName"), res) == group:
                for c in res.props.get("InferenceSpecification", {}).get("Containers", []):
                    if "ModelDataUrl" in c:
                        found.append((self.text(c["ModelDataUrl"], res), res, "InferenceSpecification"))
        return found

    def capture_uri(self, endpoint_name: str, res: Res) -> str | None:
        """Where the endpoint named ``endpoint_name`` captures requests: ``<destination>/<endpoint>/``."""
        endpoint = self.named("AWS::SageMaker::Endpoint", "EndpointName", endpoint_name)
        if endpoint is None:
            self.problem(res, "unresolved", f"reads the data capture of endpoint {endpoint_name}, which no "
                                            "template creates")
            return None
        config = self.referenced(endpoint.props.get("EndpointConfigName"), endpoint,
                                 "AWS::SageMaker::EndpointConfig", "EndpointConfigName")
        capture = (config.props.get("DataCaptureConfig") or {}) if config else {}
        if not capture or capture.get("EnableCapture") is False:
            self.problem(res, "unwritten", f"reads the data capture of endpoint {endpoint_name}, which captures nothing")
            return None
        return folder(self.text(capture["DestinationS3Uri"], config)) + f"{endpoint_name}/"

    def catalog_uri(self, database: str, table: str, res: Res) -> str | None:
        """The S3 location of Glue table ``database.table``: an ``AWS::Glue::Table``'s location, or
        the S3 target of the crawler of ``database`` whose folder names the table."""
        for t in self.resources("AWS::Glue::Table"):
            if (self.text(t.props.get("DatabaseName"), t), self.text(t.props.get("TableInput", {}).get("Name"), t)) \
                    == (database, table):
                return self.text(t.props["TableInput"].get("StorageDescriptor", {}).get("Location"), t)
        found = set()
        for crawler in self.resources("AWS::Glue::Crawler"):
            if self.text(crawler.props.get("DatabaseName"), crawler) != database:
                continue
            prefix = self.text(crawler.props.get("TablePrefix", ""), crawler)
            for target in crawler.props.get("Targets", {}).get("S3Targets", []):
                path = self.text(target.get("Path"), crawler)
                name = prefix + path.rstrip("/").rsplit("/", 1)[-1]
                if _table_name(name) == _table_name(table):
                    found.add(path)
        if len(found) == 1:
            return found.pop()
        self.problem(res, "unresolved", f"source table {database}.{table} is catalogued by "
                                        f"{'several crawlers' if found else 'no crawler or table'} of the templates")
        return None


def _table_name(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


Extractor = Callable[[Context, Res], None]
#: The extractors, by resource type. Adding a type is one function decorated with ``@extractor``.
EXTRACTORS: dict[str, Extractor] = {}


def extractor(*types: str) -> Callable[[Extractor], Extractor]:
    def register(function: Extractor) -> Extractor:
        for kind in types:
            EXTRACTORS[kind] = function
        return function
    return register


# -- Glue, DataBrew, Athena -----------------------------------------------------------------------

#: Glue job arguments that name S3 locations: read, write or both (temporary files).
_GLUE_PATH_ARGUMENTS = {"--target_path": ("write",), "--source_path": ("read",), "--TempDir": ("write", "read"),
                        "--spark-event-logs-path": ("write",)}


@extractor("AWS::Glue::Job")
def glue_job(ctx: Context, res: Res) -> None:
    """Writes ``--target_path``; reads the catalog table ``--source_database``.``--source_table``
    (the location its crawler catalogs) or ``--source_path``; as ``Role``."""
    role = ctx.role(res.props.get("Role"), res)
    args = {k: ctx.text(v, res) for k, v in (res.props.get("DefaultArguments") or {}).items()}
    for name, value in args.items():
        if name in _GLUE_PATH_ARGUMENTS:
            for mode in _GLUE_PATH_ARGUMENTS[name]:
                ctx.access(res, mode, value, role, f"DefaultArguments.{name}", kind="folder" if mode == "write" else "auto")
        elif _LAKE_BUCKET.search(value):
            ctx.problem(res, "uninterpreted", f"DefaultArguments.{name} names {value}; add it to _GLUE_PATH_ARGUMENTS")
    if "--source_database" in args or "--source_table" in args:
        uri = ctx.catalog_uri(args.get("--source_database", ""), args.get("--source_table", ""), res)
        ctx.read(res, uri, role, "DefaultArguments.--source_database/--source_table")


@extractor("AWS::Glue::Crawler")
def glue_crawler(ctx: Context, res: Res) -> None:
    """Reads each ``Targets.S3Targets[].Path`` as ``Role``."""
    role = ctx.role(res.props.get("Role"), res)
    for i, target in enumerate(res.props.get("Targets", {}).get("S3Targets", [])):
        ctx.read(res, ctx.text(target.get("Path"), res), role, f"Targets.S3Targets[{i}].Path", kind="prefix")


def _databrew_s3(ctx: Context, value: Mapping, res: Res) -> str:
    """``s3://<Bucket>/<Key>`` of a DataBrew S3 location; a dynamic key (``a/year={year}/``) up to
    the folder holding its first parameter (``a/``)."""
    key = ctx.text(value.get("Key", ""), res)
    if "{" in key:
        key = key.split("{", 1)[0].rpartition("/")[0] + "/"
    return f"s3://{ctx.text(value.get('Bucket'), res)}/{key}"


@extractor("AWS::DataBrew::Dataset")
def databrew_dataset(ctx: Context, res: Res) -> None:
    """Read by the DataBrew jobs that name it (see :func:`databrew_job`), as their roles."""


@extractor("AWS::DataBrew::Job")
def databrew_job(ctx: Context, res: Res) -> None:
    """Reads its dataset's ``Input`` (``DatasetName``, or the dataset of ``ProjectName``); writes
    ``Outputs[].Location``, ``DataCatalogOutputs[].S3Options.Location`` and ``OutputLocation``
    (profile jobs); as ``RoleArn``."""
    role = ctx.role(res.props.get("RoleArn"), res)
    dataset_name = res.props.get("DatasetName")
    if dataset_name is None and "ProjectName" in res.props:
        project = ctx.named("AWS::DataBrew::Project", "Name", ctx.text(res.props["ProjectName"], res))
        dataset_name = project.props.get("DatasetName") if project else None
    dataset = ctx.named("AWS::DataBrew::Dataset", "Name", ctx.text(dataset_name, res)) if dataset_name else None
    if dataset is None:
        ctx.problem(res, "unresolved", f"dataset {ctx.text(dataset_name, res) or '(none)'} is not a DataBrew dataset of the templates")
    else:
        source = dataset.props.get("Input", {})
        if "S3InputDefinition" in source:
            ctx.read(res, _databrew_s3(ctx, source["S3InputDefinition"], dataset), role,
                     f"dataset {dataset.logical_id} Input.S3InputDefinition", kind="prefix")
        elif "DataCatalogInputDefinition" in source:
            table = source["DataCatalogInputDefinition"]
            uri = ctx.catalog_uri(ctx.text(table.get("DatabaseName"), dataset), ctx.text(table.get("TableName"), dataset), res)
            ctx.read(res, uri, role, f"dataset {dataset.logical_id} Input.DataCatalogInputDefinition")
        else:
            ctx.problem(res, "uninterpreted", f"dataset {dataset.logical_id} Input {sorted(source)} not interpreted")
    for i, output in enumerate(res.props.get("Outputs", [])):
        ctx.write(res, _databrew_s3(ctx, output.get("Location", {}), res), role, f"Outputs[{i}].Location")
    for i, output in enumerate(res.props.get("DataCatalogOutputs", [])):
        if "S3Options" in output:
            ctx.write(res, _databrew_s3(ctx, output["S3Options"].get("Location", {}), res), role,
                      f"DataCatalogOutputs[{i}].S3Options.Location")
    if "OutputLocation" in res.props:
        ctx.write(res, _databrew_s3(ctx, res.props["OutputLocation"], res), role, "OutputLocation")


@extractor("AWS::Athena::WorkGroup")
def athena_workgroup(ctx: Context, res: Res) -> None:
    """Writes query results to ``ResultConfiguration.OutputLocation`` as each query's caller (no
    role of its own: not evaluated)."""
    result = res.props.get("WorkGroupConfiguration", {}).get("ResultConfiguration", {})
    if "OutputLocation" in result:
        ctx.write(res, ctx.text(result["OutputLocation"], res), None, "ResultConfiguration.OutputLocation")


# -- Step Functions -------------------------------------------------------------------------------

#: ``States.Format('<literal>{}...', ...)``: a key built at run time, read up to its first placeholder.
_STATES_FORMAT = re.compile(r"^States\.Format\('((?:[^'\\]|\\.)*)'")


def _sdk_tasks(states: Mapping) -> Iterator[tuple[str, str, dict]]:
    """``(state name, "<service>:<action>", Parameters)`` of every AWS SDK integration task, nested
    states (Parallel branches, Map iterators) included."""
    for name, state in states.items():
        match = re.search(r":states:::aws-sdk:([a-z0-9]+:[A-Za-z0-9]+)", str(state.get("Resource", "")))
        if state.get("Type") == "Task" and match:
            yield name, match[1], state.get("Parameters") or {}
        for nested in [*state.get("Branches", []), *[state[k] for k in ("Iterator", "ItemProcessor") if k in state]]:
            yield from _sdk_tasks(nested.get("States", {}))


#: The parameters of the interpreted tasks that say where data is read or written, and as whom.
_LOCATING = ("DatabaseName", "TableName", "Role", "Bucket", "Key")
#: A parameter taken from the execution input: ``$.<field>``.
_INPUT_PATH = re.compile(r"^\$\.([A-Za-z0-9_]+)$")


def _execution_inputs(ctx: Context, res: Res) -> list[tuple[str, dict]]:
    """``(schedule logical id, execution input)`` of every scheduler schedule that starts the state
    machine ``res`` (``Target.Arn`` a reference to it, ``Target.Input`` its JSON input)."""
    found = []
    for schedule in ctx.resources("AWS::Scheduler::Schedule"):
        target = schedule.props.get("Target", {})
        if ctx.resolver.target(target.get("Arn"), schedule.stack) != (res.stack, res.logical_id):
            continue
        try:
            found.append((schedule.logical_id, json.loads(ctx.text(target.get("Input", ""), schedule))))
        except ValueError as error:
            ctx.problem(schedule, "uninterpreted", f"Target.Input is not JSON after resolving: {error}")
    return found


class _Input:
    """Task parameters read against one execution input (``None``: the machine's own values only);
    a ``<name>.$`` of ``$.<field>`` is the input's field, any other path is not interpreted."""

    def __init__(self, ctx: Context, res: Res, via: str, execution: dict | None) -> None:
        self.ctx, self.res, self.via, self.execution = ctx, res, via, execution

    def value(self, parameters: Mapping, name: str) -> Any:
        if name in parameters:
            return parameters[name]
        path = parameters.get(f"{name}.$")
        if path is None:
            return None
        match = _INPUT_PATH.match(path)
        if match is None:
            self.ctx.problem(self.res, "uninterpreted", f"{self.via}: {name}.$ {path!r} is not $.<field> of the input")
        elif self.execution is None:
            self.ctx.problem(self.res, "unresolved", f"{self.via}: {name} comes from the execution input and no "
                                                     "schedule of the templates starts this state machine")
        elif match[1] not in self.execution:
            self.ctx.problem(self.res, "unresolved", f"{self.via}: the execution input has no {match[1]!r}")
        else:
            return self.execution[match[1]]
        return None

    def key(self, parameters: Mapping) -> tuple[str, str] | None:
        """``(key, kind)`` of a putObject: a literal ``Key`` is an object; a ``Key.$`` of
        ``States.Format('<literal>', <args>)`` is read with the input's fields substituted up to the
        first placeholder of any other argument (an execution's name), and is the folder there."""
        if "Key" in parameters:
            return parameters["Key"], "object"
        expression = parameters.get("Key.$", "")
        match = _STATES_FORMAT.match(expression)
        if match is None:
            self.ctx.problem(self.res, "uninterpreted", f"{self.via}: Key.$ {expression!r} is not States.Format('...')")
            return None
        pieces = match[1].split("{}")
        arguments = [a.strip() for a in expression[match.end():].strip().removeprefix(",").removesuffix(")").split(",")]
        key = pieces[0]
        for piece, argument in zip(pieces[1:], arguments, strict=False):
            field = _INPUT_PATH.match(argument)
            if field is None:
                break
            value = self.value({"Key.$": argument}, "Key")
            if value is None:
                return None
            key += str(value) + piece
        return key.rpartition("/")[0] + "/", "folder"


@extractor("AWS::StepFunctions::StateMachine")
def state_machine(ctx: Context, res: Res) -> None:
    """AWS SDK integration tasks that move lake data: ``glue:startDataQualityRuleRecommendationRun``
    reads its ``DataSource.GlueTable`` (the location its crawler catalogs) as the passed ``Role``;
    ``s3:putObject`` writes ``Bucket``/``Key`` as the state machine's ``RoleArn`` (a ``Key.$`` of
    ``States.Format`` up to the folder holding its first placeholder not filled from the input).
    Parameters taken from the execution input (``<name>.$`` of ``$.<field>``) are read once per
    schedule starting the machine, with that schedule's ``Target.Input``. Any other task naming a
    lake bucket is reported."""
    text = ctx.text(res.props.get("DefinitionString", ""), res)
    if not _LAKE_BUCKET.search(text):
        return
    try:
        definition = json.loads(text)
    except ValueError as error:
        ctx.problem(res, "uninterpreted", f"DefinitionString is not JSON after resolving: {error}")
        return
    inputs = _execution_inputs(ctx, res)
    for name, call, parameters in _sdk_tasks(definition.get("States", {})):
        via = f"state {name} ({call})"
        if call not in ("glue:startDataQualityRuleRecommendationRun", "s3:putObject"):
            if _LAKE_BUCKET.search(json.dumps(parameters)):
                ctx.problem(res, "uninterpreted", f"{via} names a lake bucket; add it to the state_machine extractor")
            continue
        uses_input = any(re.search(r"(?<!\$)\$\.", str(v)) for k, v in _walk_parameters(parameters)
                         if k.removesuffix(".$") in _LOCATING)
        for schedule, execution in (inputs if uses_input and inputs else [(None, None)]):
            each = f"{via} (input of schedule {schedule})" if schedule else via
            given = _Input(ctx, res, each, execution)
            if call == "glue:startDataQualityRuleRecommendationRun":
                table = parameters.get("DataSource", {}).get("GlueTable", {})
                database, table_name, role = given.value(table, "DatabaseName"), given.value(table, "TableName"), \
                    given.value(parameters, "Role")
                if None in (database, table_name, role):
                    continue
                uri = ctx.catalog_uri(database, table_name, res)
                ctx.read(res, uri, ctx.role(role, res), f"{each} DataSource.GlueTable")
            else:
                bucket, found = given.value(parameters, "Bucket"), given.key(parameters)
                if bucket is None or found is None:
                    continue
                key, kind = found
                ctx.write(res, f"s3://{bucket}/{key}", ctx.role(res.props.get("RoleArn"), res), each, kind=kind)


def _walk_parameters(parameters: Mapping) -> Iterator[tuple[str, Any]]:
    """Every ``(name, value)`` of ``parameters``, nested objects included."""
    for name, value in parameters.items():
        yield name, value
        if isinstance(value, Mapping):
            yield from _walk_parameters(value)


# -- Lambda ---------------------------------------------------------------------------------------


@extractor("AWS::Lambda::Function")
def lambda_function(ctx: Context, res: Res) -> None:
    """Lake locations its environment names (see :data:`LAMBDA_LOCATION_DIRECTIONS`), as ``Role``."""
    env = {k: ctx.text(v, res) for k, v in (res.props.get("Environment", {}).get("Variables") or {}).items()}
    used: set[str] = set()
    found: list[tuple[str, str, str]] = []  # (stem, uri, via)
    for name, value in env.items():
        if _LAKE_BUCKET.fullmatch(value):
            stem = re.sub(r"^BUCKET_?|_?BUCKET$", "", name)
            prefix_names = [f"{stem}_PREFIX", f"PREFIX_{stem}"] if stem else ["PREFIX"]
            prefix_name = next((p for p in prefix_names if p in env), None)
            used.update({name, prefix_name} - {None})
            found.append((stem, f"s3://{value}/{env.get(prefix_name, '') if prefix_name else ''}",
                          f"Environment {name}" + (f"/{prefix_name}" if prefix_name else "")))
        elif value.startswith("s3://"):
            used.add(name)
            found.append((re.sub(r"_(URI|PATH|S3_URI|LOCATION)$", "", name), value, f"Environment {name}"))
    for name, value in env.items():
        if name not in used and _LAKE_BUCKET.search(value):
            ctx.problem(res, "uninterpreted", f"Environment {name} names {value}, not as BUCKET_<X>/<X>_PREFIX or an s3:// URI")
    if not found:
        return
    variables = res.props.get("Environment", {}).get("Variables") or {}
    role = ctx.role(variables[LAMBDA_JOB_ROLE] if LAMBDA_JOB_ROLE in variables else res.props.get("Role"), res)
    for stem, uri, via in found:
        suffix = LAMBDA_LOCATION_SUFFIXES.get(stem)
        if suffix in env:
            uri, via = f"{folder(uri)}{env[suffix]}/", f"{via} + {suffix}"
        mode = LAMBDA_LOCATION_DIRECTIONS.get(stem)
        if mode is None:
            ctx.problem(res, "uninterpreted", f"{via} names {uri}, but {stem or '(no name)'} is not in "
                                              "LAMBDA_LOCATION_DIRECTIONS: read or write?")
        else:
            ctx.access(res, mode, uri, role, via, kind="folder" if mode == "write" else "auto")


@extractor("Custom::MonitoringBaselines")
def baseline_check(ctx: Context, res: Res) -> None:
    """Reads (heads) each of ``Objects`` as the role of its provider function, at deploy time."""
    role = ctx.function_role(res.props.get("ServiceToken"), res)
    for i, uri in enumerate(res.props.get("Objects", [])):
        ctx.read(res, ctx.text(uri, res), role, f"Objects[{i}]", kind="object")


# -- SageMaker: pipelines -------------------------------------------------------------------------

_STEP_OUTPUT = re.compile(r"^Steps\.([^.]+)\.ProcessingOutputConfig\.Outputs\[(?:'([^']+)'|(\d+))\]\.S3Output\.S3Uri$")


@dataclass
class PipelineDefinition:
    """A parsed ``PipelineDefinitionBody``: its steps (conditions flattened), parameter defaults,
    and the model data each RegisterModel step registers."""

    steps: dict[str, dict]
    parameters: dict[str, Any]
    registrations: list[tuple[str, str, str]]  # (group, model data URI, via)

    @classmethod
    def parse(cls, ctx: Context, res: Res) -> PipelineDefinition | None:
        body = res.props.get("PipelineDefinition", {}).get("PipelineDefinitionBody")
        if body is None:
            ctx.problem(res, "uninterpreted", "PipelineDefinition has no PipelineDefinitionBody (an S3 "
                                              "definition is not read)")
            return None
        try:
            document = json.loads(ctx.text(body, res))
        except ValueError as error:
            ctx.problem(res, "uninterpreted", f"PipelineDefinitionBody is not JSON after resolving: {error}")
            return None
        steps: dict[str, dict] = {}

        def collect(items: list) -> None:
            for step in items:
                steps[step["Name"]] = step
                if step.get("Type") == "Condition":
                    collect(step.get("Arguments", {}).get("IfSteps", []))
                    collect(step.get("Arguments", {}).get("ElseSteps", []))

        collect(document.get("Steps", []))
        parameters = {p["Name"]: p.get("DefaultValue") for p in document.get("Parameters", [])}
        definition = cls(steps, parameters, [])
        for step in steps.values():
            if step.get("Type") == "RegisterModel":
                args = step.get("Arguments", {})
                for i, c in enumerate(args.get("InferenceSpecification", {}).get("Containers", [])):
                    if "ModelDataUrl" in c:
                        uri = definition.uri(c["ModelDataUrl"], ctx, res, step["Name"])
                        if uri:
                            definition.registrations.append((str(args.get("ModelPackageGroupName")), uri,
                                                             f"step {step['Name']} Containers[{i}].ModelDataUrl"))
        return definition

    def uri(self, value: Any, ctx: Context, res: Res, step: str) -> str | None:
        """The S3 URI a pipeline value stands for; step properties are what that step wrote,
        ``Execution.PipelineExecutionId`` a per-run folder ``{execution}``, a training job's name
        ``{training-job}``."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Std:Join" in value:
            join = value["Std:Join"]
            parts = [self.uri(v, ctx, res, step) for v in join.get("Values", [])]
            return None if None in parts else join.get("On", "").join(parts)
        if isinstance(value, dict) and isinstance(value.get("Get"), str):
            path = value["Get"]
            if path.startswith("Parameters."):
                default = self.parameters.get(path.removeprefix("Parameters."))
                if isinstance(default, str):
                    return default
            elif path == "Execution.PipelineExecutionId":
                return "{execution}"
            elif path.startswith("Steps.") and path.endswith("TrainingJobName"):
                return "{training-job}"
            elif match := _STEP_OUTPUT.match(path):
                outputs = self.steps.get(match[1], {}).get("Arguments", {}).get("ProcessingOutputConfig", {}).get("Outputs", [])
                chosen = [o for i, o in enumerate(outputs)
                          if (match[2] is not None and o.get("OutputName") == match[2]) or str(i) == match[3]]
                if chosen:
                    return self.uri(chosen[0].get("S3Output", {}).get("S3Uri"), ctx, res, step)
            elif re.fullmatch(r"Steps\.[^.]+\.ModelArtifacts\.S3ModelArtifacts", path):
                producer = self.steps.get(path.split(".")[1], {})
                out = producer.get("Arguments", {}).get("OutputDataConfig", {}).get("S3OutputPath")
                base = self.uri(out, ctx, res, step) if out is not None else None
                if base:
                    return base.rstrip("/") + "/{training-job}/output/model.tar.gz"
            elif match := re.fullmatch(r"Steps\.([^.]+)\.TransformOutput\.S3OutputPath", path):
                out = self.steps.get(match[1], {}).get("Arguments", {}).get("TransformOutput", {}).get("S3OutputPath")
                return self.uri(out, ctx, res, step) if out is not None else None
        ctx.problem(res, "uninterpreted", f"step {step}: value {json.dumps(value)} not interpreted")
        return None


def _training_accesses(ctx: Context, res: Res, definition: PipelineDefinition, step: str, job: dict,
                       via: str) -> None:
    role = ctx.role(job.get("RoleArn", ""), res)
    for channel in job.get("InputDataConfig", []):
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is not None:
            kind = "prefix" if source.get("S3DataType", "S3Prefix") == "S3Prefix" else "object"
            ctx.read(res, definition.uri(source.get("S3Uri"), ctx, res, step), role,
                     f"{via} channel {channel.get('ChannelName')}", kind=kind)
    output = job.get("OutputDataConfig", {}).get("S3OutputPath")
    if output is not None:
        ctx.write(res, definition.uri(output, ctx, res, step), role, f"{via} OutputDataConfig")
    checkpoint = job.get("CheckpointConfig", {}).get("S3Uri")
    if checkpoint is not None:  # uploaded during training, downloaded again when a spot job resumes
        uri = definition.uri(checkpoint, ctx, res, step)
        ctx.write(res, uri, role, f"{via} CheckpointConfig")
        ctx.read(res, uri, role, f"{via} CheckpointConfig", kind="folder")
    for name in ("DebugHookConfig", "ProfilerConfig", "TensorBoardOutputConfig"):
        if job.get(name, {}).get("S3OutputPath") is not None:
            ctx.write(res, definition.uri(job[name]["S3OutputPath"], ctx, res, step), role, f"{via} {name}")


@extractor("AWS::SageMaker::Pipeline")
def sagemaker_pipeline(ctx: Context, res: Res) -> None:
    """Each step's inputs and outputs as the step's ``RoleArn``: Processing (ProcessingInputs,
    ``--<name>-uri`` container arguments the script reads itself, ProcessingOutputConfig), Training and Tuning (InputDataConfig, OutputDataConfig,
    CheckpointConfig), Transform and CreateModel (as the model's role); property files that
    conditions read (``Std:JsonGet``) as the pipeline's ``RoleArn``. RegisterModel records what it
    registers (read later by the models that deploy the package); Condition and Fail touch no data.
    """
    definition = ctx.pipeline(res)
    if definition is None:
        return
    pipeline_role = ctx.role(res.props.get("RoleArn"), res)
    for name, step in definition.steps.items():
        kind, args = step.get("Type"), step.get("Arguments", {})
        if kind == "Processing":
            role = ctx.role(args.get("RoleArn", ""), res)
            for item in args.get("ProcessingInputs", []):
                if "S3Input" in item:
                    s3_input = item["S3Input"]
                    shape = "prefix" if s3_input.get("S3DataType", "S3Prefix") == "S3Prefix" else "object"
                    ctx.read(res, definition.uri(s3_input.get("S3Uri"), ctx, res, name), role,
                             f"step {name} input {item.get('InputName')}", kind=shape)
                else:
                    ctx.problem(res, "uninterpreted", f"step {name} input {item.get('InputName')}: "
                                                      f"{sorted(item)} not interpreted")
            arguments = args.get("AppSpecification", {}).get("ContainerArguments", [])
            for flag, value in zip(arguments, arguments[1:]):
                # A script that reads S3 itself (e.g. the Features step's --feedback-uri, read with
                # boto3 because SageMaker refuses an input prefix without objects) reads as the step's role.
                if isinstance(flag, str) and flag.startswith("--") and flag.endswith("-uri"):
                    ctx.read(res, definition.uri(value, ctx, res, name), role, f"step {name} argument {flag}",
                             kind="prefix")
            for item in args.get("ProcessingOutputConfig", {}).get("Outputs", []):
                if "S3Output" in item:
                    ctx.write(res, definition.uri(item["S3Output"].get("S3Uri"), ctx, res, name), role,
                              f"step {name} output {item.get('OutputName')}")
                else:
                    ctx.problem(res, "uninterpreted", f"step {name} output {item.get('OutputName')} not interpreted")
        elif kind == "Training":
            _training_accesses(ctx, res, definition, name, args, f"step {name}")
        elif kind == "Tuning":
            jobs = [args["TrainingJobDefinition"]] if "TrainingJobDefinition" in args else args.get("TrainingJobDefinitions", [])
            for i, job in enumerate(jobs):
                _training_accesses(ctx, res, definition, name, job, f"step {name}" + (f" definition {i}" if len(jobs) > 1 else ""))
        elif kind in ("Model", "CreateModel"):
            role = ctx.role(args.get("ExecutionRoleArn", ""), res)
            for i, c in enumerate(args.get("Containers", []) or ([args["PrimaryContainer"]] if "PrimaryContainer" in args else [])):
                if "ModelDataUrl" in c:
                    ctx.read(res, definition.uri(c["ModelDataUrl"], ctx, res, name), role,
                             f"step {name} Containers[{i}].ModelDataUrl", kind="object")
        elif kind == "Transform":
            model = args.get("ModelName")
            model_step = definition.steps.get(model["Get"].split(".")[1], {}) if isinstance(model, dict) else {}
            role = ctx.role(model_step.get("Arguments", {}).get("ExecutionRoleArn", ""), res)
            source = args.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource", {})
            ctx.read(res, definition.uri(source.get("S3Uri"), ctx, res, name), role, f"step {name} TransformInput",
                     kind="prefix" if source.get("S3DataType", "S3Prefix") == "S3Prefix" else "object")
            ctx.write(res, definition.uri(args.get("TransformOutput", {}).get("S3OutputPath"), ctx, res, name), role,
                      f"step {name} TransformOutput")
        elif kind not in ("RegisterModel", "Condition", "Fail"):
            ctx.problem(res, "uninterpreted", f"step {name} of type {kind} not interpreted")
    for value in _walk(definition.steps):
        if isinstance(value, dict) and "Std:JsonGet" in value:
            _property_file_read(ctx, res, definition, value["Std:JsonGet"], pipeline_role)


def _property_file_read(ctx: Context, res: Res, definition: PipelineDefinition, get: Mapping, role: str | None) -> None:
    reference = get.get("PropertyFile", {})
    path = reference.get("Get", "") if isinstance(reference, dict) else ""
    match = re.fullmatch(r"Steps\.([^.]+)\.PropertyFiles\.(.+)", path)
    step = definition.steps.get(match[1], {}) if match else {}
    files = [f for f in step.get("PropertyFiles", []) if match and f.get("PropertyFileName") == match[2]]
    outputs = step.get("Arguments", {}).get("ProcessingOutputConfig", {}).get("Outputs", [])
    output = next((o for o in outputs if files and o.get("OutputName") == files[0].get("OutputName")), None)
    if output is None:
        ctx.problem(res, "uninterpreted", f"Std:JsonGet {json.dumps(get)} not interpreted")
        return
    base = definition.uri(output.get("S3Output", {}).get("S3Uri"), ctx, res, match[1])
    if base:
        ctx.read(res, folder(base) + files[0]["FilePath"], role, f"property file {match[2]} of step {match[1]}",
                 kind="object")


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


@extractor("AWS::SageMaker::FeatureGroup")
def feature_group(ctx: Context, res: Res) -> None:
    """Feature Store writes (and reads back) the offline store as ``RoleArn``:
    ``OfflineStoreConfig.S3StorageConfig.S3Uri``."""
    store = (res.props.get("OfflineStoreConfig") or {}).get("S3StorageConfig")
    if store is None:
        return
    role = ctx.role(res.props.get("RoleArn"), res)
    ctx.write(res, ctx.text(store["S3Uri"], res), role, "OfflineStoreConfig.S3StorageConfig.S3Uri")


# -- SageMaker: models, endpoints, transform jobs -------------------------------------------------


@extractor("AWS::SageMaker::Model")
def sagemaker_model(ctx: Context, res: Res) -> None:
    """Reads each container's model data as ``ExecutionRoleArn``: ``ModelDataUrl``,
    ``ModelDataSource``, or for ``ModelPackageName`` what the package's registrar registered (a
    pipeline's RegisterModel step into that model package group)."""
    role = ctx.role(res.props.get("ExecutionRoleArn"), res)
    containers = res.props.get("Containers") or ([res.props["PrimaryContainer"]] if "PrimaryContainer" in res.props else [])
    for i, c in enumerate(containers):
        via = f"Containers[{i}]"
        if "ModelDataUrl" in c:
            ctx.read(res, ctx.text(c["ModelDataUrl"], res), role, f"{via}.ModelDataUrl")
        elif "ModelDataSource" in c:
            source = c["ModelDataSource"].get("S3DataSource", {})
            ctx.read(res, ctx.text(source.get("S3Uri"), res), role, f"{via}.ModelDataSource",
                     kind="prefix" if source.get("S3DataType") == "S3Prefix" else "object")
        elif "ModelPackageName" in c:
            package = ctx.text(c["ModelPackageName"], res)
            match = re.search(r":model-package/([^/]+)(?:/\d+)?$", package)
            # version: approved names the promotion's parameter, /<prefix>/<env>/models/<model>/approved-package,
            # which holds versions of the group <prefix>-<env>-<model>
            approved = re.fullmatch(r"/([^/]+)/([^/]+)/models/([^/]+)/approved-package", package)
            group = match[1] if match else "-".join(approved.groups()) if approved else package
            registered = ctx.registered_model_data(group)
            if not registered:
                ctx.problem(res, "unwritten", f"{via}.ModelPackageName {package}: no pipeline step or model "
                                              f"package of the templates registers into group {group}")
            for uri, registrar, step in registered:
                ctx.read(res, uri, role, f"{via}.ModelPackageName {group} ({registrar.logical_id} {step})", kind="object")


def _variant_roles(ctx: Context, config: Res) -> list[str | None]:
    roles = []
    for variant in config.props.get("ProductionVariants", []) + config.props.get("ShadowProductionVariants", []):
        model = ctx.referenced(variant.get("ModelName"), config, "AWS::SageMaker::Model", "ModelName")
        if model is None:
            ctx.problem(config, "unresolved", f"variant {variant.get('VariantName')}: model "
                                              f"{ctx.text(variant.get('ModelName'), config)} is not in the templates")
            continue
        roles.append(ctx.role(model.props.get("ExecutionRoleArn"), model))
    return list(dict.fromkeys(roles))


@extractor("AWS::SageMaker::EndpointConfig")
def endpoint_config(ctx: Context, res: Res) -> None:
    """Writes data capture (``DataCaptureConfig.DestinationS3Uri``/``<endpoint name>/`` for each
    endpoint of this config) and asynchronous results (``AsyncInferenceConfig.OutputConfig``
    ``S3OutputPath``/``S3FailurePath``) as the role of each variant's model."""
    roles = _variant_roles(ctx, res)
    capture = res.props.get("DataCaptureConfig")
    if capture and capture.get("EnableCapture", True) is not False:
        destination = folder(ctx.text(capture.get("DestinationS3Uri"), res))
        endpoints = [e for e in ctx.resources("AWS::SageMaker::Endpoint")
                     if ctx.resolver.target(e.props.get("EndpointConfigName"), e.stack) == (res.stack, res.logical_id)]
        names = [ctx.text(e.props.get("EndpointName"), e) or "{endpoint}" for e in endpoints] or ["{endpoint}"]
        for role in roles:
            for name in names:
                ctx.write(res, f"{destination}{name}/", role, "DataCaptureConfig.DestinationS3Uri")
    output = (res.props.get("AsyncInferenceConfig") or {}).get("OutputConfig", {})
    for key in ("S3OutputPath", "S3FailurePath"):
        if key in output:
            for role in roles:
                ctx.write(res, ctx.text(output[key], res), role, f"AsyncInferenceConfig.OutputConfig.{key}")


@extractor("AWS::Scheduler::Schedule")
def scheduler_schedule(ctx: Context, res: Res) -> None:
    """A ``createTransformJob`` target: the transform reads ``TransformInput`` and writes
    ``TransformOutput`` as its model's role (``<aws.scheduler.execution-id>`` is a per-run folder).
    Other targets are checked only for lake locations they might name."""
    target = res.props.get("Target", {})
    arn = ctx.text(target.get("Arn"), res)
    payload = ctx.text(target.get("Input", ""), res)
    if not arn.endswith(":sagemaker:createTransformJob"):
        if _LAKE_BUCKET.search(payload):
            ctx.problem(res, "uninterpreted", f"target {arn} with a lake location in its Input not interpreted")
        return
    payload = re.sub(r"<aws\.scheduler\.([a-z-]+)>", r"{\1}", payload)
    try:
        request = json.loads(payload)
    except ValueError as error:
        ctx.problem(res, "uninterpreted", f"Target.Input is not JSON after resolving: {error}")
        return
    model = ctx.referenced(request.get("ModelName", ""), res, "AWS::SageMaker::Model", "ModelName")
    if model is None:
        ctx.problem(res, "unresolved", f"transform model {request.get('ModelName')} is not in the templates")
        return
    role = ctx.role(model.props.get("ExecutionRoleArn"), model)
    source = request.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource", {})
    ctx.read(res, source.get("S3Uri"), role, f"createTransformJob TransformInput (model {model.logical_id})",
             kind="prefix" if source.get("S3DataType", "S3Prefix") == "S3Prefix" else "object")
    ctx.write(res, request.get("TransformOutput", {}).get("S3OutputPath"), role,
              f"createTransformJob TransformOutput (model {model.logical_id})")
    capture = request.get("DataCaptureConfig", {}).get("DestinationS3Uri")
    ctx.write(res, capture, role, f"createTransformJob DataCaptureConfig (model {model.logical_id})")


# -- SageMaker: monitoring ------------------------------------------------------------------------

_MONITOR_PREFIX = {"AWS::SageMaker::DataQualityJobDefinition": "DataQuality",
                   "AWS::SageMaker::ModelQualityJobDefinition": "ModelQuality",
                   "AWS::SageMaker::ModelBiasJobDefinition": "ModelBias",
                   "AWS::SageMaker::ModelExplainabilityJobDefinition": "ModelExplainability"}


def _monitor_input(ctx: Context, res: Res, job_input: Mapping, role: str | None, via: str) -> None:
    endpoint = job_input.get("EndpointInput")
    if endpoint is not None:
        name = ctx.text(endpoint.get("EndpointName"), res)
        ctx.read(res, ctx.capture_uri(name, res), role, f"{via}.EndpointInput (data capture of {name})")
    batch = job_input.get("BatchTransformInput")
    if batch is not None:
        ctx.read(res, ctx.text(batch.get("DataCapturedDestinationS3Uri"), res), role, f"{via}.BatchTransformInput")
    truth = job_input.get("GroundTruthS3Input")
    if truth is not None:
        ctx.read(res, ctx.text(truth.get("S3Uri"), res), role, f"{via}.GroundTruthS3Input", kind="prefix")


def _monitor_outputs(ctx: Context, res: Res, config: Mapping, role: str | None, via: str) -> None:
    for i, output in enumerate(config.get("MonitoringOutputs", [])):
        ctx.write(res, ctx.text(output.get("S3Output", {}).get("S3Uri"), res), role, f"{via}.MonitoringOutputs[{i}]")


def _monitor_baselines(ctx: Context, res: Res, baseline: Mapping, role: str | None, via: str) -> None:
    for name in ("ConstraintsResource", "StatisticsResource"):
        if "S3Uri" in baseline.get(name, {}):
            ctx.read(res, ctx.text(baseline[name]["S3Uri"], res), role, f"{via}.{name}", kind="object")


def _monitor_app(ctx: Context, res: Res, app: Mapping, role: str | None, via: str) -> None:
    for name in ("ConfigUri", "RecordPreprocessorSourceUri", "PostAnalyticsProcessorSourceUri"):
        if name in app:
            ctx.read(res, ctx.text(app[name], res), role, f"{via}.{name}", kind="object")


@extractor(*_MONITOR_PREFIX)
def monitoring_job_definition(ctx: Context, res: Res) -> None:
    """Reads the monitored endpoint's data capture, ground truth and baselines (and analysis
    configuration), writes its reports; as ``RoleArn``."""
    prefix = _MONITOR_PREFIX[res.type]
    role = ctx.role(res.props.get("RoleArn"), res)
    _monitor_input(ctx, res, res.props.get(f"{prefix}JobInput", {}), role, f"{prefix}JobInput")
    _monitor_baselines(ctx, res, res.props.get(f"{prefix}BaselineConfig", {}), role, f"{prefix}BaselineConfig")
    _monitor_app(ctx, res, res.props.get(f"{prefix}AppSpecification", {}), role, f"{prefix}AppSpecification")
    _monitor_outputs(ctx, res, res.props.get(f"{prefix}JobOutputConfig", {}), role, f"{prefix}JobOutputConfig")


@extractor("AWS::SageMaker::MonitoringSchedule")
def monitoring_schedule(ctx: Context, res: Res) -> None:
    """A schedule naming a job definition touches nothing itself; an inline
    ``MonitoringJobDefinition`` is read like the job definition types."""
    job = res.props.get("MonitoringScheduleConfig", {}).get("MonitoringJobDefinition")
    if job is None:
        return
    role = ctx.role(job.get("RoleArn"), res)
    for i, item in enumerate(job.get("MonitoringInputs", [])):
        _monitor_input(ctx, res, item, role, f"MonitoringInputs[{i}]")
    _monitor_baselines(ctx, res, job.get("BaselineConfig", {}), role, "BaselineConfig")
    _monitor_app(ctx, res, job.get("MonitoringAppSpecification", {}), role, "MonitoringAppSpecification")
    _monitor_outputs(ctx, res, job.get("MonitoringOutputConfig", {}), role, "MonitoringOutputConfig")


@extractor("AWS::SageMaker::ModelPackage")
def model_package(ctx: Context, res: Res) -> None:
    """Registers model data (read by the models that deploy it); touches no data itself."""


# -- landings -------------------------------------------------------------------------------------


def declared_landings(config: Any | None) -> list[Location]:
    """Locations written from outside the platform: every prefix of :data:`LANDING_ZONES`, and each
    ``{zone, key}`` object of :data:`DEPLOY_INPUT_ZONES` the environment's config gives (monitoring
    baselines, model data of serving containers: placed before a deploy).

    :param config: an :class:`ml_platform.config.EnvironmentConfig`, or ``None`` (zones only).
    """
    found = [Location(zone, "", "prefix") for zone in LANDING_ZONES]
    if config is not None:
        for value in _walk(config.model_dump(mode="json")):
            if (isinstance(value, dict) and isinstance(value.get("key"), str)
                    and value.get("zone") in DEPLOY_INPUT_ZONES):
                found.append(Location(value["zone"], value["key"], "object"))
    return sorted(set(found))


# -- IAM ------------------------------------------------------------------------------------------


class Policies:
    """The identity policies of each role of an environment, evaluated with moto's IAM evaluator.

    A role's policies are its inline ``Policies``, the ``AWS::IAM::Policy``/``ManagedPolicy``/
    ``RolePolicy`` resources that name it in ``Roles``/``RoleName`` (in any stack), and its
    ``ManagedPolicyArns`` that are policies of the templates; a ``PermissionsBoundary`` of the
    templates must allow too. AWS managed policies cannot be evaluated: they are listed in
    :attr:`unevaluated` (today's roles have none that touch the lake).

    moto semantics (moto/iam/access_control.py): an explicit Deny wins, else any Allow, else denied;
    ``*`` in actions and resources is a wildcard (``?`` is not); conditions are not evaluated
    (only ``StringEquals`` on values the caller passes, and the check passes none), so
    ``kms:ViaService`` and ``s3:prefix`` conditions count as met; a statement without ``Resource``
    (``NotResource``) matches every resource. Actions are compared case-sensitively, so both sides
    are lower-cased here.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx, self.resolver = ctx, ctx.resolver
        self.documents: dict[str, list[dict]] = {}
        self.boundaries: dict[str, list[dict]] = {}
        self.unevaluated: dict[str, list[str]] = {}
        self._evaluators: dict[str, Any] = {}
        self.evaluated: dict[tuple[str, str, str], bool] = {}
        managed = {}
        for res in ctx.resources("AWS::IAM::ManagedPolicy"):
            managed[f"policy:{res.stack}/{res.logical_id}"] = self._document(res.props.get("PolicyDocument"), res)
        for res in ctx.resources("AWS::IAM::Role"):
            symbol = self.resolver.role_symbol[(res.stack, res.logical_id)]
            docs = self.documents.setdefault(symbol, [])
            docs += [self._document(p.get("PolicyDocument"), res) for p in res.props.get("Policies", [])]
            for arn in res.props.get("ManagedPolicyArns", []):
                text = ctx.text(arn, res)
                if text in managed:
                    docs.append(managed[text])
                else:
                    self.unevaluated.setdefault(symbol, []).append(text)
            if "PermissionsBoundary" in res.props:
                text = ctx.text(res.props["PermissionsBoundary"], res)
                if text in managed:
                    self.boundaries[symbol] = [managed[text]]
                else:
                    self.unevaluated.setdefault(symbol, []).append(f"boundary {text}")
        for res in ctx.resources("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            names = res.props.get("Roles", []) if res.type != "AWS::IAM::RolePolicy" else [res.props.get("RoleName")]
            for name in names:
                symbol = ctx.role(name, res)
                if symbol is not None:
                    self.documents.setdefault(symbol, []).append(self._document(res.props.get("PolicyDocument"), res))

    def _document(self, document: Any, res: Res) -> dict:
        resolved = self.resolver.resolve(document or {}, res.stack)
        return json.loads(self.resolver.concrete(json.dumps(resolved)))

    def allows(self, role: str, action: str, resource: str) -> bool:
        """Whether ``role`` may ``action`` on ``resource`` (concrete names), memoized."""
        key = (role, action, resource)
        if key not in self.evaluated:
            self.evaluated[key] = self._permitted(self.documents.get(role, []), role, action, resource) and (
                role not in self.boundaries or self._permitted(self.boundaries[role], f"{role} boundary", action, resource))
        return self.evaluated[key]

    def _permitted(self, documents: list[dict], name: str, action: str, resource: str) -> bool:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if name not in self._evaluators:
            statements = []
            for document in documents:
                found = document.get("Statement", [])
                statements += found if isinstance(found, list) else [found]
            statements = [_lower_actions(s) for s in statements]
            self._evaluators[name] = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": statements}))
        return self._evaluators[name].is_action_permitted(action.lower(), resource) == PermissionResult.PERMITTED


def _lower_actions(statement: dict) -> dict:
    statement = dict(statement)
    for key in ("Action", "NotAction"):
        if isinstance(statement.get(key), str):
            statement[key] = statement[key].lower()
        elif isinstance(statement.get(key), list):
            statement[key] = [a.lower() for a in statement[key]]
    return statement


#: What the service needs for each mode: ``(action, resource)`` with ``{object}``, ``{bucket}`` and
#: ``{key}`` filled in per access.
REQUIRED_ACTIONS = {
    "read": (("s3:GetObject", "{object}"), ("s3:ListBucket", "{bucket}"), ("kms:Decrypt", "{key}")),
    "write": (("s3:PutObject", "{object}"), ("kms:GenerateDataKey", "{key}")),
}


# -- the check ------------------------------------------------------------------------------------


def check_environment(env: str, stacks: Mapping[str, Mapping], config: Any | None = None) -> Report:
    """The lineage report of one environment's templates ``{stack name: template}``.

    :param config: the environment's :class:`~ml_platform.config.EnvironmentConfig` (declared
        landings, region and account); without it only :data:`LANDING_ZONES` are declared.
    """
    resolver = Resolver(stacks, region=getattr(config, "region", "us-east-1"),
                        account=getattr(config, "account", "123456789012"))
    ctx = Context(env, resolver)
    if not resolver.zone_of:
        ctx.notes.append("no lake buckets found (DataLake/<Zone>Bucket)")
    for res in ctx.resources():
        extract = EXTRACTORS.get(res.type)
        if extract is not None:
            extract(ctx, res)
        elif res.type not in NOT_DATA_FLOW:
            named = sorted(set(m[0] for m in _LAKE_BUCKET.finditer(resolver.text(res.props, res.stack))))
            if named:
                ctx.problem(res, "uninterpreted", f"names {', '.join(named)} but {res.type} has no extractor "
                                                  "in EXTRACTORS")
    if any(True for _ in ctx.resources("AWS::SageMaker::Workteam")):
        ctx.notes.append("Ground Truth labeling jobs are started outside CloudFormation: their input and output "
                         "appear only as grants of the labeling role and are not checked here")
    accesses = sorted(set(ctx.accesses), key=lambda a: (a.stack, a.logical_id, a.mode, a.location, a.role or "", a.via))
    report = Report(env, accesses, ctx.problems, ctx.notes)

    writes = [a for a in report.accesses if a.mode == "write"]
    landings = declared_landings(config)
    for read in (a for a in report.accesses if a.mode == "read"):
        if any(w.location.hands_over_to(read.location) for w in writes):
            report.handoffs += 1
        elif not any(d.hands_over_to(read.location) for d in landings):
            report.problems.append(Problem(env, "unwritten", read.type, read.logical_id, read.stack,
                                           f"reads {read.location} as {read.role or 'its caller'} ({read.via}): "
                                           "written by no platform resource and not a declared landing"))

    policies = Policies(ctx)  # its findings (unresolvable roles of policies) land in ctx.problems
    for role, arns in sorted(policies.unevaluated.items()):
        if any(a.role == role for a in report.accesses):
            report.notes.append(f"{role}: not evaluated: {', '.join(arns)}")
    for access in report.accesses:
        if access.role is None:
            continue
        bucket = f"lake-{access.location.zone}"
        fill = {"object": access.location.object_arn(bucket), "bucket": f"arn:aws:s3:::{bucket}", "key": resolver.key_arn}
        for action, template in REQUIRED_ACTIONS[access.mode]:
            resource = template.format(**fill)
            if not policies.allows(access.role, action, resource):
                report.problems.append(Problem(env, "denied", access.type, access.logical_id, access.stack,
                                               f"{access.mode}s {access.location} as {access.role} ({access.via}): "
                                               f"{action} denied on {resource}"))
    report.evaluations = len(policies.evaluated)
    report.problems = sorted(set(report.problems))
    return report


def check_all(templates: Mapping[str, Mapping[str, Mapping]], configs: Mapping[str, Any] | None = None) -> list[Report]:
    """One report per environment of ``{env: {stack name: template}}``."""
    return [check_environment(env, stacks, (configs or {}).get(env)) for env, stacks in sorted(templates.items())]


def render(reports: list[Report], *, details: bool = True) -> str:
    """The figures of each environment and the total, then (``details``) problems and notes."""
    lines = [r.figure() for r in reports] + [total_line(reports)]
    if details:
        for report in reports:
            lines += [f"  problem: {p}" for p in report.problems]
            lines += [f"  note: {report.env}: {n}" for n in report.notes]
    return "\n".join(lines)
