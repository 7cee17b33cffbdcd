"""How much of each run's train-test gap did fine-tuning make? Paired against the starting policy.

Every evaluation of this study (and of the starting policy, ``start-policy.eval.json``) used evaluation seed 0, so
episode ``i`` of a split was played on the same level by every policy (checked below through ``level_seeds``).
Per episode, the change of return from the starting policy is then a paired difference on one level. For each
agent this prints, with 95% percentile-bootstrap intervals over episodes (10,000 resamples, seed 0):

* the change of the training-level return and of the test-level return (pairs resampled together);
* the change of the gap, ``mean(train change) - mean(test change)`` (the two splits' episodes are independent).

Run from the repository root: ``python checkpoints/coinrun-l10-warm/change_from_start.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common.stats import difference_interval  # noqa: E402

HERE = Path(__file__).resolve().parent


def _returns(evaluation: dict, split: str) -> tuple[np.ndarray, list[int]]:
    s = evaluation["splits"][split]
    return np.asarray(s["returns"], dtype=float), s["level_seeds"]


def main() -> None:
    start = json.loads((HERE / "start-policy.eval.json").read_text())
    print("run | agent | train change (95% CI) | test change (95% CI) | gap change (95% CI)")
    per_run: dict[str, list[float]] = {}
    for path in sorted(HERE.glob("runs/*/policy_agent*.eval.json")):
        ev = json.loads(path.read_text())
        changes = {}
        for split in ("train", "test"):
            x, levels = _returns(ev, split)
            x0, levels0 = _returns(start, split)
            if levels != levels0:
                raise SystemExit(f"{path}: the {split} episodes were not played on the starting policy's levels")
            rng = np.random.default_rng(0)
            changes[split] = (x - x0, difference_interval(x, x0, rng, paired=True))
        rng = np.random.default_rng(0)
        gap = float(changes["train"][0].mean() - changes["test"][0].mean())
        gap_ci = difference_interval(changes["train"][0], changes["test"][0], rng)
        run, agent = path.parent.name, path.name.split(".")[0]
        per_run.setdefault(run, []).append(gap)
        cells = [f"{changes[s][0].mean():+.2f} ({changes[s][1][0]:+.2f}, {changes[s][1][1]:+.2f})" for s in ("train", "test")]
        print(f"{run} | {agent} | {cells[0]} | {cells[1]} | {gap:+.2f} ({gap_ci[0]:+.2f}, {gap_ci[1]:+.2f})")
    print()
    for algo in ("ppo", "mdpo"):
        runs = {r: float(np.mean(v)) for r, v in per_run.items() if f"-{algo}-" in r}
        values = ", ".join(f"{r.split('-')[-1]} {v:+.2f}" for r, v in sorted(runs.items()))
        print(f"{algo}: gap change per run (an MDPO run's two agents averaged): {values}; mean {np.mean(list(runs.values())):+.2f}")


if __name__ == "__main__":
    main()
