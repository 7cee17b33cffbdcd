"""The Procgen figures drawn by `repconv procgen report` (from the committed estimate): every axis labelled, each
checkpoint its own colour and label, the direction of each bound in the titles, and a note in every empty panel."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import matplotlib.colors as mcolors
import pytest

import repconv.plots.procgen as procgen_plots
from repconv.cli import main

ROOT = Path(__file__).resolve().parents[1]
ESTIMATE = ROOT / "docs" / "data" / "procgen_estimate.json"


def _estimate(n: int = 3) -> dict:
    """The committed estimate, cut to its first ``n`` checkpoints (MDPO and PPO) to keep the test quick."""
    result = json.loads(ESTIMATE.read_text())
    result["checkpoints"] = result["checkpoints"][:n]
    return result


def _report(tmp_path, monkeypatch, result: dict) -> dict:
    folder = tmp_path / "est"
    folder.mkdir()
    (folder / "estimate.json").write_text(json.dumps(result))
    figures = {}
    real_save = procgen_plots._save

    def keep(fig, stem):
        figures[Path(stem).name] = fig
        fig.canvas.draw()
        return real_save(fig, stem)

    monkeypatch.setattr(procgen_plots, "_save", keep)
    assert main(["procgen", "report", str(folder)]) == 0
    return figures


@pytest.mark.slow
def test_every_axis_labelled_and_every_checkpoint_its_own_colour(tmp_path, monkeypatch):
    result = _estimate()
    figures = _report(tmp_path, monkeypatch, result)
    assert set(figures) == set(procgen_plots.FIGURES)
    for name, fig in figures.items():
        for ax in fig.axes:
            if ax.axison:
                assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
    names = [rec["label"].split(" (")[0] for rec in result["checkpoints"]]
    scatter = figures["robustness_vs_gap"].axes[0]
    handles, labels = scatter.get_legend_handles_labels()
    assert [lab.split(" (")[0] for lab in labels] == names  # one entry per checkpoint, in order
    colours = {mcolors.to_hex(h[0].get_color()) for h in handles}
    assert len(colours) == len(names)
    for ax in figures["bounds_vs_gap"].axes:
        if ax.axison:
            assert "G1r: |eta_train - eta_test| <= bound; G1.test: eta_test >= eta_train - penalty" in ax.get_title()


#: the direction of each inequality, written out by hand (docs/theory.md)
DIRECTIONS = {"C1": ">=", "G1.test": ">=", "T1": ">=", "G1": "<=", "G1r": "<=", "G1vr": "<="}


@pytest.mark.slow
def test_bound_directions_in_titles_and_open_markers(tmp_path, monkeypatch):
    figures = _report(tmp_path, monkeypatch, _estimate(2))
    found: dict[str, set] = {}
    for name in ("bounds_vs_gap", "rendering_gap_bounds"):
        for ax in figures[name].axes:
            for sid, rel in re.findall(r"(G1\.test|G1vr|G1r|G1|C1|T1): [^;\n]*? (>=|<=|==) ", ax.get_title()):
                found.setdefault(sid, set()).add(rel)
    assert found == {sid: {DIRECTIONS[sid]} for sid in ("G1r", "G1.test", "G1vr")}
    for name in ("robustness_vs_gap", "rv_vs_rendering_gap"):
        markers = [ln for ax in figures[name].axes for ln in ax.get_lines() if ln.get_marker() not in ("None", "", None, "_", "|")]
        assert markers and all(ln.get_markerfacecolor() == "none" for ln in markers), name


@pytest.mark.slow
def test_empty_panels_carry_a_note(tmp_path, monkeypatch):
    result = _estimate(2)
    for rec in result["checkpoints"]:
        for srec in rec["splits"].values():
            srec["strength_sweep"] = {}
            srec["renderers"]["jitter"]["tv"]["samples"] = []
    figures = _report(tmp_path, monkeypatch, result)
    # the committed estimate has no discounted returns: every bounds panel says so
    for ax in figures["bounds_vs_gap"].axes:
        if ax.axison:
            assert [t.get_text() for t in ax.texts] == [
                "no bound and no measured gap at any discount\n(no discounted returns in this estimate)"]
    texts = [t.get_text() for ax in figures["tv_vs_strength"].axes for t in ax.texts]
    assert any("no strength sweep in this result" in t for t in texts)
    jitter = [ax for ax in figures["tv_distributions"].axes if ax.get_title().startswith("jitter")]
    assert [t.get_text() for t in jitter[0].texts] == ["no per-state TV samples for jitter\n(estimate without saved samples?)"]
    shutil.rmtree(tmp_path / "est")
