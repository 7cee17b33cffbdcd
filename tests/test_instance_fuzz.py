"""Fuzzing the instance-file reader through ``repconv eval``: every input loads or is refused with exit code 2 and
one line on stderr, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from repconv.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = json.loads((ROOT / "examples" / "two_renderers.json").read_text())

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1/2", "1/0", "-3/4", "x/y", "0.5", "", "1e999", "nan"]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=5)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=4), children, max_size=3)),
    max_leaves=12,
)


@st.composite
def mutated_instances(draw) -> str:
    """The valid example with one key replaced, dropped or a nested number changed; or a truncated file."""
    data = json.loads(json.dumps(EXAMPLE))
    key = draw(st.sampled_from(sorted(data)))
    action = draw(st.sampled_from(["replace", "drop", "number", "truncate", "reshape"]))
    if action == "replace":
        data[key] = draw(json_values)
    elif action == "drop":
        del data[key]
    elif action == "number":
        node = data[key]
        path = []
        while isinstance(node, (list, dict)) and node:
            k = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
            path.append(k)
            node = node[k]
        if path:
            parent = data[key]
            for k in path[:-1]:
                parent = parent[k]
            parent[path[-1]] = draw(numbers)
        else:
            data[key] = draw(numbers)
    elif action == "reshape":
        value = data[key]
        data[key] = [value] if draw(st.booleans()) else (value[:-1] if isinstance(value, list) else value)
    text = json.dumps(data, allow_nan=True)
    if action == "truncate":
        text = text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
    return text


def _eval(text: str) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "instance.json"
        path.write_text(text)
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(["eval", str(path), "--no-progress"])
    return code, err.getvalue()


def _loads_or_refused_in_one_line(text: str) -> None:
    code, err = _eval(text)  # any exception escaping main is a traceback for the user: the test fails
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("repconv eval: error: "), err


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_instances())
@example(json.dumps({**EXAMPLE, "gamma": "1e999"}))  # found by this test: a float64 overflow escaped as a traceback
def test_fuzz_mutated_instance_files(text):
    _loads_or_refused_in_one_line(text)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values.map(lambda v: json.dumps(v, allow_nan=True)))
def test_fuzz_arbitrary_json(text):
    _loads_or_refused_in_one_line(text)


def test_the_example_still_loads():
    # The control: the unmutated file is accepted, so the fuzz tests exercise the refusals, not a broken reader.
    assert _eval(json.dumps(EXAMPLE))[0] == 0


def test_truncated_file_through_the_installed_entry_point(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(EXAMPLE)[:200])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "repconv", "eval", str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"repconv eval: error: {path}: not valid JSON ("), out.stderr
