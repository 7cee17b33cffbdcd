"""The notebooks run top to bottom (nbclient, on this interpreter, matplotlib's default inline backend), are stored
without outputs, draw their figures, and print the numbers their narrative states."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["toy_example.ipynb", "bound_tightness.ipynb", "rendering_mdp_by_hand.ipynb"]
#: Figures each notebook draws (inline PNG outputs).
FIGURES = {"toy_example.ipynb": 3, "bound_tightness.ipynb": 1, "rendering_mdp_by_hand.ipynb": 0}


@pytest.fixture
def this_interpreter_kernel(tmp_path, monkeypatch):
    """A kernel spec that starts ipykernel with the interpreter running the tests, found first on JUPYTER_PATH."""
    spec = tmp_path / "kernels" / "repconv-tests"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "repconv tests", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path) + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own default: inline figures
    return "repconv-tests"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, this_interpreter_kernel):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(nb, kernel_name=this_interpreter_kernel, timeout=300,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    figures = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(figures) == FIGURES[name]
    NARRATIVE[name](text)


def _toy_example(text: str) -> None:
    assert "| opposed | 0.1 |" in text and "alpha=0.1 minus independent" in text
    final = {m[0]: [float(x) for x in m[1:]] for m in re.findall(
        r"(\w+): final R ([-\d.]+) -> ([-\d.]+), D_train ([-\d.]+) -> ([-\d.]+), eta_test ([-\d.]+) -> ([-\d.]+)", text)}
    R0, R1, D0, D1, eta0, eta1 = final["opposed"]
    assert R1 < 0.05 < R0 and eta1 > eta0  # opposed: distillation drives R to about 0 and the test return rises
    R0, R1, D0, D1, eta0, eta1 = final["disjoint"]
    assert D1 < D0 and R1 >= R0 and eta1 < eta0  # disjoint: D_train falls, R does not, the test return drops


def _bound_tightness(text: str) -> None:
    assert "T1 holds: True" in text and "tightness" in text
    rows = re.findall(r"(\w+): S=(\d), gamma (\S+)\s+-> tightness ([\d.]+) \(instance gamma ([\d.e-]+)", text)
    g1 = [float(r[3]) for r in rows if r[0] == "G1"]
    t1_fixed = [float(r[3]) for r in rows if r[0] == "T1" and r[2] == "0.9"]
    t1_free = [(float(r[3]), float(r[4])) for r in rows if r[0] == "T1" and r[2] == "optimised"]
    assert g1 and all(t == 1.0 for t in g1)  # G1 attained exactly
    assert t1_fixed and max(t1_fixed) < 0.9  # gamma = 0.9: well below 1
    assert t1_free and max(t1_free)[0] > max(t1_fixed) and max(t1_free)[1] < 0.5  # near 1 only for a small discount


def _rendering_mdp_by_hand(text: str) -> None:
    for line in ("R(pi) by hand: 1/2 | evaluate: 1/2", "R(pi~) by hand: 0 | evaluate: 0",
                 "D_train by hand: 1/4 | evaluate: 1/4", "eps(pi) by hand: 1 | evaluate: 1",
                 "rhs by hand = 1/16, rhs checked = 1/16", "rhs by hand = 7/32, rhs checked = 7/32",
                 "T1 holds: True | vacuous: [False, False]", "rhs = -255/64", "C1 holds: True | vacuous: True",
                 "j=0, k=1: |eta_j - eta_k| = 1/4, G1v rhs by hand = 1/4",
                 "j=1, k=0: |eta_j - eta_k| = 1/4, G1v rhs by hand = 1/4",
                 "G1v checked: lhs = 1/4  rhs = 1/4  holds: True | attained: True",
                 "G1: lhs = 1/4, rhs = 1, holds: True", "G1vr: lhs = 1/4, rhs = 1/2, holds: True",
                 "C1v: lhs = 1/2, rhs = 13/64, holds: True, vacuous: False",
                 "property test passed on 40 exact instances"):
        assert line in text, line


NARRATIVE = {"toy_example.ipynb": _toy_example, "bound_tightness.ipynb": _bound_tightness,
             "rendering_mdp_by_hand.ipynb": _rendering_mdp_by_hand}
