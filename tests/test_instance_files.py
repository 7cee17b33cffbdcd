"""Instance files and ``repconv eval`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from repconv.cli import main
from toymdp import evaluate, instance_from_dict, instance_to_dict, load_instance, save_instance
from toymdp.strategies import instances

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "two_renderers.json"


def test_example_by_hand(tmp_path):
    """The example's pi_tilde acts (1/4, 3/4) in states 0 and 1 under both renderers. With x = V(0):
    V(1) = 3/4 + x and x = gamma (x/8 + (3/4 + x)/2), so x = (3 gamma/8) / (1 - 5 gamma/8) = 27/35 at gamma = 9/10."""
    out = tmp_path / "out.json"
    assert main(["eval", str(EXAMPLE), "--exact", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["eta_test"]["pi_tilde"] == "27/35"
    assert rec["eta_train"]["pi_tilde"] == "27/35"
    assert rec["R_pi_tilde"] == "0"
    # pi reads state 1 as obs 1 (1/4, 3/4) or obs 2 (3/4, 1/4): R(pi) = TV = 1/2.
    assert rec["R_pi"] == "1/2"
    # Training renderer 0: pi and pi_tilde differ only at state 0: TV((1/2,1/2),(1/4,3/4)) = 1/4.
    assert rec["D_train"] == "1/4" and rec["per_renderer"][0]["alpha"] == "1/4"
    assert rec["per_renderer"][1]["alpha"] == "1/2"
    assert set(rec["per_renderer"][0]) >= {"eta_pi", "eta_pi_tilde", "alpha", "eps_pi", "L"}
    assert "git_commit" in rec["meta"] and rec["meta"]["config"]["exact"] is True


def test_float_output_matches_exact(tmp_path):
    out_f, out_e = tmp_path / "f.json", tmp_path / "e.json"
    main(["eval", str(EXAMPLE), "--json", str(out_f)])
    main(["eval", str(EXAMPLE), "--exact", "--json", str(out_e)])
    f, e = json.loads(out_f.read_text()), json.loads(out_e.read_text())
    assert isinstance(f["R_pi"], float)
    for k in range(2):
        for key in ("eta_pi", "eta_pi_tilde", "alpha", "eps_pi", "L"):
            assert f["per_renderer"][k][key] == pytest.approx(float(Fraction(e["per_renderer"][k][key])), rel=1e-12)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("rho0"), "missing key 'rho0'"),
        (lambda d: d.update(gamma=1.5), "MDP.gamma is 3/2, expected 0 <= gamma < 1"),
        (lambda d: d["P"][0].__setitem__(0, ["1/2", "1/3", 0]), r"MDP.P[0, 0] sums to 5/6, expected 1"),
        (lambda d: d.update(train=[]), "RenderingFamily.train is empty"),
        (lambda d: d.update(train="0"), 'key "train": expected a list of renderer indices'),
        (lambda d: d["policies"].pop("pi_tilde"), 'key "policies"'),
        (lambda d: d.update(test_weights=["1/2", "1/3"]), "RenderingFamily.test_weights sums to 5/6"),
    ],
)
def test_malformed_file_one_line_error_exit_2(tmp_path, edit, message):
    data = json.loads(EXAMPLE.read_text())
    edit(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, "-m", "repconv", "eval", str(bad), "--exact"], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["eval", str(bad)]) == 2


@given(instances(exact=True))
def test_round_trip_exact(inst):
    back = instance_from_dict(json.loads(json.dumps(instance_to_dict(inst))), exact=True)
    assert evaluate(back).to_json() == evaluate(inst).to_json()


def test_save_and_load(tmp_path):
    inst = load_instance(EXAMPLE, exact=True)
    save_instance(inst, tmp_path / "copy.json", note="copy")
    again = load_instance(tmp_path / "copy.json", exact=True)
    assert evaluate(again).to_json() == evaluate(inst).to_json()
    assert json.loads((tmp_path / "copy.json").read_text())["note"] == "copy"


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os
    import stat

    from common.files import atomic_write_json

    mask = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert json.loads(path.read_text()) == {"a": 1}


def _plain_example_text(r_literal: str) -> str:
    """The example with every number a plain JSON number, and ``r`` replaced by the literal JSON text given."""
    plain = instance_to_dict(load_instance(EXAMPLE))  # a float instance: plain numbers only
    plain["r"] = "R_LITERAL"
    return json.dumps(plain).replace('"R_LITERAL"', r_literal)


def test_float_reading_of_plain_numbers_by_hand(tmp_path):
    # Decimals read as their nearest float, -0.0 as 0.0 (as its exact fraction 0 gives), an underflowing literal as 0.
    path = tmp_path / "plain.json"
    path.write_text(_plain_example_text("[[0.1, -0.0], [1e-400, 3], [0, 2.5e-3]]"))
    inst = load_instance(path)
    assert inst.mdp.r.dtype == np.float64
    assert inst.mdp.r.tolist() == [[0.1, 0.0], [0.0, 3.0], [0.0, 0.0025]]
    assert not np.signbit(inst.mdp.r).any()
    # every array equals the exact reading rounded to float64
    exact = load_instance(path, exact=True).to_float()
    for got, want in ((inst.mdp.P, exact.mdp.P), (inst.mdp.rho0, exact.mdp.rho0), (inst.family.renderers, exact.family.renderers),
                      (inst.family.test_weights, exact.family.test_weights), (inst.pi, exact.pi), (inst.pi_tilde, exact.pi_tilde)):
        assert got.dtype == np.float64 and got.tolist() == want.tolist()
    assert float(inst.mdp.gamma) == 0.9 and inst.family.train == (0,)


@pytest.mark.parametrize(
    "r_literal, message",
    [
        ("[[true, 0], [0, 1], [0, 0]]", "MDP.r: entries must be numbers, got bool (ragged nesting?)"),
        ("[[1e999, 0], [0, 1], [0, 0]]", "MDP.r: ~1e999 is beyond the float64 range (|x| < 1.8e308)"),
        ("[[NaN, 0], [0, 1], [0, 0]]", "MDP.r[0, 0] is nan, expected a finite number"),
        ("[[1" + "0" * 400 + ", 0], [0, 1], [0, 0]]", "0000 is beyond the float64 range (|x| < 1.8e308)"),
        ("[[0, 0], [0, 1], [0]]", "MDP.r: entries must be numbers, got list (ragged nesting?)"),
        ('[["x", 0], [0, 1], [0, 0]]', """MDP.r: cannot read 'x' as a number (expected e.g. 0.25 or "1/4")"""),
        ("[[null, 0], [0, 1], [0, 0]]", "MDP.r: entries must be numbers, got NoneType (ragged nesting?)"),
        ("[[0, 0], [0, 1], [0, 0]], \"P\": [[[0.6, 0.5, 0], [0, 0.5, 0.5]], [[0.5, 0.5, 0], [0, 0.5, 0.5]], "
         "[[0, 0, 1], [0, 0, 1]]]", "MDP.P[0, 0] sums to 1.1, expected 1 (row of a stochastic matrix)"),
    ],
)
def test_float_reading_words_bad_entries_as_the_entry_by_entry_reading(tmp_path, capsys, r_literal, message):
    # Plain-number files take a one-conversion path in float mode; a bad entry still gets its precise message.
    bad = tmp_path / "bad.json"
    bad.write_text(_plain_example_text(r_literal))
    assert main(["eval", str(bad)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(message), lines
