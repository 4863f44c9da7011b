"""Frozen result dataclasses to JSON and back, so a retried operation returns its first result."""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from datetime import datetime
from typing import Any, TypeVar

__all__ = ["dump", "load"]

T = TypeVar("T")


@functools.cache
def _fields(tp: type) -> tuple[tuple[str, Any, bool], ...]:
    """A dataclass's fields as (name, resolved type, required), worked out once per class."""
    hints = typing.get_type_hints(tp)
    return tuple(
        (
            f.name,
            hints[f.name],
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(tp)
    )


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dump(value: Any) -> str:
    """A dataclass (or None) as JSON."""
    return json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)


def _build(tp: Any, raw: Any) -> Any:
    if raw is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(options[0], raw) if len(options) == 1 else raw
    if origin is tuple:
        args = typing.get_args(tp)
        return tuple(_build(args[0], v) for v in raw)
    if origin is list:
        return [_build(typing.get_args(tp)[0], v) for v in raw]
    if tp is datetime:
        return datetime.fromisoformat(raw)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        # A field with a default may be missing: a result saved before the field existed, or
        # written by a one-statement path that leaves it at its default.
        return tp(
            **{
                name: _build(hint, raw[name])
                for name, hint, required in _fields(tp)
                if required or name in raw
            }
        )
    return raw


def load(cls: type[T], text: str) -> T:
    """Rebuild a dataclass of type ``cls`` from :func:`dump`'s JSON."""
    result: T = _build(cls, json.loads(text))
    return result
