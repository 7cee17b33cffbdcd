"""The core install (no extras) explains itself: a Procgen command names the extra it needs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Hide the procgen extra's modules, as on a core install, then run the real entry point.
_WITHOUT_EXTRA = (
    "import sys\n"
    "for name in ('torch', 'procgen', 'kornia'):\n"
    "    sys.modules[name] = None  # import raises ModuleNotFoundError, as when not installed\n"
    "from repconv.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_procgen_commands_without_the_extra_name_it(tmp_path):
    ckpt = tmp_path / "policy.pt"
    ckpt.write_bytes(b"x")
    for argv in (["procgen", "evaluate", str(ckpt)], ["procgen", "estimate", str(ckpt), "--out", str(tmp_path / "o")],
                 ["procgen", "train", "--game", "coinrun", "--preset", "smoke", "--out", str(tmp_path / "r")]):
        out = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRA, *argv], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 2, (argv, out.stderr)
        assert "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert "needs the procgen extra" in lines[0] and "torch" in lines[0]
        assert '.[procgen]' in lines[0]


def test_building_the_parser_loads_no_heavy_library():
    # `repconv --help` and the Procgen commands build every subcommand's options; the configuration dataclasses they
    # are generated from must not pull in the toy maths (scipy, sympy), hypothesis, matplotlib or torch.
    code = (
        "import sys\n"
        "from repconv.cli import build_parser\n"
        "build_parser()\n"
        "print(' '.join(sorted({k.split('.')[0] for k in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    loaded = set(out.stdout.split())
    assert "repconv" in loaded
    heavy = loaded & {"scipy", "sympy", "hypothesis", "matplotlib", "torch"}
    assert not heavy, f"building the parser imports {sorted(heavy)}"


def test_hypothesis_is_a_core_dependency():
    # toymdp.strategies and the hypothesis phase of `repconv check` must work after `pip install -e .`.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]]
    assert "hypothesis" in core
