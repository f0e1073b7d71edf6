"""Who may delete data: the two-key rule shared by every construct that holds data.

Data is deleted on stack removal only when **both** keys are turned:

1. the environment allows it (``allow_data_deletion: true`` in ``config/<env>.yaml``, or the
   ``allow_data_deletion`` keyword of a construct), and
2. the context flag :data:`REMOVE_DATA_ON_DESTROY_CONTEXT` is ``true`` for that command
   (``cdk destroy -c ml-platform:removeDataOnDestroy=true``). ``cdk.json`` keeps it ``false``, so
   that the environment file alone never deletes data.

Otherwise the resource is retained. When the environment asks for deletion but the context flag
is not set, a synth warning says so, so that nobody is surprised by a bucket that outlives its stack.
"""

from __future__ import annotations

from aws_cdk import Annotations, RemovalPolicy
from constructs import Construct

#: Context key of the second key. ``cdk.json`` sets it to ``false`` (also the default when absent);
#: ``-c ml-platform:removeDataOnDestroy=true`` turns it for one command.
REMOVE_DATA_ON_DESTROY_CONTEXT = "ml-platform:removeDataOnDestroy"

_TRUE_VALUES = (True, "true", "True", "TRUE", "1")


def data_removal_policy(scope: Construct, *, allow_data_deletion: bool) -> RemovalPolicy:
    """Return DESTROY only when the environment allows deletion and the context flag is set.

    :param scope: the construct that owns the data; the note is attached to it.
    :param allow_data_deletion: whether the environment allows deleting data on stack removal.
    :returns: ``RemovalPolicy.DESTROY`` or ``RemovalPolicy.RETAIN``.
    """
    flag = scope.node.try_get_context(REMOVE_DATA_ON_DESTROY_CONTEXT) in _TRUE_VALUES
    if allow_data_deletion and flag:
        return RemovalPolicy.DESTROY
    if allow_data_deletion:
        # Information, not a warning: retaining is the safe default that cdk.json keeps, and a
        # warning would fail every gated synth of an environment that merely allows deletion.
        Annotations.of(scope).add_info(
            f"Data is RETAINED on stack removal: the environment allows deletion, but the context flag "
            f"'{REMOVE_DATA_ON_DESTROY_CONTEXT}' is not true. Pass "
            f"-c {REMOVE_DATA_ON_DESTROY_CONTEXT}=true to delete data with the stack.",
        )
    return RemovalPolicy.RETAIN
