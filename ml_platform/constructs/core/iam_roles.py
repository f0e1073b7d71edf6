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
from collections.abc import Mapping
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

#: Characters free in an empty managed policy for statements (the first statement has no comma).
_START_CHARS = MANAGED_POLICY_MAX_CHARS - EMPTY_DOCUMENT_CHARS + 1


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
        # the last policy: its statements and their estimates (bounds until precise), the
        # estimates by what they merge on, and the policy's characters still free
        self._merged: dict[str, set[str]] = {}
        self._statements: list[iam.PolicyStatement] = []
        self._estimates: list[dict[str, Any]] = []
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
        self._estimates.append(estimate)
        policy = self._policies[-1]
        policy.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=policy)

    def try_grow(self, statement: iam.PolicyStatement, conditions: Mapping[str, Mapping[str, Any]]) -> bool:
        """Give ``statement`` (added to this role) ``conditions`` if its policy still fits; else leave it.

        Each operator of ``conditions`` is added as ``PolicyStatement.add_condition`` adds it (its
        keys replace the statement's values of the same operator and key). Only a statement of the
        role's last policy can grow: the policy is measured again with the grown statement, as
        :meth:`add_to_principal_policy` measures (bounds, then estimates), and refused past
        :data:`MANAGED_POLICY_MAX_CHARS`. A statement of an earlier policy, or one aws-cdk-lib has
        frozen (rendered), is refused.

        :returns: whether ``statement`` grew; if not, add a new statement instead.
        """
        index = next((i for i, s in enumerate(self._statements) if _same(s, statement)), None)
        if index is None or statement.frozen:
            return False
        grown = statement.copy()
        for operator, value in conditions.items():
            grown.add_condition(operator, value)
        measure = estimated_statement if self._precise else bounding_statement
        estimates = [*self._estimates[:index], measure(self._stack, grown), *self._estimates[index + 1:]]
        if self._measure(estimates)[0] < 0 and not self._precise:
            self._measure_precisely()
            estimates = [*self._estimates[:index], estimated_statement(self._stack, grown),
                         *self._estimates[index + 1:]]
        free, merged = self._measure(estimates)
        if free < 0:
            return False
        for operator, value in conditions.items():
            statement.add_condition(operator, value)
        self._estimates, self._free_chars, self._merged = estimates, free, merged
        return True

    def _measure_precisely(self) -> None:
        """Measure the last policy again from its statements' estimates instead of their bounds."""
        self._precise = True
        self._estimates = [estimated_statement(self._stack, s) for s in self._statements]
        self._free_chars, self._merged = self._measure(self._estimates)

    def _measure(self, estimates: list[dict[str, Any]]) -> tuple[int, dict[str, set[str]]]:
        """The characters still free in a policy of ``estimates``, and them by what they merge on."""
        free, merged = _START_CHARS, dict[str, set[str]]()
        for estimate in estimates:
            free -= self._cost(estimate, merged, record=True)
        return free, merged

    def _start_measuring(self) -> None:
        self._merged = {}
        self._statements = []
        self._estimates = []
        self._precise = False
        self._free_chars = _START_CHARS

    def _cost(self, estimate: dict[str, Any], merged: dict[str, set[str]] | None = None, *,
              record: bool = False) -> int:
        """Characters ``estimate`` adds to the last policy (or one of ``merged``): none for a
        duplicate, only its new resources where aws-cdk-lib merges it into a statement that differs
        only in them (``@aws-cdk/aws-iam:minimizePolicies``), else itself and a comma."""
        merged = self._merged if merged is None else merged
        resources = estimate.get("Resource")
        merges = self._minimize and resources is not None
        key = json.dumps({k: v for k, v in estimate.items() if k != "Resource" or not merges}, sort_keys=True)
        listed = {json.dumps(r, sort_keys=True) for r in _as_list(resources)} if merges else set()
        known = merged.get(key)
        if known is None:
            if record:
                merged[key] = listed
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


def _same(a: iam.PolicyStatement, b: iam.PolicyStatement) -> bool:
    """Whether ``a`` and ``b`` are one statement (jsii may hand back a new proxy of the same object)."""
    ref = getattr(getattr(a, "__jsii_ref__", None), "ref", None)
    return a is b or ref is not None and ref == getattr(getattr(b, "__jsii_ref__", None), "ref", None)


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]
