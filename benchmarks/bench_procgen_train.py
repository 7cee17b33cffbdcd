"""Training throughput and memory of the Procgen trainers (prints figures; not a test).

* PPO and MDPO at 16 envs x 64 steps (the paper's 8 minibatches and 3 epochs) for 3 iterations:
  environment steps per second (all agents together, and per agent) and the peak resident memory
  of the process. Each algorithm runs in its own process, so peaks do not mix.
* The rollout storage of one agent at the paper's 64 envs x 256 steps: uint8 frames (ours) against
  the same rollout with float32 frames (the paper's buffer), by bytes held and by the growth of the
  process's peak resident memory when it is allocated (or CUDA memory with --device cuda).
* On the CPU, one update on one minibatch of the paper's size (2048 samples per agent, random frames),
  passed through the networks whole and in the trainer's CPU chunks: seconds and the growth of the peak
  resident memory.

Usage: python benchmarks/bench_procgen_train.py [--game coinrun] [--device cpu] [--torch-threads N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child_train(algo: str, game: str, device: str, iterations: int, threads: int | None) -> dict:
    import torch

    from procgen_checks.config import make_config
    from procgen_checks.ppo import Trainer
    from procgen_checks.training import choose_torch_threads, resolve_device

    dev = resolve_device(device)
    torch.set_num_threads(choose_torch_threads(dev, threads))
    config = make_config("paper", game=game, algo=algo, distribution_mode="easy", num_levels=200,
                         num_envs=16, num_steps=64, total_steps=16 * 64 * iterations)
    trainer = Trainer(config, device=dev)
    start = time.perf_counter()
    rows = [trainer.iterate() for _ in range(iterations)]
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    trainer.close()
    total = sum(a.env_steps for a in trainer.agents)
    return {
        "algo": algo,
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "iterations": iterations,
        "seconds": seconds,
        "env_steps_all_agents": total,
        "steps_per_s_all_agents": total / seconds,
        "steps_per_s_per_agent": trainer.agents[0].env_steps / seconds,
        "rollout_s": sum(r["rollout_s"] for r in rows),
        "update_s": sum(r["update_s"] for r in rows),
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_storage(kind: str, device: str) -> dict:
    import torch

    from procgen_checks.ppo import RolloutStorage
    from procgen_checks.training import resolve_device

    dev = resolve_device(device)
    before = _peak_rss_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    if kind == "uint8":
        storage = RolloutStorage(256, 64, dev)
        tensors = list(storage.tensors().values())
    else:  # the paper's buffer: float32 frames and float32 per-step arrays (obs, actions, log_probs, values, rewards, dones, advantages, returns)
        tensors = [torch.zeros((256, 64, 64, 64, 3), device=dev)] + [torch.zeros((256, 64), device=dev) for _ in range(7)]
    nbytes = sum(t.numel() * t.element_size() for t in tensors)
    out = {"kind": kind, "bytes": nbytes, "peak_rss_growth_mb": _peak_rss_mb() - before}
    if dev.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


def child_update_memory(algo: str, chunk: int, threads: int | None) -> dict:
    """One update on one minibatch of the paper's size (2048 samples per agent) with random frames: the growth of
    the peak resident memory and the seconds it took, the minibatch passed whole (``chunk`` 0) or in chunks."""
    import torch

    from procgen_checks.config import make_config
    from procgen_checks.ppo import Trainer
    from procgen_checks.training import choose_torch_threads

    torch.set_num_threads(choose_torch_threads(torch.device("cpu"), threads))
    config = make_config("paper", game="coinrun", algo=algo, num_envs=64, num_steps=32, num_minibatches=1,
                         update_epochs=1)
    trainer = Trainer(config, device="cpu", update_chunk=chunk)
    gen = torch.Generator().manual_seed(0)
    for agent in trainer.agents:
        st = agent.storage
        st.obs.copy_(torch.randint(0, 256, st.obs.shape, dtype=torch.uint8, generator=gen))
        st.actions.copy_(torch.randint(0, 15, st.actions.shape, generator=gen))
        for t in (st.log_probs, st.values, st.advantages, st.returns):
            t.copy_(torch.randn(t.shape, generator=gen))
    before = _peak_rss_mb()
    start = time.perf_counter()
    trainer._update()
    seconds = time.perf_counter() - start
    trainer.close()
    return {"algo": algo, "chunk": chunk, "samples_per_agent": config.minibatch_size, "seconds": seconds,
            "peak_rss_growth_mb": _peak_rss_mb() - before}


def _run_child(args: list[str]) -> dict:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": path})
    if out.returncode:
        raise SystemExit(f"child {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--game", default="coinrun")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--torch-threads", type=int)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--skip-update-memory", action="store_true",
                    help="skip the memory of one update at the paper's minibatch size (whole and in chunks; minutes, "
                         "about 13 GB for MDPO's whole minibatch)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        if args.child.startswith("storage-"):
            result = child_storage(args.child.split("-", 1)[1], args.device)
        elif args.child.startswith("update-"):
            _, algo, chunk = args.child.split("-")
            result = child_update_memory(algo, int(chunk), args.torch_threads)
        else:
            result = child_train(args.child, args.game, args.device, args.iterations, args.torch_threads)
        print(json.dumps(result))
        return

    threads = ["--torch-threads", str(args.torch_threads)] if args.torch_threads else []
    common = ["--game", args.game, "--device", args.device, "--iterations", str(args.iterations), *threads]
    results = {"game": args.game, "device": args.device}
    for algo in ("ppo", "mdpo"):
        r = _run_child(["--child", algo, *common])
        results[algo] = r
        print(f"{algo:4s} 16 envs x 64 steps, {args.iterations} iterations on {r['device']} ({r['torch_threads']} threads): "
              f"{r['steps_per_s_all_agents']:,.0f} env steps/s (all agents), {r['steps_per_s_per_agent']:,.0f} per agent; "
              f"rollout {r['rollout_s']:.1f} s, update {r['update_s']:.1f} s; peak RSS {r['peak_rss_mb']:,.0f} MB")
    ratio = results["mdpo"]["steps_per_s_all_agents"] / results["ppo"]["steps_per_s_all_agents"]
    results["mdpo_over_ppo_throughput"] = ratio
    print(f"MDPO / PPO throughput (env steps of all agents per second): {ratio:.2f} (goal >= 0.45)")
    for kind in ("uint8", "float32"):
        results[f"storage_{kind}"] = _run_child(["--child", f"storage-{kind}", "--device", args.device])
    u, f = results["storage_uint8"], results["storage_float32"]
    print(f"rollout storage per agent at 64 envs x 256 steps: uint8 frames {u['bytes'] / 2**20:,.1f} MiB "
          f"(peak RSS +{u['peak_rss_growth_mb']:,.0f} MB), float32 frames {f['bytes'] / 2**20:,.1f} MiB "
          f"(peak RSS +{f['peak_rss_growth_mb']:,.0f} MB); ratio {u['bytes'] / f['bytes']:.4f} (goal <= 1/4 of float32)")
    if "cuda_peak_mb" in u:
        print(f"  CUDA peak allocated: uint8 {u['cuda_peak_mb']:,.1f} MiB, float32 {f['cuda_peak_mb']:,.1f} MiB")
    if args.device == "cpu" and not args.skip_update_memory:
        from procgen_checks.ppo import CPU_UPDATE_CHUNK

        for algo in ("ppo", "mdpo"):
            rows = [_run_child(["--child", f"update-{algo}-{chunk}", *threads]) for chunk in (0, CPU_UPDATE_CHUNK)]
            results[f"update_memory_{algo}"] = rows
            whole, chunked = rows
            print(f"{algo:4s} update of one minibatch of {whole['samples_per_agent']} samples per agent (the paper's): "
                  f"whole {whole['seconds']:.1f} s, peak RSS +{whole['peak_rss_growth_mb']:,.0f} MB; in chunks of "
                  f"{CPU_UPDATE_CHUNK} {chunked['seconds']:.1f} s, +{chunked['peak_rss_growth_mb']:,.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
