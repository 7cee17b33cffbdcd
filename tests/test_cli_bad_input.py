"""Bad input, existing results and interruptions through the real command line: one line on stderr, exit code 2
(130 for Ctrl-C), and no result replaced or computation started on an output that cannot be written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from repconv.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "two_renderers.json"
T1_1MG = ROOT / "examples" / "counterexamples" / "T1-1mg.json"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def _refused(argv, capsys, *fragments) -> str:
    assert main(argv) == 2, argv
    err = _one_line(capsys)
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the computation starts: outputs must be refused before it."""
    import toymdp.checking.falsification
    import toymdp.toy_example.toy_experiment

    def started(*args, **kwargs):
        raise AssertionError("the computation started before its outputs were checked")

    monkeypatch.setattr(toymdp.checking.falsification, "run_checks", started)
    monkeypatch.setattr(toymdp.toy_example.toy_experiment, "run_toy_experiment", started)


# ------------------------------------------------------------------------------------- outputs checked first
def test_unwritable_or_invalid_outputs_are_refused_before_any_work(tmp_path, capsys, no_work):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    _refused(["check", "--json", str(a_file / "check.json")], capsys, f"--json {a_file / 'check.json'}",
             f"{a_file} is a file, not a folder")
    _refused(["check", "--json", str(tmp_path)], capsys, "is a directory, expected a file name")
    _refused(["check", "--json", ""], capsys, "--json: empty path")
    _refused(["check", "--counterexamples", ""], capsys, "--counterexamples: empty path")
    # One bad output refuses the run, so the good one is not computed and then lost.
    _refused(["check", "--json", str(tmp_path / "ok.json"), "--counterexamples", str(a_file)], capsys,
             f"--counterexamples {a_file}: is a file, expected a folder")
    _refused(["toy", "--out", str(a_file / "toy")], capsys, "is a file, not a folder")
    _refused(["toy", "--out", str(tmp_path / "t"), "--formats", "png,jpgg"], capsys,
             "--formats: unknown figure format 'jpgg'; supported:", "png")
    _refused(["eval", str(EXAMPLE), "--json", str(a_file / "x.json")], capsys, "is a file, not a folder")
    assert not (tmp_path / "ok.json").exists()


def test_plot_refuses_bad_formats_dpi_and_results_without_figures(tmp_path, capsys):
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"kind": "check", "statements": []}))
    _refused(["plot", str(results), "--dpi", "0"], capsys, "--dpi is 0, expected 10 to 2400")
    _refused(["plot", str(results), "--dpi", "100000"], capsys, "--dpi is 100000, expected 10 to 2400")
    _refused(["plot", str(results), "--formats", "svgz,bmpx"], capsys, "unknown figure format 'bmpx'")
    _refused(["plot", str(results)], capsys, "results kind 'check' has no figures; known kinds: toy")
    _refused(["plot", str(tmp_path)], capsys, "is a directory, expected a results JSON file")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    _refused(["plot", str(binary)], capsys, "not valid JSON")


# ------------------------------------------------------------------------------------- no silent overwrite
def test_folders_holding_results_are_refused_without_overwrite(tmp_path, capsys, no_work):
    toy = tmp_path / "toy"
    toy.mkdir()
    (toy / "toy_results.json").write_text("{}")
    _refused(["toy", "--out", str(toy)], capsys, f"--out {toy}: already holds results (toy_results.json)",
             "--overwrite")
    cex = tmp_path / "cex"
    cex.mkdir()
    (cex / "T1-1mg.json").write_text("{}")
    _refused(["check", "--counterexamples", str(cex)], capsys, "already holds results (T1-1mg.json)")
    assert (toy / "toy_results.json").read_text() == "{}" and (cex / "T1-1mg.json").read_text() == "{}"


def test_procgen_results_are_not_replaced(tmp_path, capsys):
    pytest.importorskip("torch")
    from procgen_checks.checkpoints import save_policy
    from procgen_checks.network import ActorCritic

    ckpt = tmp_path / "policy_agent1.pt"
    save_policy(ckpt, ActorCritic(), game="coinrun", distribution_mode="easy", algo="ppo")
    committed = tmp_path / "policy_agent1.eval.json"
    committed.write_text('{"episodes_per_split": 100}')
    _refused(["procgen", "evaluate", str(ckpt), "--episodes", "4", "--device", "cpu"], capsys,
             f"--out {committed}: already exists (an earlier evaluation); pass --overwrite")
    assert committed.read_text() == '{"episodes_per_split": 100}'
    est = tmp_path / "est"
    est.mkdir()
    (est / "estimate.json").write_text("{}")
    _refused(["procgen", "estimate", str(ckpt), "--out", str(est)], capsys, "already holds results (estimate.json)")
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "actor.pth").write_text("keep")
    _refused(["procgen", "export-paper", str(ckpt), "--out-dir", str(paper)], capsys, "already holds results (actor.pth)")
    assert (paper / "actor.pth").read_text() == "keep"
    assert main(["procgen", "export-paper", str(ckpt), "--out-dir", str(paper), "--overwrite"]) == 0
    _refused(["procgen", "import-paper", str(paper / "encoder.pth"), str(paper / "actor.pth"), "--game", "coinrun",
              "--out", str(ckpt)], capsys, f"--out {ckpt}: already exists (a policy checkpoint)")


# ------------------------------------------------------------------------------------- sloppy inputs
def test_sloppy_numbers_and_names(tmp_path, capsys):
    _refused(["check", "--seed", "-1"], capsys, "--seed is -1, expected >= 0")
    data = json.loads(EXAMPLE.read_text())
    data["polices"] = data.pop("policies")
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps(data))
    _refused(["eval", str(typo)], capsys, f"{typo}: instance: unknown key 'polices' (did you mean 'policies'?)")
    data = json.loads(EXAMPLE.read_text())
    data["r"] = [[1e308] * len(row) for row in data["r"]]
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(data))
    _refused(["eval", str(huge)], capsys, "overflows float64 (|r| up to 1e+308", "--exact")
    with pytest.raises(SystemExit) as exit_info:
        main(["procgen", "import-paper", "e.pth", "a.pth", "--game", "coinrun", "--agent", "7", "--out", "x.pt"])
    assert exit_info.value.code == 2
    assert "argument --agent: invalid choice: 7 (choose from 1, 2)" in capsys.readouterr().err


def test_procgen_sloppy_numbers(tmp_path, capsys):
    pytest.importorskip("torch")
    from procgen_checks.checkpoints import save_policy
    from procgen_checks.network import ActorCritic

    ckpt = tmp_path / "p.pt"
    save_policy(ckpt, ActorCritic(), game="coinrun", distribution_mode="easy", algo="ppo")
    _refused(["procgen", "evaluate", str(ckpt), "--batch-envs", "0"], capsys, "--batch-envs is 0, expected >= 1")
    _refused(["procgen", "train", "--game", "coinrun", "--preset", "smoke", "--total-steps", "10", "--device", "cpu",
              "--out", str(tmp_path / "run")], capsys, "total_steps=10 is below one iteration", "nothing would be trained")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------- Ctrl-C in check
def test_ctrl_c_in_check_says_nothing_was_written(tmp_path, capsys, monkeypatch):
    import toymdp.checking.falsification

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(toymdp.checking.falsification, "run_checks", interrupted)
    out, cex = tmp_path / "check.json", tmp_path / "cex"
    assert main(["check", "--json", str(out), "--counterexamples", str(cex)]) == 130
    err = _one_line(capsys)
    assert "interrupted before the checks finished; nothing was written" in err and str(out) in err
    assert not out.exists() and not cex.exists()


# ------------------------------------------------------------------------------------- eval: variants and size
def test_eval_variants_replays_a_saved_counterexample(tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["eval", str(T1_1MG), "--json", str(out)]) == 0
    assert "T1-1mg" not in json.loads(out.read_text())["statements"]
    assert main(["eval", str(T1_1MG), "--variants", "--json", str(out)]) == 0
    saved = json.loads(T1_1MG.read_text())["counterexample"]
    entry = json.loads(out.read_text())["statements"]["T1-1mg"]
    worst = entry[saved["renderer"]] if isinstance(entry, list) else entry
    assert worst["holds"] is False
    # The float slack agrees with the exact slack stored by `repconv check` (an independent exact computation).
    num, den = (int(v) for v in saved["slack"].split("/"))
    assert worst["slack"] == pytest.approx(num / den, rel=1e-9)
    assert "T1-1mg" in capsys.readouterr().out


def test_eval_large_instances_skip_the_exact_redecision_and_say_so(tmp_path, capsys):
    from toymdp.mdp.instance_io import save_instance
    from toymdp.mdp.random_instances import random_instances

    from repconv.commands.eval_cmd import EXACT_REDECIDE_MAX_STATES

    big = tmp_path / "big.json"
    save_instance(random_instances(np.random.default_rng(1), 1, EXACT_REDECIDE_MAX_STATES + 1, 2, 2, 2, gamma=0.9)[0], big)
    out = tmp_path / "big_out.json"
    assert main(["eval", str(big), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"{EXACT_REDECIDE_MAX_STATES + 1} states is above the limit of {EXACT_REDECIDE_MAX_STATES}" in err
    record = json.loads(out.read_text())
    assert record["notes"] and not any(
        e["exact"] for entry in record["statements"].values() for e in (entry if isinstance(entry, list) else [entry]))
    assert main(["eval", str(EXAMPLE), "--no-exact-redecide", "--json", str(out)]) == 0
    assert "near ties are float-decided (--no-exact-redecide)" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- durable renames
def test_atomic_writes_fsync_the_file_then_its_folder(tmp_path, monkeypatch):
    import os

    from common.files import atomic_write_text

    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    target = tmp_path / "run" / "config.json"
    atomic_write_text(target, "{}")
    # The data first (the temporary file, renamed since: same inode as the result), then the folder holding the rename.
    assert synced == [target.stat().st_ino, target.parent.stat().st_ino]
