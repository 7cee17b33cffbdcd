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
    # The lookup all_statements() gives, without building its dictionary (this runs for every decided result).
    if statement_id in VARIANTS:
        return VARIANTS[statement_id]
    if statement_id in STATEMENTS:
        return STATEMENTS[statement_id]
    if statement_id in PARTS and any(statement_id in s.parts for s in STATEMENTS.values()):
        return PARTS[statement_id]
    raise KeyError(f"unknown statement ID {statement_id!r}; known: {', '.join(all_statements())}")
