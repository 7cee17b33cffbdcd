"""Figures drawn from saved result files; plotting owns no maths.

Each result kind (the ``"kind"`` key of a results JSON) maps to the module that draws it, so
``repconv plot RESULTS.json`` can redraw any run's figures without rerunning it.
"""

from __future__ import annotations

#: results "kind" -> module with ``render_all(results, out_dir, formats, dpi=...)``
RENDERERS = {
    "toy": "repconv.plots.toy",
}
