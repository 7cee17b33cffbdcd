"""Import directions: ``common`` at the bottom, ``theory`` on it, ``toymdp`` and ``procgen_checks`` on those, the
``repconv`` command line on top; no import cycle between modules.

Read from the source (every ``import``, also inside functions) and checked again by importing the libraries in a
fresh interpreter and looking at ``sys.modules``.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "theory", "toymdp", "procgen_checks", "repconv")
#: Project packages each package may import (besides itself).
ALLOWED = {
    "common": set(),
    "theory": {"common"},
    "toymdp": {"common", "theory"},
    "procgen_checks": {"common", "theory"},
    "repconv": {"common", "theory", "toymdp", "procgen_checks"},
}
#: Third-party packages a layer must never load (theory and common are pure maths and files).
FORBIDDEN_THIRD_PARTY = {"common": {"torch", "procgen", "matplotlib", "kornia"}, "theory": {"torch", "procgen", "matplotlib"}}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module ``name`` imports, as absolute dotted names (``from . import x`` gives ``pkg.x``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            submodules = {f"{module}.{alias.name}" for alias in node.names} & known
            out.update(submodules if submodules else {module})
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_the_scan_sees_the_imports_it_checks():
    graph = _graph()
    assert "theory.statements" in graph["theory.variants"]
    assert "common.files" in graph["toymdp.mdp.instance_io"]
    assert "toymdp.mdp.engine" in graph["toymdp.mdp.evaluation"]  # ``from . import engine``
    assert {"toymdp", "procgen_checks"} <= {m.split(".")[0] for m in graph["repconv.cli"] | set().union(
        *(graph[m] for m in graph if m.startswith("repconv.commands")))}


@pytest.mark.parametrize("package", PACKAGES)
def test_import_directions(package):
    bad = []
    for name, imported in _graph().items():
        if name.split(".")[0] != package:
            continue
        for target in imported:
            top = target.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                bad.append(f"{name} imports {target}")
            if top in FORBIDDEN_THIRD_PARTY.get(package, ()):
                bad.append(f"{name} imports {target}")
    assert not bad, "; ".join(sorted(bad))


def test_no_import_cycle_between_modules():
    graph = _graph()
    edges = {m: {t for t in imported if t in graph and t != m} for m, imported in graph.items()}
    # A package's __init__ importing its own submodules is the usual re-export, not a cycle.
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in edges.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "; ".join(" -> ".join(c) for c in cycles)


def _loaded_after_importing(modules: list[str]) -> set[str]:
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(' '.join(sorted({k.split('.')[0] for k in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return set(out.stdout.split())


@pytest.mark.parametrize("package", ["common", "theory", "toymdp", "procgen_checks"])
def test_importing_a_library_never_loads_the_command_line(package):
    if package == "procgen_checks" and importlib.util.find_spec("torch") is None:
        pytest.skip("procgen extra not installed")
    modules = [m for m in _modules() if m.split(".")[0] == package]
    loaded = _loaded_after_importing(modules)
    assert package in loaded
    higher = {p for p in PACKAGES if p != package and p not in ALLOWED[package]}
    assert not loaded & (higher | FORBIDDEN_THIRD_PARTY.get(package, set())), loaded & higher
