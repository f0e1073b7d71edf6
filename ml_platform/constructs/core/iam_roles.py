"""``ManagedPolicyRole``: a role whose permissions live in one customer-managed policy.

HIPAA, NIST 800-53 and PCI DSS packs reject inline policies; an ``iam.Role`` puts every grant
(including those aws-cdk-lib's L2s add to a role they are given) into an inline default policy.
This role sends them all to its own managed policy instead.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct, Dependable, IConstruct


class ManagedPolicyRole(iam.Role):
    """An ``iam.Role`` (same keyword arguments) whose statements go to :attr:`policy`.

    :ivar policy: the customer-managed policy attached to this role only, created with the
        first statement (a role without statements has none: IAM refuses empty policies).
    """

    def __init__(self, scope: Construct, construct_id: str, **role_props: Any) -> None:
        super().__init__(scope, construct_id, **role_props)
        self._policy: iam.ManagedPolicy | None = None
        # Whatever depends on this role (a function, a job) waits for its policy, which itself
        # follows the role; a DependsOn on the role too would only repeat its ARN reference.
        Dependable.implement(self, _PolicyFirst(self))

    @property
    def policy(self) -> iam.ManagedPolicy:
        if self._policy is None:
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            self._policy = iam.ManagedPolicy(self, "Policy", roles=[self])  # pyright: ignore[reportArgumentType]
        return self._policy

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        """Add ``statement`` to the role's managed policy (never to an inline policy)."""
        self.policy.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self.policy)

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
        policy = self._role._policy
        return [policy] if policy is not None else []
