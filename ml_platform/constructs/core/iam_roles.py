"""``ManagedPolicyRole``: a role whose permissions live in one customer-managed policy.

HIPAA, NIST 800-53 and PCI DSS packs reject inline policies; an ``iam.Role`` puts every grant
(including those aws-cdk-lib's L2s add to a role they are given) into an inline default policy.
This role sends them all to its own managed policies instead: a statement that would take the
current policy past IAM's managed policy size (:data:`~ml_platform.constructs.core.iam_limits.MANAGED_POLICY_MAX_CHARS`,
tokens estimated as :mod:`~ml_platform.constructs.core.iam_limits` does) goes to the next one,
``Policy2``, ``Policy3``, ...; more than
:data:`~ml_platform.constructs.core.iam_limits.MANAGED_POLICIES_PER_ROLE` attached policies is an error.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import FeatureFlags, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct, Dependable, IConstruct

from ml_platform.constructs.core.iam_limits import (
    EMPTY_DOCUMENT_CHARS,
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_MAX_CHARS,
    bounding_statement,
    document_chars,
    estimated_statement,
)
from ml_platform.constructs.core.validation import check_problems


class ManagedPolicyRole(iam.Role):
    """An ``iam.Role`` (same keyword arguments) whose statements go to :attr:`policies`.

    :ivar policy: the first customer-managed policy, attached to this role only and created with
        the first statement (a role without statements has none: IAM refuses empty policies).
    :ivar policies: every policy of the role's statements, in order; one unless a statement did
        not fit into :data:`MANAGED_POLICY_MAX_CHARS` characters of the previous one.
    :raises ValueError: (from a grant) if the statements need more managed policies than the
        :data:`MANAGED_POLICIES_PER_ROLE` IAM attaches to a role, counting ``managed_policies``.
    """

    def __init__(self, scope: Construct, construct_id: str, **role_props: Any) -> None:
        super().__init__(scope, construct_id, **role_props)
        self._policies: list[iam.ManagedPolicy] = []
        # the last policy: its statements, by what they merge on, and their characters still free
        self._merged: dict[str, set[str]] = {}
        self._statements: list[iam.PolicyStatement] = []
        self._precise = False
        self._free_chars = 0
        self._minimize_flag: bool | None = None
        self._stack = Stack.of(self)
        self._other_policies = len(role_props.get("managed_policies") or [])
        # Whatever depends on this role (a function, a job) waits for its policies, which
        # themselves follow the role; a DependsOn on the role too would only repeat its ARN reference.
        Dependable.implement(self, _PolicyFirst(self))

    @property
    def policy(self) -> iam.ManagedPolicy:
        if not self._policies:
            self._add_policy()
        return self._policies[0]

    @property
    def policies(self) -> list[iam.ManagedPolicy]:
        return list(self._policies)

    def add_managed_policy(self, policy: iam.IManagedPolicy) -> None:
        """Attach ``policy``; it counts toward :data:`MANAGED_POLICIES_PER_ROLE`."""
        self._other_policies += 1
        super().add_managed_policy(policy)

    def add_to_policy(self, statement: iam.PolicyStatement) -> bool:
        """:meth:`add_to_principal_policy` (called from Python, its ``ValueError`` stays one; through
        aws-cdk-lib's grants jsii raises it as a ``RuntimeError`` with the same message)."""
        return self.add_to_principal_policy(statement).statement_added

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        """Add ``statement`` to the role's last managed policy, or a new one if it would not fit.

        Statements are first measured by their cheap upper bound
        (:func:`~ml_platform.constructs.core.iam_limits.bounding_statement`); once the bounds of a
        policy's statements no longer fit, that policy's statements are measured again by their
        estimates, and so is every later statement of it. Where bounds fit, estimates fit too, so
        statements land in the same policies as if every one had been estimated.
        """
        estimate = (estimated_statement if self._precise else bounding_statement)(self._stack, statement)
        if self._policies and self._cost(estimate) > self._free_chars and self._merged and not self._precise:
            self._measure_precisely()
            estimate = estimated_statement(self._stack, statement)
        if not self._policies or self._cost(estimate) > self._free_chars and self._merged:
            self._add_policy()
        self._free_chars -= self._cost(estimate, record=True)
        self._statements.append(statement)
        policy = self._policies[-1]
        policy.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=policy)

    def _measure_precisely(self) -> None:
        """Measure the last policy again from its statements' estimates instead of their bounds."""
        statements = self._statements
        self._start_measuring()
        self._precise = True
        for statement in statements:
            self._free_chars -= self._cost(estimated_statement(self._stack, statement), record=True)
        self._statements = statements

    def _start_measuring(self) -> None:
        self._merged = {}
        self._statements = []
        self._precise = False
        self._free_chars = MANAGED_POLICY_MAX_CHARS - EMPTY_DOCUMENT_CHARS + 1  # the first statement has no comma

    def _cost(self, estimate: dict[str, Any], *, record: bool = False) -> int:
        """Characters ``estimate`` adds to the last policy: none for a duplicate, only its new
        resources where aws-cdk-lib merges it into a statement that differs only in them
        (``@aws-cdk/aws-iam:minimizePolicies``), else itself and a comma."""
        resources = estimate.get("Resource")
        merges = self._minimize and resources is not None
        key = json.dumps({k: v for k, v in estimate.items() if k != "Resource" or not merges}, sort_keys=True)
        listed = {json.dumps(r, sort_keys=True) for r in _as_list(resources)} if merges else set()
        known = self._merged.get(key)
        if known is None:
            if record:
                self._merged[key] = listed
            return document_chars(estimate) + 1
        new = listed - known
        brackets = 2 if new and len(known) == 1 else 0  # "Resource":"a" becomes "Resource":["a","b"]
        if record:
            known |= new
        return sum(len(r) + 1 for r in new) + brackets

    def _add_policy(self) -> None:
        number = len(self._policies) + 1
        attached = self._other_policies + number
        check_problems(f"ManagedPolicyRole {self.node.path}", [
            f"statements need {attached} managed policies of {MANAGED_POLICY_MAX_CHARS:,} characters with the "
            f"{self._other_policies} given; IAM attaches at most {MANAGED_POLICIES_PER_ROLE} to a role by default"
        ] if attached > MANAGED_POLICIES_PER_ROLE else [])
        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        policy = iam.ManagedPolicy(self, "Policy" if number == 1 else f"Policy{number}", roles=[self])  # pyright: ignore[reportArgumentType]
        self._policies.append(policy)
        self._start_measuring()

    @property
    def _minimize(self) -> bool:
        if self._minimize_flag is None:  # a feature flag is fixed once the app's context is read
            self._minimize_flag = FeatureFlags.of(self).is_enabled("@aws-cdk/aws-iam:minimizePolicies") is True
        return self._minimize_flag

    @classmethod
    def for_service(
        cls, scope: Construct, construct_id: str, *, service: str, description: str
    ) -> ManagedPolicyRole:
        """A role ``service`` (e.g. ``glue.amazonaws.com``) may assume on behalf of this account only.

        The ``aws:SourceAccount`` condition keeps the service from assuming it for another
        account (confused deputy).
        """
        return cls(
            scope,
            construct_id,
            assumed_by=iam.ServicePrincipal(
                service, conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}
            ),
            description=description,
        )


class _PolicyFirst(Dependable):
    def __init__(self, role: ManagedPolicyRole) -> None:
        super().__init__()
        self._role = role

    @property
    def dependency_roots(self) -> list[IConstruct]:
        # Read when dependencies resolve, after every statement was added. Without a policy there
        # is nothing to wait for beyond the role, which users reference by ARN anyway.
        return list(self._role._policies)


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]
