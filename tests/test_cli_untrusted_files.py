"""Files a user passes to the Procgen commands can never run code, and foreign files get one line and exit 2."""

from __future__ import annotations

import json
import os
import pickle

import pytest

torch = pytest.importorskip("torch")

from procgen_checks.checkpoints import save_policy  # noqa: E402
from procgen_checks.network import ActorCritic  # noqa: E402
from repconv.cli import main  # noqa: E402


class _RunsCodeOnLoad:
    """Unpickling this calls ``os.system``: what a downloaded checkpoint could do under ``weights_only=False``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_files(tmp_path):
    marker = tmp_path / "code-ran"
    payload = {"format": "repconv-procgen-policy-v1", "model": _RunsCodeOnLoad(marker), "has_critic": True}
    zipped = tmp_path / "evil.pt"
    torch.save(payload, zipped)  # torch's zip format
    legacy = tmp_path / "evil_legacy.pt"
    legacy.write_bytes(pickle.dumps(payload))  # a bare pickle
    return marker, [zipped, legacy]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_the_payload_does_run_code_when_unpickled_unsafely(tmp_path):
    # The control: the same file under weights_only=False would have run the command.
    marker, (zipped, _) = _malicious_files(tmp_path)
    torch.load(zipped, weights_only=False)
    assert marker.exists()


def test_malicious_pickles_are_refused_by_every_command_and_run_nothing(tmp_path, capsys):
    marker, files = _malicious_files(tmp_path)
    good = tmp_path / "good.pt"
    save_policy(good, ActorCritic(), game="coinrun", distribution_mode="easy", algo="ppo")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    for evil in files:
        (run / "state.pt").write_bytes(evil.read_bytes())
        commands = [
            ["procgen", "evaluate", str(evil), "--device", "cpu", "--no-progress"],
            ["procgen", "export-paper", str(evil), "--out-dir", str(tmp_path / "exp")],
            ["procgen", "import-paper", str(evil), str(evil), "--game", "coinrun", "--out", str(tmp_path / "imp.pt")],
            ["procgen", "estimate", str(evil), "--out", str(tmp_path / "est")],
            ["procgen", "train", "--resume", str(run), "--device", "cpu", "--no-progress"],
        ]
        for argv in commands:
            assert main(argv) == 2, argv
            err = _error_line(capsys)
            assert str(evil.name if argv[1] != "train" else run / "state.pt") in err, err
            assert "refused" in err, err
    assert not marker.exists()
    assert not (tmp_path / "imp.pt").exists() and not (tmp_path / "exp").exists()


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file (0 bytes)"),
    (b"hello, I am a text file\n", "not a readable policy checkpoint"),
    (json.dumps({"format": "repconv-procgen-policy-v1"}).encode(), "not a readable policy checkpoint"),
])
def test_foreign_files_get_one_line_naming_file_and_problem(tmp_path, capsys, content, problem):
    path = tmp_path / "policy.pt"
    path.write_bytes(content)
    for argv in (["procgen", "evaluate", str(path), "--device", "cpu"],
                 ["procgen", "export-paper", str(path), "--out-dir", str(tmp_path / "x")],
                 ["procgen", "estimate", str(path), "--out", str(tmp_path / "est")]):
        assert main(argv) == 2
        err = _error_line(capsys)
        assert str(path) in err and problem in err, err


def test_truncated_and_foreign_checkpoints(tmp_path, capsys):
    good = tmp_path / "good.pt"
    save_policy(good, ActorCritic(), game="coinrun", distribution_mode="easy", algo="ppo")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert main(["procgen", "evaluate", str(truncated), "--device", "cpu"]) == 2
    err = _error_line(capsys)
    assert str(truncated) in err and "not a readable policy checkpoint (truncated" in err
    # A state dict of another network: a torch file, but not a policy checkpoint.
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3, 3)}, other)
    assert main(["procgen", "export-paper", str(other), "--out-dir", str(tmp_path / "x")]) == 2
    assert "not a repconv-procgen-policy-v1 file" in _error_line(capsys)
    # A training state that is no training state.
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"weight": torch.zeros(1)}, run / "state.pt")
    assert main(["procgen", "train", "--resume", str(run), "--device", "cpu", "--no-progress"]) == 2
    err = _error_line(capsys)
    assert f"{run / 'state.pt'}: not a repconv-procgen-train-state-v1 file" in err


def test_directory_for_a_checkpoint(tmp_path, capsys):
    run = tmp_path / "mdpo"
    run.mkdir()
    assert main(["procgen", "evaluate", str(run), "--device", "cpu"]) == 2
    assert "is a directory with no policy_agent*.pt" in _error_line(capsys)
    for k in (1, 2):
        save_policy(run / f"policy_agent{k}.pt", ActorCritic(), game="coinrun", distribution_mode="easy", algo="mdpo",
                    agent=k)
    assert main(["procgen", "export-paper", str(run), "--out-dir", str(tmp_path / "x")]) == 2
    err = _error_line(capsys)
    assert "is a run directory with 2 policies; pass one of" in err and "policy_agent2.pt" in err
    # One policy: the directory is unambiguous and accepted.
    (run / "policy_agent2.pt").unlink()
    assert main(["procgen", "export-paper", str(run), "--out-dir", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / "encoder.pth").is_file()
