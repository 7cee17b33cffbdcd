"""Throughput of the robustness estimation against plain CNN inference (prints figures; not a test).

At the same batch size B, on the same frames:

* plain inference: ``model.action_probs(frames)`` on uint8 frames (the IMPALA forward pass + softmax);
* estimation per renderer, the work done per recorded state once the rollout has recorded it and its
  reference outputs (:func:`procgen_checks.estimators.image_renderer_distances` for ``randconv`` and
  ``jitter``: render, forward, float64 softmax, TV, KL, feature cosine distance;
  :func:`procgen_checks.estimators.lockstep_distances` for the twin frames of a lockstep renderer);
* ``jitter`` as kornia's ``ColorJitter`` computes it (the implementation before the closed-form hue
  rotation), on the same draws, for the speed-up of the renderer's own formulation;
* the reference evaluation itself (:func:`procgen_checks.rollouts.policy_outputs`), done once per state and
  shared by every renderer.

The goal is estimation >= 0.8x plain inference per renderer.

Usage: python benchmarks/bench_procgen_estimate.py [--batch 256] [--states 1024] [--repeats 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from procgen_checks.envs import LevelRange
from procgen_checks.estimators import image_renderer_distances, lockstep_distances
from procgen_checks.network import ActorCritic
from procgen_checks.renderers import ColourJitter, make_image_renderer
from procgen_checks.rollouts import LockstepFrames, Rollout, policy_outputs
from common.files import atomic_write_json, run_metadata


class KorniaColourJitter(ColourJitter):
    """The jitter as it was computed before: kornia's ``ColorJitter`` itself on NCHW frames (same draws)."""

    def _render(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        out = self.augmentation(frames.permute(0, 3, 1, 2) / 255.0, params=self.parameters(frames.shape[0], rng))
        return (out * 255.0).permute(0, 2, 3, 1).contiguous()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256, help="batch size of every forward pass")
    ap.add_argument("--states", type=int, default=1024, help="states per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model = ActorCritic().eval()
    rng = np.random.default_rng(args.seed)
    frames = rng.integers(0, 256, size=(args.states, 64, 64, 3), dtype=np.uint8)
    twin = rng.integers(0, 256, size=(args.states, 64, 64, 3), dtype=np.uint8)
    tensor = torch.from_numpy(frames)
    B = args.batch

    def plain():
        with torch.inference_mode():
            for i in range(0, args.states, B):
                model.action_probs(tensor[i:i + B])

    ref = policy_outputs(model, frames, B)
    rollout = Rollout(
        split="train", levels=LevelRange(0, 1), frames=frames, outputs=ref,
        actions=np.zeros(args.states, int), env_index=np.zeros(args.states, int), step=np.arange(args.states),
        rewards=np.zeros((1, 1)), dones=np.zeros((1, 1), bool), step_values=None, first_level_seeds=np.zeros(1, int),
        lockstep={"backgrounds": LockstepFrames(twin, np.ones(args.states, bool), [], 1)},
    )
    cases = {
        "plain": plain,
        "reference": lambda: policy_outputs(model, frames, B),
        "backgrounds": lambda: lockstep_distances(model, rollout, "backgrounds", batch_size=B),
        "randconv": lambda: image_renderer_distances(model, rollout, make_image_renderer("randconv"), np.random.default_rng(1), batch_size=B),
        "jitter": lambda: image_renderer_distances(model, rollout, make_image_renderer("jitter"), np.random.default_rng(1), batch_size=B),
        "jitter_kornia": lambda: image_renderer_distances(model, rollout, KorniaColourJitter(1.0), np.random.default_rng(1), batch_size=B),
    }
    # The machine may be shared: the cases are interleaved within each repeat, and each ratio to plain inference
    # is taken within one repeat (both under the same load); min / median / max over the repeats are printed.
    times: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    rate = {name: [args.states / t for t in ts] for name, ts in times.items()}
    ratio = {name: [p / t for p, t in zip(times["plain"], ts)] for name, ts in times.items()}
    spread = lambda v: (min(v), statistics.median(v), max(v))  # noqa: E731
    show = lambda v, spec: "{1:{s}} (min {0:{s}}, max {2:{s}})".format(*spread(v), s=spec)  # noqa: E731
    results = {"batch": B, "states": args.states, "torch_threads": torch.get_num_threads(), "states_per_s": rate,
               "ratio_to_plain": ratio}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {B}, {args.states} states, "
          f"{args.repeats} interleaved repeats: median (min, max)")
    print(f"plain inference (action_probs)       : {show(rate['plain'], '.0f')} states/s")
    print(f"reference outputs (once per state)   : {show(rate['reference'], '.0f')} states/s; "
          f"{show(ratio['reference'], '.2f')}x plain")
    labels = {"backgrounds": "backgrounds (lockstep twin frames)", "randconv": "randconv (strength 1)", "jitter": "jitter (strength 1)",
              "jitter_kornia": "jitter through kornia (before)"}
    for name, label in labels.items():
        verdict = "meets" if statistics.median(ratio[name]) >= 0.8 else "MISSES"
        print(f"estimation {label:34s}: {show(rate[name], '.0f')} states/s; {show(ratio[name], '.2f')}x plain "
              f"(median {verdict} the 0.8x goal)")
    own = [k / j for j, k in zip(times["jitter"], times["jitter_kornia"])]
    print(f"jitter / jitter through kornia (same draws): {show(own, '.2f')}x")
    if args.json:
        atomic_write_json(args.json, {**results, "meta": run_metadata(config=vars(args), seed=args.seed)})


if __name__ == "__main__":
    main()
