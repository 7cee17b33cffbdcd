"""MDPO training throughput of this project's trainer against the paper's own trainer (prints figures; not a test).

Both train MDPO (two agents) on coinrun, hard mode, 500 training levels, seed 1, 16 envs x 64 steps per agent
(``--num-envs 64 --num-steps 256``: the paper's runs, minutes per iteration on a CPU), the paper's hyperparameters (8 minibatches, 3 epochs, Adam 5e-4), on the CPU with the same number of torch
threads. One iteration is, for each trainer, what its training loop does between two updates: both agents'
rollouts, the advantages and the update. The paper's loop body (its ``main.py``) also evaluates both agents
on 10 episodes and saves four checkpoint files after every iteration; neither is training, so neither is timed
(its per-minibatch TensorBoard logging is part of its update and is timed, written to a temporary folder).
Each measurement is a fresh process: ``--warmup`` iterations, then ``--iterations`` timed ones; the two trainers
alternate within each repeat, so the ratio of a repeat compares runs under the same machine load.

The paper's trainer needs its own environment: a checkout of its repository
(github.com/MyRepositories-hub/Mutual-Distillation-Policy-Optimization) and a Python with gym 0.23.1 (its
wrappers fail on gym 0.26), Procgen, torch and tensorboard, e.g.::

    python3.11 -m venv /tmp/paperenv
    /tmp/paperenv/bin/pip install "gym==0.23.1" "numpy<2" gym3 tqdm tensorboard "torch==2.13.0"
    /tmp/paperenv/bin/pip install --no-deps procgen-mirror==0.10.7

Usage: python benchmarks/bench_paper_trainer.py --paper-code DIR --paper-python /tmp/paperenv/bin/python
       [--iterations 2] [--warmup 1] [--repeats 3] [--torch-threads 2] [--num-envs 16] [--num-steps 64] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GAME, SEED, LEVELS = "coinrun", 1, 500


def child_ours(iterations: int, warmup: int, threads: int, envs: int, steps: int) -> dict:
    import torch

    from procgen_checks.config import make_config
    from procgen_checks.ppo import Trainer

    torch.set_num_threads(threads)
    config = make_config("paper", game=GAME, algo="mdpo", seed=SEED, distribution_mode="hard", num_levels=LEVELS,
                         num_envs=envs, num_steps=steps, total_steps=envs * steps * (iterations + warmup))
    trainer = Trainer(config, device="cpu")
    for _ in range(warmup):
        trainer.iterate()
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.iterate()
    seconds = time.perf_counter() - start
    trainer.close()
    return {"seconds": seconds, "env_steps": 2 * envs * steps * iterations, "torch_threads": torch.get_num_threads(),
            "update_chunk": trainer.update_chunk}


def child_paper(code: str, iterations: int, warmup: int, threads: int, envs: int, steps: int) -> dict:
    """The paper's trainer, built as its ``main.main`` builds it (its own classes and wrappers), on the CPU."""
    sys.path.insert(0, code)
    import random

    import numpy as np
    import torch
    from procgen import ProcgenEnv
    from torch.utils.tensorboard import SummaryWriter

    import main as paper  # the paper's main.py: get_args, make_env
    from agent import Agent
    from trainer import Trainer

    torch.set_num_threads(threads)
    sys.argv = [sys.argv[0], "--num_envs", str(envs), "--num_steps", str(steps)]
    args = paper.get_args()  # the paper's defaults for everything else
    args.env_id, args.seed = GAME, SEED
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as logs:
        agents = []
        for k in (1, 2):
            vec = ProcgenEnv(num_envs=envs, env_name=GAME, rand_seed=SEED, num_levels=LEVELS, start_level=0,
                             distribution_mode="hard")
            vec = paper.make_env(vec, args.gamma)
            vec.single_action_space = vec.action_space
            vec.single_observation_space = vec.observation_space["rgb"]
            agents.append(Agent(args, vec, SummaryWriter(f"{logs}/agent_{k}"), device).to(device))
        params = list(agents[0].parameters()) + list(agents[1].parameters())
        trainer = Trainer(args, torch.optim.Adam(params, lr=args.learning_rate, eps=1e-5), *agents)

        def iteration(i: int) -> None:
            agents[0].interaction(i)
            agents[1].interaction(i)
            trainer.train()

        for i in range(1, warmup + 1):
            iteration(i)
        start = time.perf_counter()
        for i in range(warmup + 1, warmup + iterations + 1):
            iteration(i)
        seconds = time.perf_counter() - start
        for agent in agents:
            agent.writer.close()
            agent.envs.close()
    return {"seconds": seconds, "env_steps": 2 * envs * steps * iterations, "torch_threads": torch.get_num_threads()}


def _run(python: str, args: list[str], pythonpath: str, cwd: str) -> dict:
    out = subprocess.run([python, __file__, *args], capture_output=True, text=True, cwd=cwd,
                         env={**os.environ, "PYTHONPATH": pythonpath})
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values: list[float], spec: str) -> str:
    return "{} / {} / {}".format(*(format(v, spec) for v in (min(values), statistics.median(values), max(values))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paper-code", help="checkout of the paper's repository (its main.py, agent.py, trainer.py)")
    ap.add_argument("--paper-python", default=sys.executable,
                    help="Python with the paper's dependencies (gym 0.23.1, procgen, torch, tensorboard)")
    ap.add_argument("--iterations", type=int, default=2, help="timed iterations per process")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--num-envs", type=int, default=16, help="environments per agent (the paper's runs: 64)")
    ap.add_argument("--num-steps", type=int, default=64, help="steps per environment and iteration (the paper's: 256)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--child", choices=["ours", "paper"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "ours":
        print(json.dumps(child_ours(args.iterations, args.warmup, args.torch_threads, args.num_envs, args.num_steps)))
        return
    if args.child == "paper":
        print(json.dumps(child_paper(args.paper_code, args.iterations, args.warmup, args.torch_threads, args.num_envs,
                                     args.num_steps)))
        return
    if not args.paper_code or not (Path(args.paper_code) / "trainer.py").is_file():
        ap.error("--paper-code must be a checkout of the paper's repository (a folder with its trainer.py)")

    common = ["--iterations", str(args.iterations), "--warmup", str(args.warmup),
              "--torch-threads", str(args.torch_threads), "--num-envs", str(args.num_envs),
              "--num-steps", str(args.num_steps)]
    paper_code = str(Path(args.paper_code).resolve())
    rates: dict[str, list[float]] = {"ours": [], "paper": []}
    with tempfile.TemporaryDirectory() as scratch:
        print(f"load average before: {os.getloadavg()}")
        for repeat in range(args.repeats):
            ours = _run(sys.executable, ["--child", "ours", *common], str(ROOT), str(ROOT))
            paper = _run(args.paper_python, ["--child", "paper", "--paper-code", paper_code, *common], paper_code,
                         scratch)
            for name, r in (("ours", ours), ("paper", paper)):
                rates[name].append(r["env_steps"] / r["seconds"])
            print(f"repeat {repeat + 1}: ours {rates['ours'][-1]:.1f}, paper's {rates['paper'][-1]:.1f} env steps/s "
                  f"(both agents, {ours['torch_threads']} / {paper['torch_threads']} torch threads; ours updates in "
                  f"chunks of {ours['update_chunk'] or 'the whole minibatch'})")
        print(f"load average after: {os.getloadavg()}")
    ratios = [o / p for o, p in zip(rates["ours"], rates["paper"])]
    print(f"MDPO, {GAME} hard, {args.num_envs} envs x {args.num_steps} steps, {args.iterations} timed iterations, "
          f"{args.repeats} paired repeats (min / median / max):")
    print(f"  ours    {spread(rates['ours'], '.1f')} env steps/s (both agents)")
    print(f"  paper's {spread(rates['paper'], '.1f')} env steps/s (both agents)")
    print(f"  ours / paper's: {spread(ratios, '.3f')} (goal >= 1.3)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rates": rates, "ratios": ratios, "config": vars(args)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
