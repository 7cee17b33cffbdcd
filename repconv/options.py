"""Command-line options generated from a configuration dataclass, so that ``--help`` and the dataclass agree.

Each field made with :func:`common.fields.documented` becomes one option ``--field-name`` (a field without a
doc is refused when the parser is built). The option's type comes from the field's annotation:

* ``bool``: ``--x`` / ``--no-x``;
* ``int``, ``float``, ``str``; integers may also be read as people write them (``25e6``, ``25_000_000``);
* ``list[T]`` and ``tuple[T, ...]``: comma-separated (``0,0.5,1``; spaces and empty items are ignored, an empty
  text or ``none`` is the empty sequence); ``tuple[T, T]``: exactly that many items;
* ``T | None``: as ``T``; the field's doc says what leaving it unset means.

The help is the field's doc and ``(default: ...)``. With ``unset_default=True`` every option defaults to None
and :func:`dataclass_values` returns only the fields given on the command line (the training presets: what
the user typed overrides the preset, nothing else does).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from common.fields import field_doc

__all__ = ["add_dataclass_arguments", "dataclass_values", "whole_number", "comma_separated", "format_default"]


def whole_number(text: str) -> int:
    """Integers as written by people: ``25000000``, ``25_000_000`` or ``25e6``."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not value.is_integer():
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        return int(value)


def _scalar(value: Any) -> str:
    if isinstance(value, float) and float(f"{value:g}") == value:
        return f"{value:g}"
    return str(value)


def format_default(value: Any) -> str:
    """A default as the command line takes it: sequences comma-separated, floats short (``0.0005``, ``1e-05``)."""
    if isinstance(value, (list, tuple)):
        return ",".join(_scalar(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _scalar(value)


def _sequence_parser(item: Callable[[str], Any], container: type, length: int | None, what: str):
    def parse(text: str):
        if text.strip().lower() in ("", "none") and length is None:
            return container()
        try:
            items = container(item(t.strip()) for t in text.split(",") if t.strip())
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"cannot read {text!r}, expected comma-separated {what}") from None
        if length is not None and len(items) != length:
            raise argparse.ArgumentTypeError(f"expected {length} comma-separated {what}, got {text!r}")
        return items
    return parse


_WHAT = {int: "integers", float: "numbers", str: "names"}

#: Parser of a comma-separated list of names, as the generated options read ``tuple[str, ...]``.
comma_separated = _sequence_parser(str, tuple, None, "names")


def _option_type(hint: Any, whole_numbers: bool) -> Callable[[str], Any] | None:
    """The argparse ``type`` for an annotation; None for ``bool`` (a flag pair). Unsupported types raise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _option_type(rest[0], whole_numbers)
    if hint is bool:
        return None
    if hint is int:
        return whole_number if whole_numbers else int
    if hint in (float, str):
        return hint
    if origin in (list, tuple) and args:
        length = None
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(set(args)) != 1:
                raise TypeError(f"{hint}: a fixed-length tuple needs one item type")
            length = len(args)
        item = args[0]
        if item not in _WHAT:
            raise TypeError(f"{hint}: items of type {item} are not supported on the command line")
        convert = whole_number if item is int and whole_numbers else item
        return _sequence_parser(convert, origin, length, _WHAT[item])
    raise TypeError(f"{hint} is not supported on the command line")


def add_dataclass_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    prefix: str = "",
    only: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    flags: Mapping[str, str] | None = None,
    metavars: Mapping[str, str] | None = None,
    choices: Mapping[str, Iterable[Any]] | None = None,
    whole_numbers: bool = False,
    unset_default: bool = False,
    default_note: Callable[[dataclasses.Field], str] | None = None,
) -> list[str]:
    """Add one option per field of the dataclass ``cls``; returns the names of the fields added.

    ``only`` / ``exclude`` pick fields (``only`` also sets their order); ``flags`` renames an option (field name
    -> ``--flag``); ``metavars`` and ``choices`` are passed to argparse per field; ``whole_numbers`` lets integer
    options read ``25e6`` and ``25_000_000``. The value lands in ``args.<prefix><field>``
    (:func:`dataclass_values` reads it back). With ``unset_default`` every option defaults to None and its help
    names the default ``default_note(field)`` (else the dataclass default).
    """
    flags, metavars, choices = dict(flags or {}), dict(metavars or {}), dict(choices or {})
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    names = list(only) if only is not None else [n for n in by_name if n not in set(exclude)]
    unknown = sorted(set(names) - set(by_name)) + sorted((set(flags) | set(metavars) | set(choices)) - set(names))
    if unknown:
        raise ValueError(f"{cls.__name__} has no command-line field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    for name in names:
        f = by_name[name]
        doc = field_doc(f)
        if not doc:
            raise ValueError(f"{cls.__name__}.{name} has no doc: declare it with common.fields.documented(default, help)")
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise ValueError(f"{cls.__name__}.{name} has no default, so the command line cannot leave it out")
        if unset_default:
            note = default_note(f) if default_note else format_default(default)
        else:
            note = None if default is None else format_default(default)
        kwargs: dict[str, Any] = {
            "dest": prefix + name,
            "default": None if unset_default else default,
            "help": (doc + (f" (default: {note})" if note else "")).replace("%", "%%"),
        }
        flag = flags.get(name, "--" + name.replace("_", "-"))
        kind = _option_type(hints[name], whole_numbers)
        if kind is None:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = kind
            if name in choices:
                kwargs["choices"] = tuple(choices[name])
            else:
                kwargs["metavar"] = metavars.get(name, flag[2:].replace("-", "_").upper())
        parser.add_argument(flag, **kwargs)
    return names


def dataclass_values(args: argparse.Namespace, cls: type, *, prefix: str = "", given_only: bool = False) -> dict[str, Any]:
    """The fields of ``cls`` that :func:`add_dataclass_arguments` added (with ``prefix``), as keyword arguments of
    ``cls``; with ``given_only``, only those typed on the command line (options built with ``unset_default``)."""
    out = {}
    for f in dataclasses.fields(cls):
        if hasattr(args, prefix + f.name):
            value = getattr(args, prefix + f.name)
            if not (given_only and value is None):
                out[f.name] = value
    return out
