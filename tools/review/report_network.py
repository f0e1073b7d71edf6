"""Network paths of the review report: VPCs, security group rules, VPC endpoints, anything public."""

from __future__ import annotations

from typing import Any

from tools.review.report_iam import condition_words, principal_words
from tools.review.report_md import code, table, text
from tools.review.report_refs import Model, Target, uses_of

#: The rule CDK writes when a security group may send nothing (``allowAllOutbound=False``): it matches
#: no traffic and keeps EC2 from adding its default allow-all egress rule.
NO_EGRESS_PLACEHOLDER = {"CidrIp": "255.255.255.255/32", "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86}
#: Resource types that are public by nature, with what to say about them.
PUBLIC_TYPES = {
    "AWS::EC2::InternetGateway": "an internet gateway",
    "AWS::EC2::EgressOnlyInternetGateway": "an egress-only internet gateway (IPv6 out)",
    "AWS::EC2::NatGateway": "a NAT gateway (outbound internet)", "AWS::EC2::EIP": "an Elastic IP address",
    "AWS::Lambda::Url": "a Lambda function URL", "AWS::ApiGateway::RestApi": "an API Gateway REST API",
    "AWS::ApiGatewayV2::Api": "an API Gateway HTTP/WebSocket API",
    "AWS::CloudFront::Distribution": "a CloudFront distribution",
    "AWS::Cognito::UserPoolDomain": "a Cognito hosted sign-in domain (a public login page)",
}
#: Security group rule resources (not users of the group they belong to).
RULE_TYPES = frozenset({"AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"})
#: Properties that hold a resource-based policy document, per resource type.
POLICY_PROPERTIES = ("PolicyDocument", "KeyPolicy", "RepositoryPolicyText", "ResourcePolicy",
                     "AssumeRolePolicyDocument")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _ports(rule: dict) -> tuple[str, str]:
    protocol = str(rule.get("IpProtocol", "-1"))
    protocol = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}.get(protocol, protocol)
    low, high = rule.get("FromPort"), rule.get("ToPort")
    if protocol == "all" or (low in (None, -1) and high in (None, -1)) or (low == 0 and high == 65535):
        return protocol, "all"
    if protocol == "icmp":
        return protocol, f"type {low}, code {high}"
    return protocol, str(low) if low == high else f"{low}-{high}"


def _peer(model: Model, stack: str, rule: dict, group: Target, egress: bool) -> str:
    for key in ("CidrIp", "CidrIpv6"):
        if key in rule:
            cidr = model.text(stack, rule[key])
            return f"anywhere ({cidr})" if cidr in ("0.0.0.0/0", "::/0") else cidr
    for key in ("DestinationSecurityGroupId", "SourceSecurityGroupId"):
        if key in rule:
            peers = model.targets(stack, rule[key])
            if peers and (peers[0].stack, peers[0].logical) == (group.stack, group.logical):
                return "itself (same security group)"
            return model.resource_text(stack, rule[key])
    for key in ("DestinationPrefixListId", "SourcePrefixListId"):
        if key in rule:
            return f"prefix list {model.resource_text(stack, rule[key])}"
    return "(no peer)"


def security_group_rows(model: Model) -> list[list[str]]:
    """One row per rule: group, direction, protocol, ports, peer, description."""
    groups = model.of_type("AWS::EC2::SecurityGroup")
    rules: dict[tuple[str, str], list[tuple[str, str, dict]]] = {(g.stack, g.logical): [] for g in groups}
    for g in groups:
        props = model.resource(g).get("Properties") or {}
        for direction, key in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress")):
            rules[(g.stack, g.logical)] += [(direction, g.stack, r) for r in _as_list(props.get(key, []))
                                            if isinstance(r, dict)]
    for typ, direction in (("AWS::EC2::SecurityGroupIngress", "in"), ("AWS::EC2::SecurityGroupEgress", "out")):
        for rule_resource in model.of_type(typ):
            props = model.resource(rule_resource).get("Properties") or {}
            for g in model.targets(rule_resource.stack, props.get("GroupId")):
                rules.setdefault((g.stack, g.logical), []).append((direction, rule_resource.stack, props))
    rows = []
    for g in groups:
        name = f"{model.label(g)} ({model.short[g.stack]})"
        props = model.resource(g).get("Properties") or {}
        if "SecurityGroupEgress" not in props:
            rows.append([name, "out", "all", "all", "anywhere (0.0.0.0/0)",
                         "EC2 default: no egress rule given in the template"])
        for direction, stack, rule in rules[(g.stack, g.logical)]:
            if {k: rule.get(k) for k in NO_EGRESS_PLACEHOLDER} == NO_EGRESS_PLACEHOLDER:
                rows.append([name, direction, "none", "none", "nothing",
                             "placeholder rule that matches no traffic: no outbound allowed"])
                continue
            protocol, ports = _ports(rule)
            rows.append([name, direction, protocol, ports, _peer(model, stack, rule, g, direction == "out"),
                         text(model.text(stack, rule.get("Description", "")))])
    return sorted(rows)


def endpoint_rows(model: Model) -> list[list[str]]:
    rows = []
    for e in model.of_type("AWS::EC2::VPCEndpoint"):
        props = model.resource(e).get("Properties") or {}
        service = model.text(e.stack, props.get("ServiceName", ""))
        prefix = f"com.amazonaws.{model.region}."
        service = service[len(prefix):] if model.region and service.startswith(prefix) else service
        groups = ", ".join(model.resource_text(e.stack, g) for g in _as_list(props.get("SecurityGroupIds", [])))
        policy = "custom endpoint policy" if props.get("PolicyDocument") else "default policy (full access)"
        rows.append([model.label(e), model.short[e.stack], props.get("VpcEndpointType", "Gateway"), code(service),
                     "yes" if props.get("PrivateDnsEnabled") else "no", groups or "none", policy])
    return sorted(rows)


def vpc_rows(model: Model) -> list[list[str]]:
    rows = []
    for vpc in model.of_type("AWS::EC2::VPC"):
        props = model.resource(vpc).get("Properties") or {}
        subnets = [s for s in model.of_type("AWS::EC2::Subnet")
                   if vpc in [Target(t.stack, t.logical) for t in
                              model.targets(s.stack, (model.resource(s).get("Properties") or {}).get("VpcId"))]]
        public = [s for s in subnets if (model.resource(s).get("Properties") or {}).get("MapPublicIpOnLaunch")]
        logs = [f for f in model.of_type("AWS::EC2::FlowLog")
                if vpc in [Target(t.stack, t.logical) for t in
                           model.targets(f.stack, (model.resource(f).get("Properties") or {}).get("ResourceId"))]]
        traffic = ", ".join(sorted({str((model.resource(f).get("Properties") or {}).get("TrafficType", "ALL"))
                                    for f in logs}))
        rows.append([model.label(vpc), model.short[vpc.stack], code(model.text(vpc.stack, props.get("CidrBlock", ""))),
                     f"{len(subnets)} ({len(public)} public)", f"yes ({traffic})" if logs else "no"])
    return sorted(rows)


def public_items(model: Model) -> list[str]:
    """Everything that faces the internet or lets anyone in, as sentences (sorted)."""
    items = []
    for stack, logical, res in model.all_resources():
        typ, props = res.get("Type", ""), res.get("Properties") or {}
        where = f"{model.short[stack]}: {model.label(Target(stack, logical))}"
        if typ in PUBLIC_TYPES:
            items.append(f"{where} is {PUBLIC_TYPES[typ]}")
        if typ == "AWS::EC2::Subnet" and props.get("MapPublicIpOnLaunch") is True:
            items.append(f"{where} gives instances public IP addresses (public subnet)")
        if typ == "AWS::EC2::Route" and "GatewayId" in props:
            items.append(f"{where} routes {model.text(stack, props.get('DestinationCidrBlock', ''))} "
                         f"to {model.resource_text(stack, props['GatewayId'])}")
        if typ == "AWS::ElasticLoadBalancingV2::LoadBalancer" and props.get("Scheme", "internet-facing") != "internal":
            items.append(f"{where} is an internet-facing load balancer")
        if typ == "AWS::SageMaker::NotebookInstance" and props.get("DirectInternetAccess", "Enabled") != "Disabled":
            items.append(f"{where} is a notebook with direct internet access")
        if typ == "AWS::S3::Bucket":
            block = props.get("PublicAccessBlockConfiguration") or {}
            flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
            if not all(block.get(f) is True for f in flags):
                items.append(f"{where} does not block all public access")
        for network_interface in _as_list(props.get("NetworkInterfaces", [])):
            if isinstance(network_interface, dict) and network_interface.get("AssociatePublicIpAddress"):
                items.append(f"{where} gets a public IP address")
        if typ == "AWS::Lambda::Permission" and model.text(stack, props.get("Principal")) == "*":
            items.append(f"{where} lets anyone invoke the function")
        ingress = [props] if typ == "AWS::EC2::SecurityGroupIngress" else \
            _as_list(props.get("SecurityGroupIngress", [])) if typ == "AWS::EC2::SecurityGroup" else []
        for rule in ingress:
            if isinstance(rule, dict) and (model.text(stack, rule.get("CidrIp", "")) == "0.0.0.0/0"
                                           or model.text(stack, rule.get("CidrIpv6", "")) == "::/0"):
                items.append(f"{where} allows inbound from anywhere")
        for key in POLICY_PROPERTIES:
            document = props.get(key)
            for statement in _as_list(document.get("Statement", []) if isinstance(document, dict) else []):
                if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                    continue
                if any(p.startswith("anyone") for p in principal_words(model, stack, statement.get("Principal"))):
                    condition = condition_words(model, stack, statement.get("Condition"))
                    actions = ", ".join(model.text(stack, a) for a in _as_list(statement.get("Action", [])))
                    items.append(f"{where} {key} allows anyone (`*`) {code(actions)}"
                                 + (f", {condition}" if condition else ", with no condition"))
    return sorted(set(items))


def render_network(model: Model) -> list[str]:
    lines = ["## Network paths", ""]
    public = public_items(model)
    if public:
        lines += ["**Public exposure:**", ""] + [f"- {p}" for p in public] + [""]
    else:
        lines += ["**Nothing public**: no internet or NAT gateway, no public subnet or public IP, no ingress "
                  "from anywhere, no resource policy that allows `*`, every bucket blocks public access.", ""]
    vpcs = vpc_rows(model)
    lines += ["### VPCs", ""] + (table(["VPC", "Stack", "CIDR", "Subnets", "Flow logs"], vpcs) if vpcs
                                  else ["No VPC in these templates."]) + [""]
    groups = security_group_rows(model)
    lines += ["### Security groups", ""]
    lines += (table(["Security group", "Direction", "Protocol", "Ports", "Peer", "Description"], groups)
              if groups else ["No security group in these templates."]) + [""]
    users = []
    for g in model.of_type("AWS::EC2::SecurityGroup"):
        names = sorted({f"{model.short[s]}: {model.name(Target(s, lid))}" for s, lid, _ in uses_of(model, g)
                        if model.resources(s)[lid].get("Type") not in RULE_TYPES})
        users.append([f"{model.label(g)} ({model.short[g.stack]})", ", ".join(names) or "nothing"])
    if users:
        lines += table(["Security group", "Attached to"], sorted(users)) + [""]
    endpoints = endpoint_rows(model)
    lines += ["### VPC endpoints", ""]
    lines += (table(["Endpoint", "Stack", "Type", "Service", "Private DNS", "Security groups", "Policy"], endpoints)
              if endpoints else ["No VPC endpoint in these templates."]) + [""]
    return lines
