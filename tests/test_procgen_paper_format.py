"""The paper's checkpoint format: state dicts built to its key names, imported, run, exported back."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("procgen")

import torch.nn.functional as F  # noqa: E402

from procgen_checks.checkpoints import load_policy  # noqa: E402
from repconv.cli import main  # noqa: E402


def paper_encoder_state(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The paper's encoder keys and shapes, written out from its description (16-32-32 IMPALA, Linear(2048, 256))."""
    state = {}
    c_in = 3
    for stage, c in enumerate((16, 32, 32)):
        state[f"{stage}.conv.weight"] = torch.randn(c, c_in, 3, 3, generator=gen) * 0.2
        state[f"{stage}.conv.bias"] = torch.randn(c, generator=gen) * 0.1
        for block in (0, 1):
            for conv in (0, 1):
                state[f"{stage}.res_block{block}.conv{conv}.weight"] = torch.randn(c, c, 3, 3, generator=gen) * 0.1
                state[f"{stage}.res_block{block}.conv{conv}.bias"] = torch.randn(c, generator=gen) * 0.1
        c_in = c
    state["5.weight"] = torch.randn(256, 2048, generator=gen) * 0.05
    state["5.bias"] = torch.randn(256, generator=gen) * 0.1
    return state


def paper_logits(enc: dict[str, torch.Tensor], actor: dict[str, torch.Tensor], frames: torch.Tensor) -> torch.Tensor:
    """The paper's forward pass written directly on the state dicts (HWC uint8 -> /255 -> CHW)."""
    x = frames.permute(0, 3, 1, 2).float() / 255.0
    for stage in range(3):
        x = F.conv2d(x, enc[f"{stage}.conv.weight"], enc[f"{stage}.conv.bias"], padding=1)
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        for block in (0, 1):
            p = f"{stage}.res_block{block}"
            y = F.conv2d(F.relu(x), enc[f"{p}.conv0.weight"], enc[f"{p}.conv0.bias"], padding=1)
            x = x + F.conv2d(F.relu(y), enc[f"{p}.conv1.weight"], enc[f"{p}.conv1.bias"], padding=1)
    hidden = F.relu(F.linear(F.relu(x.flatten(1)), enc["5.weight"], enc["5.bias"]))
    return F.linear(hidden, actor["weight"], actor["bias"])


def test_import_run_and_export_paper_checkpoint(tmp_path, capsys):
    gen = torch.Generator().manual_seed(0)
    enc = paper_encoder_state(gen)
    actor = {"weight": torch.randn(15, 256, generator=gen) * 0.1, "bias": torch.randn(15, generator=gen) * 0.1}
    torch.save(enc, tmp_path / "encoder_agent_1_seed_1.pth")
    torch.save(actor, tmp_path / "actor_agent_1_seed_1.pth")
    policy = tmp_path / "policy.pt"
    assert main(["procgen", "import-paper", str(tmp_path / "encoder_agent_1_seed_1.pth"),
                 str(tmp_path / "actor_agent_1_seed_1.pth"), "--game", "ninja", "--seed", "1", "--out", str(policy)]) == 0
    model, info = load_policy(policy)
    assert not info["has_critic"] and info["algo"] == "paper-import"
    assert (info["game"], info["distribution_mode"], info["train_levels"], info["seed"]) == ("ninja", "hard", [0, 500], 1)
    frames = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8, generator=gen)
    with torch.inference_mode():
        torch.testing.assert_close(model.logits(frames), paper_logits(enc, actor, frames), rtol=1e-5, atol=1e-5)

    assert main(["procgen", "export-paper", str(policy), "--out-dir", str(tmp_path / "back")]) == 0
    enc_back = torch.load(tmp_path / "back" / "encoder.pth", weights_only=True)
    actor_back = torch.load(tmp_path / "back" / "actor.pth", weights_only=True)
    assert list(enc_back) == list(enc) and list(actor_back) == list(actor)
    assert all(torch.equal(enc_back[k], enc[k]) for k in enc) and all(torch.equal(actor_back[k], actor[k]) for k in actor)


def test_import_names_first_mismatching_key(tmp_path, capsys):
    gen = torch.Generator().manual_seed(1)
    actor = {"weight": torch.zeros(15, 256), "bias": torch.zeros(15)}
    torch.save(actor, tmp_path / "actor.pth")
    narrow = paper_encoder_state(gen)
    narrow["5.weight"] = torch.zeros(128, 2048)
    torch.save(narrow, tmp_path / "narrow.pth")
    args = ["--game", "coinrun", "--out", str(tmp_path / "p.pt")]
    assert main(["procgen", "import-paper", str(tmp_path / "narrow.pth"), str(tmp_path / "actor.pth"), *args]) == 2
    assert "key '5.weight' has shape (128, 2048), expected (256, 2048)" in capsys.readouterr().err

    # A whole-agent state dict (encoder under a prefix) is another layout: the first missing key is named.
    prefixed = {f"encoder.encoder.{k}": v for k, v in paper_encoder_state(gen).items()}
    torch.save(prefixed, tmp_path / "agent.pth")
    assert main(["procgen", "import-paper", str(tmp_path / "agent.pth"), str(tmp_path / "actor.pth"), *args]) == 2
    assert "missing key '0.conv.weight' (expected shape (16, 3, 3, 3))" in capsys.readouterr().err

    torch.save(paper_encoder_state(gen), tmp_path / "enc.pth")
    torch.save({"weight": torch.zeros(4, 256), "bias": torch.zeros(4)}, tmp_path / "actor4.pth")
    assert main(["procgen", "import-paper", str(tmp_path / "enc.pth"), str(tmp_path / "actor4.pth"), *args]) == 2
    assert "key 'weight' has shape (4, 256), expected (15, 256)" in capsys.readouterr().err
    assert not (tmp_path / "p.pt").exists()
