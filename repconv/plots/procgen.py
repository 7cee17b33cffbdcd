"""Figures of a Procgen estimation run, drawn from its ``estimate.json`` (no maths here).

Each function takes the loaded result dict and an output stem, and writes ``STEM.png`` and ``STEM.pdf``.
Each checkpoint has its own colour and its own legend label; the marker shape names the algorithm (PPO: circle,
MDPO: square, imported paper weights: triangle), so PPO vs MDPO still reads at a glance. Markers are open so
that overlapping points stay visible. A panel without data says so.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from theory.registry import get_statement

__all__ = ["tv_distributions", "tv_vs_strength", "robustness_vs_gap", "bounds_vs_gap", "rendering_gap_bounds",
           "rv_vs_rendering_gap", "write_all", "FIGURES"]

SPLIT_STYLES = {"train": "-", "test": "--"}


ALGO_MARKERS = {"ppo": "o", "mdpo": "s", "paper-import": "^"}


def _policy_styles(result: dict) -> dict[str, dict]:
    """Checkpoint label -> colour (one per checkpoint), marker (per algorithm) and a short legend label."""
    cmap = plt.get_cmap("tab10" if len(result["checkpoints"]) <= 10 else "tab20")
    return {rec["label"]: {"color": cmap(i % cmap.N), "marker": ALGO_MARKERS.get(rec["algo"], "D"),
                           "name": rec["label"].split(" (")[0]}
            for i, rec in enumerate(result["checkpoints"])}


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, wrap=True)


def _save(fig, stem: Path) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return paths


def _legend(ax, fontsize: int = 7) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=fontsize)


def tv_distributions(result: dict, stem: Path) -> list[Path]:
    """Empirical CDF of per-state TV per renderer, one line per checkpoint and split, coloured by algorithm."""
    renderers = result["config"]["renderers"]
    fig, axes = plt.subplots(1, len(renderers), figsize=(4.2 * len(renderers), 3.4), squeeze=False)
    styles = _policy_styles(result)
    for ax, name in zip(axes[0], renderers):
        drawn = 0
        for rec in result["checkpoints"]:
            st = styles[rec["label"]]
            for split, srec in rec["splits"].items():
                tv = (srec["renderers"].get(name) or {}).get("tv") or {}
                samples = np.sort(np.asarray(tv.get("samples") or [], dtype=float))
                if samples.size == 0:
                    continue
                y = np.arange(1, samples.size + 1) / samples.size
                ax.step(samples, y, where="post", color=st["color"], ls=SPLIT_STYLES.get(split, ":"), lw=1.2,
                        label=f"{st['name']} ({split})")
                drawn += 1
        if not drawn:
            _no_data(ax, f"no per-state TV samples for {name}\n(estimate without saved samples?)")
        ax.set_ylabel("fraction of visited states with TV <= x")
        ax.set_title(f"{name}: empirical CDF (solid: train levels, dashed: test)", fontsize=8)
        ax.set_xlabel("TV(pi(.|f1(s)), pi(.|f2(s)))")
        ax.set_xscale("symlog", linthresh=1e-4)
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    _legend(axes[0][-1], 6)
    fig.suptitle("Per-state TV between renderings (max of samples: a lower estimate of R)", fontsize=10)
    return _save(fig, stem)


def tv_vs_strength(result: dict, stem: Path) -> list[Path]:
    """Mean per-state TV (95% CI band) and sampled max against renderer strength, per image renderer."""
    names = sorted({n for rec in result["checkpoints"] for n in rec["splits"]["train"].get("strength_sweep", {})})
    if not names:
        names = ["(no image renderer)"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.4), squeeze=False)
    styles = _policy_styles(result)
    for ax, name in zip(axes[0], names):
        drawn = 0
        for rec in result["checkpoints"]:
            rows = rec["splits"]["train"].get("strength_sweep", {}).get(name, [])
            if not rows:
                continue
            drawn += 1
            st = styles[rec["label"]]
            s = [r["strength"] for r in rows]
            mean = [r["tv"]["mean"] for r in rows]
            lo = [r["tv"]["ci"]["mean"][0] for r in rows]
            hi = [r["tv"]["ci"]["mean"][1] for r in rows]
            mx = [r["tv"]["max"] for r in rows]
            c = st["color"]
            ax.plot(s, mean, "-", marker=st["marker"], mfc="none", color=c, label=st["name"])
            ax.fill_between(s, lo, hi, color=c, alpha=0.15)
            ax.plot(s, mx, ":", marker=st["marker"], ms=4, color=c, alpha=0.8)
        if not drawn:
            _no_data(ax, "no strength sweep in this result\n(no image renderer, or --sweep-states 0)")
        ax.set_title(f"{name}: mean TV (solid, 95% CI band), max sampled TV (dotted)", fontsize=8)
        ax.set_xlabel("renderer strength")
        ax.set_ylabel("TV(pi(.|f1(s)), pi(.|f2(s)))")
        ax.grid(alpha=0.3)
    _legend(axes[0][-1], 6)
    fig.suptitle("TV against perturbation strength (training-level states)", fontsize=10)
    return _save(fig, stem)


def robustness_vs_gap(result: dict, stem: Path) -> list[Path]:
    """Sampled R (max TV over renderers) against the measured generalization gap, one point per checkpoint."""
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    seen: set = set()
    styles = _policy_styles(result)
    for rec in result["checkpoints"]:
        mg = rec.get("measured_gap") or {"value": rec["returns"].get("gap"), "ci": rec["returns"].get("gap_ci")}
        r, gap = rec["R_hat"]["all_renderers"], mg["value"]
        if r is None or gap is None:
            continue
        ci = mg.get("ci")
        yerr = None if ci is None else [[gap - ci[0]], [ci[1] - gap]]
        st = styles[rec["label"]]
        seen.add(rec["label"])
        ax.errorbar([r], [gap], yerr=yerr, fmt=st["marker"], mfc="none", mew=1.5, ms=7, color=st["color"], capsize=3,
                    elinewidth=1, alpha=0.9, label=f"{st['name']} ({rec['algo']})")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("R_hat = max sampled TV over renderers (lower estimate of R)")
    ax.set_ylabel("gap = return(train) - return(test)")
    ax.set_title("Robustness and measured gap per checkpoint (bars: 95% CI of the gap)", fontsize=9)
    ax.grid(alpha=0.3)
    if seen:
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.text(0.5, 0.5, "no checkpoint with both R and a measured gap", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, stem)


def bounds_vs_gap(result: dict, stem: Path) -> list[Path]:
    """Bounds on the train-test gap against gamma, next to the measured discounted gap and the return range."""
    recs = [r for r in result["checkpoints"] if (r.get("bounds") or {}).get("by_gamma")]
    n = max(1, len(recs))
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[len(recs):]:
        ax.axis("off")
    if not recs:
        flat[0].axis("on")
        flat[0].text(0.5, 0.5, "no bounds in this result", ha="center", va="center", transform=flat[0].transAxes)
    for ax, rec in zip(flat, recs):
        bg = rec["bounds"]["by_gamma"]
        drawn = 0
        horizon = 1.0 / (1.0 - np.asarray(bg["gammas"], dtype=float))
        for key in bg["curves"]:
            vals = np.asarray([np.nan if v is None else v for v in bg["curves"][key]], dtype=float)
            if not np.isfinite(vals).any():
                continue
            drawn += 1
            (line,) = ax.plot(horizon, vals, "-", label=key)
            vac = np.asarray([bool(v) for v in bg.get("vacuous", {}).get(key, [False] * len(vals))])
            ax.plot(horizon[~vac], vals[~vac], "o", ms=4, color=line.get_color())
            ax.plot(horizon[vac], vals[vac], "x", ms=6, color=line.get_color())
        rr = np.asarray([np.nan if v is None else v for v in bg["return_range"]], dtype=float)
        if np.isfinite(rr).any():
            ax.plot(horizon, rr, "k:", label="return range")
        gap = np.asarray([np.nan if v is None else abs(v) for v in bg["measured_gap"]], dtype=float)
        if np.isfinite(gap).any():
            drawn += 1
            ax.plot(horizon, gap, "ks-", ms=4, mfc="none", label="|measured gap| (discounted)")
        if not drawn:
            _no_data(ax, "no bound and no measured gap at any discount\n(no discounted returns in this estimate)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # the discounted gap of a sparse, late reward is astronomically small at short horizons: keep the
        # bounds readable by showing at most 8 decades below the smallest bound
        lows = [np.nanmin(np.asarray([np.nan if v is None else v for v in c], dtype=float)) for c in bg["curves"].values()]
        lows = [v for v in lows if np.isfinite(v) and v > 0]
        if lows:
            ax.set_ylim(bottom=min(lows) * 1e-8)
        ax.set_xlabel("effective horizon 1/(1-gamma)")
        ax.set_ylabel("bound on |eta_train - eta_test|")
        ax.set_title(f"{rec['label']}\n{get_statement('G1r').plain_text(lhs='|eta_train - eta_test|')}; "
                     f"{get_statement('G1.test').plain_text()}\n(o: informative, x: vacuous by the statement's threshold)",
                     fontsize=7)
        ax.grid(alpha=0.3)
        _legend(ax, 6)
    return _save(fig, stem)


def _arr(xs) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in xs], dtype=float)


def rendering_gap_bounds(result: dict, stem: Path, split: str = "test") -> list[Path]:
    """G1vr (solid) and G1r (dotted) bounds and the measured rendering gap's interval against the effective horizon.

    One row per renderer, one column per algorithm (PPO and MDPO side by side); one colour per checkpoint.
    """
    recs = [r for r in result["checkpoints"] if (r.get("bounds") or {}).get("rendering_gap")]
    renderers = result["config"]["renderers"]
    algos = sorted({r["algo"] for r in recs}, key=lambda a: list(ALGO_MARKERS).index(a) if a in ALGO_MARKERS else 9) or ["-"]
    styles = _policy_styles(result)
    fig, axes = plt.subplots(len(renderers), len(algos), figsize=(5.2 * len(algos), 3.6 * len(renderers)), squeeze=False,
                             layout="constrained")
    for i, name in enumerate(renderers):
        for j, algo in enumerate(algos):
            ax = axes[i][j]
            mine = [r for r in recs if r["algo"] == algo]
            rr_drawn = False
            for c, rec in enumerate(mine):
                rows = rec["bounds"]["rendering_gap"]["per_renderer"].get(name, {}).get(split)
                if not rows:
                    continue
                h = 1.0 / (1.0 - np.asarray(rows["gammas"], dtype=float))
                col = styles[rec["label"]]["color"]
                short = styles[rec["label"]]["name"]
                ax.plot(h, _arr(rows["G1vr"]["bound"]), "-", color=col, label=f"{short}: G1vr")
                ax.plot(h, _arr(rows["G1r"]["bound"]), ":", color=col, label=f"{short}: G1r (R lower est.)")
                ci = np.array([[np.nan, np.nan] if v is None or None in v else v for v in rows["gap_ci"]], dtype=float)
                hi = np.maximum(np.abs(ci[:, 0]), np.abs(ci[:, 1]))
                lo = np.where((ci[:, 0] <= 0) & (ci[:, 1] >= 0), 0.0, np.minimum(np.abs(ci[:, 0]), np.abs(ci[:, 1])))
                ax.vlines(h * (1 + 0.04 * c), lo, hi, color=col, lw=2.5, alpha=0.7)
                if not rr_drawn:
                    ax.plot(h, _arr(rows["return_range"]), "k--", lw=1, label="return range")
                    rr_drawn = True
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=1e-2)
            ax.set_ylim(bottom=0)  # |gap| and bounds are non-negative
            ax.set_title(f"{name}, {algo.upper()} ({split} levels)\n"
                         + "; ".join(get_statement(sid).plain_text(lhs="|gap|") for sid in ("G1vr", "G1r")), fontsize=8)
            ax.set_xlabel("effective horizon 1/(1-gamma)")
            ax.set_ylabel("|eta_train_render - eta_k|")
            ax.grid(alpha=0.3)
            _legend(ax, 5)
    fig.suptitle("Bounds on the rendering gap (lines) and the measured gap's 95% interval of |gap| (bars)", fontsize=10)
    return _save(fig, stem)


def rv_vs_rendering_gap(result: dict, stem: Path) -> list[Path]:
    """Rv_hat against the measured rendering gap, one point per (checkpoint, renderer), one panel per split."""
    gamma = result["config"]["gamma"]
    markers = {"backgrounds": "o", "themes": "v", "monochrome": "P", "all-render": "*", "randconv": "s", "jitter": "^"}
    splits = ["train", "test"]
    styles = _policy_styles(result)
    fig, axes = plt.subplots(1, len(splits), figsize=(5.2 * len(splits), 4.0), squeeze=False, layout="constrained")
    for ax, split in zip(axes[0], splits):
        for rec in result["checkpoints"]:
            for name, per in rec.get("Rv_hat", {}).items():
                rv, gp = per.get(split), rec["rendering_gap"][name].get(split)
                if not rv or not gp or gamma not in rv["gammas"]:
                    continue
                i, k = rv["gammas"].index(gamma), gp["by_gamma"]["gammas"].index(gamma)
                x, y = rv["value"][i], gp["by_gamma"]["gap"][k]
                if x is None or y is None:
                    continue
                xci, yci = rv["ci"][i], gp["by_gamma"]["ci"][k]
                ax.errorbar([x], [y], xerr=[[x - xci[0]], [xci[1] - x]], yerr=[[y - yci[0]], [yci[1] - y]],
                            fmt=markers.get(name, "o"), mfc="none", mew=1.2, color=styles[rec["label"]]["color"],
                            capsize=2, ms=6, alpha=0.8,
                            label=f"{styles[rec['label']]['name']} / {name}")
        rc = (result.get("rank_correlation") or {}).get(split) or {}
        txt = "n/a" if rc.get("value") is None else f"{rc['value']:.2f} [{rc['ci'][0]:.2f}, {rc['ci'][1]:.2f}]"
        if rc.get("undefined"):
            txt = f"undefined ({rc['undefined']})"
        ax.set_title(f"{split} levels, gamma = {gamma}: Spearman {txt}", fontsize=9)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel("Rv_hat (visitation-weighted TV)")
        ax.set_ylabel("rendering gap eta_train_render - eta_k")
        ax.grid(alpha=0.3)
    # one legend outside the panels: inside, its 24 entries hid the points at large Rv_hat
    handles = {lab: h for ax in axes[0] for h, lab in zip(*ax.get_legend_handles_labels())}
    if handles:
        fig.legend(handles.values(), handles.keys(), fontsize=6, loc="outside right center")
    return _save(fig, stem)


#: file stem -> figure function; the report links the PNGs under these names.
FIGURES = {
    "tv_distributions": tv_distributions,
    "tv_vs_strength": tv_vs_strength,
    "robustness_vs_gap": robustness_vs_gap,
    "bounds_vs_gap": bounds_vs_gap,
    "rendering_gap_bounds": rendering_gap_bounds,
    "rv_vs_rendering_gap": rv_vs_rendering_gap,
}


def write_all(result: dict, out_dir: Path) -> dict[str, list[Path]]:
    """Every figure of :data:`FIGURES` into ``out_dir/figures``."""
    return {name: fn(result, Path(out_dir) / "figures" / name) for name, fn in FIGURES.items()}
