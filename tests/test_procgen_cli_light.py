"""The command line must build (``repconv --help``, tabular commands) without importing torch or Procgen."""

from __future__ import annotations

import subprocess
import sys


def test_parser_with_procgen_commands_imports_neither_torch_nor_procgen():
    code = (
        "import sys\n"
        "from repconv.cli import build_parser\n"
        "parser = build_parser()\n"
        "args = parser.parse_args(['procgen', 'estimate', 'a.pt', '--out', 'o'])\n"
        "assert args.renderers == ['backgrounds', 'randconv', 'jitter'], args.renderers\n"
        "print(sorted(m for m in ('torch', 'procgen', 'kornia') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
