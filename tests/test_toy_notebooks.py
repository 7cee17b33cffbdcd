"""The toy notebooks run top to bottom (nbclient, on this interpreter) and are stored without outputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["toy_example.ipynb", "bound_tightness.ipynb"]


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
    monkeypatch.setenv("MPLBACKEND", "Agg")
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
    if name == "toy_example.ipynb":
        assert "| opposed | 0.1 |" in text and "alpha=0.1 minus independent" in text
    else:
        assert "T1 holds: True" in text and "tightness" in text
