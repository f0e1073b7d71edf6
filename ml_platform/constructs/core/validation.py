"""Building blocks for typed, strict construct settings shared by constructs and the config file.

Settings objects are frozen pydantic models: the same class validates a construct's keyword
argument and the matching section of ``config/<env>.yaml``, so that defaults and rules live in
one place (the config loader turns their errors into one line per problem).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo


class SettingsError(ValueError):
    """Settings built from Python with bad values: one line, ``<Settings class>: <key path>:
    <problem> (got <value>)``, problems separated by ``; ``."""


class StrictSettings(BaseModel):
    """Base for settings: unknown keys and loosely typed values (``"30"`` for 30) are errors.

    Built with keyword arguments (``EndpointSettings(instance_type=...)``), bad values raise
    :class:`SettingsError` in the one-line form config files get; ``model_validate`` (what the
    config loader uses) raises pydantic's ``ValidationError``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise SettingsError(f"{type(self).__name__}: " + "; ".join(describe_errors(error, type(self)))) from None

    # Validation (model_validate, nested settings) must not go through this __init__: pydantic skips
    # an __init__ marked as its own, so config errors keep their key paths.
    setattr(__init__, "__pydantic_base_init__", True)


def check_problems(owner: str, problems: list[str]) -> None:
    """Raise one ``ValueError`` naming ``owner`` and every problem, if there are any.

    Constructs collect all problems before raising so that a user fixes them in one pass.
    """
    if problems:
        raise ValueError(f"{owner}: " + "; ".join(problems))


# -- one-line messages of pydantic errors -------------------------------------------------------



def _without_echoes(errors: list[Any]) -> list[Any]:
    """Drop a list's "too short" error that only echoes failures of its own items."""
    return [
        e for e in errors
        if not (e["type"] == "too_short" and any(o["loc"][: len(e["loc"])] == e["loc"] and o is not e for o in errors))
    ]


def describe_errors(error: ValidationError, root: type[BaseModel]) -> list[str]:
    """``<key path>: <problem> (got <value>)`` for each problem of ``error``, raised validating
    ``root`` (whose fields name the allowed keys of an unknown one)."""
    return [_describe(e, root) for e in _without_echoes(error.errors(include_url=False))]


def _describe(error: Mapping[str, Any], root: type[BaseModel]) -> str:
    """``<key path>: <problem> (got <value>)`` for one pydantic error."""
    loc = error["loc"]
    path = _key_path(loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(root, loc[:-1])
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"{path}: unknown key{hint}"
    if kind == "missing":
        return f"{path}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else message
    if kind == "string_type" and isinstance(error.get("input"), int):
        message += "; put the value in quotes"
    if isinstance(error.get("input"), dict):
        return f"{path}: {message}"  # a whole section: the message names the values
    return f"{path}: {message} (got {error['input']!r})"


def _key_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-") or part.endswith("]")):
            continue  # validator names pydantic adds for Annotated/enum-keyed types
        else:
            text += f".{part}" if text else str(part)
    return text


def public_fields(model: type[BaseModel]) -> list[str]:
    """The keys ``model`` accepts (its fields that are not excluded)."""
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model nested at ``loc`` accepts, or [] when ``loc`` is not a model."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if _is_model(annotation):
            field: FieldInfo | None = annotation.model_fields.get(part)
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (Union, UnionType):
            # a discriminated union: pydantic names the member by its tag (e.g. "mask_range")
            members = [m for m in get_args(annotation) if _is_model(m) and part in _tags(m)]
            if not members:
                return []
            annotation = members[0]
        elif get_origin(annotation) in (dict, tuple, list):
            args = get_args(annotation)
            annotation = args[-1] if get_origin(annotation) is dict else args[0]
        else:
            return []
    annotation = _unwrap(annotation)
    return public_fields(annotation) if _is_model(annotation) else []


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tags(model: type[BaseModel]) -> set[Any]:
    """Literal defaults a discriminated union may name a member by."""
    return {f.default for f in model.model_fields.values() if isinstance(f.default, str)}


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType) and type(None) in get_args(annotation):
            others = [a for a in get_args(annotation) if a is not type(None)]
            annotation = others[0] if len(others) == 1 else Union[tuple(others)]  # noqa: UP007
        else:
            return annotation
