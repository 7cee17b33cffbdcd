"""Every statement, part and falsification variant by ID.

Kept apart from :mod:`theory.statements` and :mod:`theory.variants` so that the variants can be derived from the
statements without the statements module importing the variants back.
"""

from __future__ import annotations

from .statements import PARTS, STATEMENTS, Statement
from .variants import VARIANTS

__all__ = ["all_statements", "get_statement"]


def all_statements() -> dict[str, Statement]:
    """Statements, their parts and the falsification variants (:mod:`theory.variants`), by ID."""
    out: dict[str, Statement] = {}
    for sid, s in STATEMENTS.items():
        out[sid] = s
        out.update({p: PARTS[p] for p in s.parts})
    out.update(VARIANTS)
    return out


def get_statement(statement_id: str) -> Statement:
    """The statement, part or variant with this ID; a clear error lists the known IDs."""
    known = all_statements()
    if statement_id not in known:
        raise KeyError(f"unknown statement ID {statement_id!r}; known: {', '.join(known)}")
    return known[statement_id]
