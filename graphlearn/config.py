"""One config base for every method, and the one ``--set key=value`` parser.

Every method's settings are a :class:`Config` dataclass (nanoGPT's configurator, made strict): defaults with a
comment each, :meth:`Config.from_dict` rejects unknown keys (listing the valid ones) and converts command-line
strings to each field's declared type, and the value checks live in the fields themselves
(``param(50, min=1)``, ``param("gcn", choices=CONVS)``) so they are written once and enforced on every
construction. The resolved config (:meth:`Config.to_dict`) is what gets logged with every run and saved with every
model.

    >>> ColdBrewConfig.from_dict(parse_overrides(["k=16", "metric=ip"]))
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["Config", "param", "parse_overrides", "parse_value"]

C = TypeVar("C", bound="Config")
_MISSING = dataclasses.MISSING


def param(
    default: Any = _MISSING,
    *,
    choices: Iterable | None = None,
    min: float | None = None,  # noqa: A002 (reads like the check it is)
    max: float | None = None,  # noqa: A002
    gt: float | None = None,
) -> Any:
    """A dataclass field with its checks: ``choices`` (valid values), ``min``/``max`` (inclusive bounds), ``gt``
    (strict lower bound). ``None`` always passes the checks of an optional field."""
    meta = {"choices": tuple(choices) if choices is not None else None, "min": min, "max": max, "gt": gt}
    return dataclasses.field(default=default, metadata=meta)


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON when it parses (numbers, ``true``/``false``, ``null``, lists, strings in quotes),
    else the text itself (``metric=cos``). The config then converts it to the field's type."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text


def parse_overrides(items: Iterable[str] | None) -> dict[str, Any]:
    """``["k=16", "se_layers=[0,1]"]`` -> ``{"k": 16, "se_layers": [0, 1]}`` (values by :func:`parse_value`).

    Raises:
        ValueError: an item without ``=`` or with an empty key.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = parse_value(value.strip())
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to the annotation ``tp`` (str from the command line, int for a float field, list for a
    tuple field, ...); ``ValueError`` naming ``where``, the value and the expected type otherwise."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        if isinstance(value, str) and value.strip().lower() in ("none", "null") and type(None) in options:
            return None
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, where)
            except ValueError:
                continue
        expected = " or ".join(_type_name(o) for o in options)
        raise ValueError(f"{where} expects {expected}, got {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):
            text = value.strip()
            value = parse_value(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            value = [value]
        args = typing.get_args(tp)
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(f"{where} expects true or false, got {value!r}")
    if tp is int:
        if isinstance(value, str):
            value = parse_value(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{where} expects an integer, got {value!r}")
    if tp is float:
        if isinstance(value, str):
            value = parse_value(value.strip())
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise ValueError(f"{where} must be finite, got {value!r}")
            return float(value)
        raise ValueError(f"{where} expects a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where} expects a string, got {value!r}")
    return value


@dataclasses.dataclass
class Config:
    """Base of every method's settings (subclass it with ``@dataclass``).

    On construction each field is converted to its declared type and checked against its :func:`param` bounds and
    choices, then :meth:`check` runs the cross-field rules of the subclass. Errors are ``ValueError`` naming the
    class, the field, the value and what was expected.
    """

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any] | None = None) -> C:
        """Build from a (JSON / command-line) mapping; an unknown key raises ``ValueError`` listing the valid keys.
        String values are converted to the field's type (``"true"`` for a flag, ``"none"`` for an optional)."""
        values = dict(values or {})
        names = cls.field_names()
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {unknown}; valid keys: {sorted(names)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The resolved settings, as logged and saved (``dataclasses.asdict``)."""
        return dataclasses.asdict(self)

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (checked like any construction)."""
        return self.from_dict({**dataclasses.asdict(self), **changes})

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            where = f"{type(self).__name__}.{f.name}"
            value = _coerce(getattr(self, f.name), hints.get(f.name, Any), where)
            object.__setattr__(self, f.name, value)
            self._check_field(f, value, where)
        self.check()

    @staticmethod
    def _check_field(f: dataclasses.Field, value: Any, where: str) -> None:
        meta = f.metadata
        if value is None or not meta:
            return
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if meta.get("choices") is not None and v not in meta["choices"]:
                raise ValueError(f"unknown {f.name} {v!r} ({where}); choose one of {list(meta['choices'])}")
            lo, hi, gt = meta.get("min"), meta.get("max"), meta.get("gt")
            if lo is not None and v < lo:
                raise ValueError(f"{f.name} must be >= {lo} (got {v!r}; {where})")
            if gt is not None and v <= gt:
                raise ValueError(f"{f.name} must be > {gt} (got {v!r}; {where})")
            if hi is not None and v > hi:
                raise ValueError(f"{f.name} must be <= {hi} (got {v!r}; {where})")

    def check(self) -> None:
        """Cross-field rules of a subclass (override; raise ``ValueError``)."""
