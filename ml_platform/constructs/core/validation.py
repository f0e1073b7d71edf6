"""Building blocks for typed, strict construct settings shared by constructs and the config file.

Settings objects are frozen pydantic models: the same class validates a construct's keyword
argument and the matching section of ``config/<env>.yaml``, so that defaults and rules live in
one place (the config loader turns their errors into one line per problem).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictSettings(BaseModel):
    """Base for settings: unknown keys and loosely typed values (``"30"`` for 30) are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def check_problems(owner: str, problems: list[str]) -> None:
    """Raise one ``ValueError`` naming ``owner`` and every problem, if there are any.

    Constructs collect all problems before raising so that a user fixes them in one pass.
    """
    if problems:
        raise ValueError(f"{owner}: " + "; ".join(problems))
