"""The one convention for documenting a configuration field: ``name: type = documented(default, help)``.

The one-line doc lives in the field's metadata, so code can read it: the command line builds its options
and their ``--help`` from the dataclass (:func:`repconv.options.add_dataclass_arguments`), and a default and
its doc are written once. For a field whose default is ``None``, the doc says what ``None`` means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["documented", "field_doc"]

#: Key of the doc in a field's metadata.
DOC_KEY = "help"


def documented(default: Any = dataclasses.MISSING, help: str = "", *,
               default_factory: Callable[[], Any] | Any = dataclasses.MISSING) -> Any:
    """A ``dataclasses.field`` with ``default`` (or ``default_factory``) and its one-line doc ``help``."""
    if not help.strip():
        raise ValueError("documented() needs a non-empty help text")
    if (default is dataclasses.MISSING) == (default_factory is dataclasses.MISSING):
        raise ValueError("documented() needs exactly one of default and default_factory")
    return dataclasses.field(default=default, default_factory=default_factory, metadata={DOC_KEY: help})


def field_doc(f: dataclasses.Field) -> str | None:
    """The doc of a field made with :func:`documented`, or None for a field without one."""
    return f.metadata.get(DOC_KEY)
