"""Figures and the table of the toy example, drawn only from a saved results record (``repconv toy``).

Every function takes the JSON dictionary written by ``repconv toy`` and nothing else; no quantity is
computed here (means and confidence intervals are in the record).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from theory.registry import get_statement
from theory.statements import smallest_return

__all__ = ["FIGURES", "figure_jobs", "render_all", "table_markdown", "training_curves", "bounds_vs_robustness", "bounds_vs_gamma", "tightest_instances"]

_CURVE_PANELS = (
    ("eta_own", "return on own training renderers"),
    ("eta_test", r"test return $\eta_{test}$"),
    ("R", r"robustness $R(\pi)$"),
    ("D_train", r"$D_{train}(\pi_1, \pi_2)$"),
)


def _plt():
    import matplotlib.pyplot as plt  # imported on first use: reading results and tables needs no matplotlib

    return plt


def _alpha_colours(alphas: list[float]) -> list[Any]:
    plt = _plt()
    cmap = plt.get_cmap("viridis")
    n = max(len(alphas) - 1, 1)
    # viridis up to 0.8: its last yellows are hard to see on white
    return ["black" if a == 0 else cmap(0.15 + 0.65 * (i - 1) / max(n - 1, 1)) for i, a in enumerate(alphas)]


def _no_data(ax, text: str) -> None:
    """A note in a panel that has nothing to draw, so that an empty panel says why."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, wrap=True)


def _finite(*arrays: Any) -> bool:
    return any(np.isfinite(np.asarray(a, dtype=float)).any() for a in arrays)


def _alpha_label(a: float) -> str:
    return "independent" if a == 0 else f"distilled, alpha={a:g}"


def training_curves(results: dict[str, Any], family: str):
    """Train/test return, R and D_train along training, mean and CI over seeds, one line per alpha."""
    plt = _plt()
    fam = results["families"][family]
    steps = np.asarray(fam["steps"])
    colours = _alpha_colours(fam["alphas"])
    fig, axes = plt.subplots(1, len(_CURVE_PANELS), figsize=(4.0 * len(_CURVE_PANELS), 3.4), constrained_layout=True)
    for ax, (key, title) in zip(axes, _CURVE_PANELS):
        summ = fam["curve_summary"][key]
        for i, a in enumerate(fam["alphas"]):
            mean, low, high = (np.asarray(summ[f])[i] for f in ("mean", "low", "high"))
            ax.plot(steps, mean, color=colours[i], lw=1.6, label=_alpha_label(a))
            ax.fill_between(steps, low, high, color=colours[i], alpha=0.15, lw=0)
        if key.startswith("eta"):
            ax.axhline(fam["family"]["eta_optimal"], color="grey", ls=":", lw=1, label=r"optimal $\eta^*$")
        ax.set_title(title)
        ax.set_xlabel("gradient step")
        ax.set_ylabel(title)
    axes[0].legend(fontsize=7, loc="lower right")
    level = round(100 * results["config"]["confidence"])
    fig.suptitle(f"toy family '{family}': independent vs mutually distilled agents "
                 f"(mean and {level}% CI over {len(fam['seeds'])} seeds)")
    return fig


def bounds_vs_robustness(results: dict[str, Any], family: str):
    """Actual test return against the C1 and G1 lower bounds, at every checkpoint, seed, agent and alpha."""
    plt = _plt()
    fam = results["families"][family]
    st = fam["statements"]
    panels = [sid for sid in ("C1", "G1.test") if sid in st]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), constrained_layout=True, squeeze=False)
    colours = _alpha_colours(fam["alphas"])
    for ax, sid in zip(axes[0], panels):
        x_key = "R_sum" if sid == "C1" else "R"
        x = np.asarray(fam["curves"][x_key])
        lhs, rhs = np.asarray(st[sid]["lhs"]), np.asarray(st[sid]["rhs"])
        # open circles and crosses: points of a dense cloud stay distinguishable where they overlap
        for i, a in enumerate(fam["alphas"]):
            ax.scatter(x[i].ravel(), lhs[i].ravel(), s=16, facecolors="none", edgecolors=colours[i], linewidths=0.8,
                       alpha=0.7, marker="o", label=f"{_alpha_label(a)}: actual (o)")
            ax.scatter(x[i].ravel(), rhs[i].ravel(), s=16, color=colours[i], linewidths=0.8, alpha=0.7, marker="x",
                       label=f"{_alpha_label(a)}: bound (x)")
        if not _finite(lhs, rhs):
            _no_data(ax, f"no finite value of {sid} in this record")
        ax.axhline(smallest_return(fam["family"]["r_min"], fam["family"]["gamma"]), color="red", ls="--", lw=1,
                   label=r"vacuous below $r_{min}/(1-\gamma)$")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel(r"$R(\pi) + R(\tilde\pi) + D_{train}$ (peer $\pi$, agent $\tilde\pi$)" if sid == "C1" else r"$R(\tilde\pi)$ of the agent")
        ax.set_ylabel("o: left-hand side   x: right-hand side")
        ax.set_title(get_statement(sid).plain_text(), fontsize=9)
    axes[0][0].legend(fontsize=6, loc="lower left", markerscale=2)
    fig.suptitle(f"toy family '{family}': actual test return (o) against its lower bounds (x), every checkpoint and seed")
    return fig


def bounds_vs_gamma(results: dict[str, Any], family: str):
    """Each statement's two sides for the final policies as the discount varies; vacuous bounds marked."""
    plt = _plt()
    fam = results["families"][family]
    sweep = fam["gamma_sweep"]
    gammas = np.asarray(sweep["gammas"])
    sids = list(sweep["statements"])
    ncols = min(3, len(sids))
    nrows = -(-len(sids) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.4 * nrows), constrained_layout=True, squeeze=False)
    for ax in axes.ravel()[len(sids):]:
        ax.axis("off")
    colours = _alpha_colours(fam["alphas"])
    show = [0, len(fam["alphas"]) - 1] if len(fam["alphas"]) > 1 else [0]
    for ax, sid in zip(axes.ravel(), sids):
        rec = sweep["statements"][sid]
        if not _finite(*(np.asarray(rec[side]["mean"])[i] for side in ("lhs", "rhs") for i in show)):
            _no_data(ax, f"no finite value of {sid} at any discount")
        for i in show:
            a = fam["alphas"][i]
            ax.plot(gammas, np.asarray(rec["lhs"]["mean"])[i], color=colours[i], lw=1.6, label=f"{_alpha_label(a)}: lhs")
            ax.plot(gammas, np.asarray(rec["rhs"]["mean"])[i], color=colours[i], lw=1.6, ls="--", label=f"{_alpha_label(a)}: rhs")
            vac = np.asarray(rec["vacuous_fraction"])[i] > 0.5
            ax.scatter(gammas[vac], np.asarray(rec["rhs"]["mean"])[i][vac], color="red", marker="v", s=22, zorder=3)
        ax.plot(gammas, sweep["vacuous_level"], color="red", ls=":", lw=1, label=r"$r_{min}/(1-\gamma)$")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel(r"discount $\gamma$")
        ax.set_ylabel("lhs (solid), rhs (dashed)")
        ax.set_title(f"{get_statement(sid).plain_text()}\n(red triangles: vacuous for most runs)", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"toy family '{family}': bounds against the discount (final policies, trained at gamma={fam['family']['gamma']:g})")
    return fig


def tightest_instances(results: dict[str, Any]):
    """The largest tightness ratio the optimiser found, per statement, size and discount setting."""
    plt = _plt()
    tight = results["tightest"]["results"]
    sids = list(tight)
    settings = list(dict.fromkeys(str(row["gamma_setting"]) for rows in tight.values() for row in rows))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.6), constrained_layout=True,
                             squeeze=False, sharey=True)
    width = 0.8 / max(len(sids), 1)
    for ax, setting in zip(axes[0], settings):
        for j, sid in enumerate(sids):
            rows = [row for row in tight[sid] if str(row["gamma_setting"]) == setting]
            xs = np.arange(len(rows)) + j * width
            values = [row["tightness"] for row in rows]
            ax.bar(xs, values, width=width, label=get_statement(sid).plain_text())
            for xpos, row in zip(xs, rows):
                note = f"{row['tightness']:.3g}" + (f"\n$\\gamma$={row['gamma']:.2g}" if setting == "optimised" else "")
                ax.annotate(note, (xpos, row["tightness"]), ha="center", va="bottom", fontsize=6)
            ax.set_xticks(np.arange(len(rows)) + width * (len(sids) - 1) / 2, [f"S={row['num_states']}" for row in rows])
        if not any(row for sid in sids for row in tight[sid] if str(row["gamma_setting"]) == setting):
            _no_data(ax, "no instance searched at this setting")
        ax.axhline(1.0, color="grey", ls=":", lw=1)
        ax.set_ylim(0, 1.25)
        ax.set_xlabel("number of states S")
        ax.set_ylabel("largest tightness ratio found\n(exact; 1 = the bound is attained)")
        ax.set_title(r"$\gamma$ chosen by the optimiser" if setting == "optimised" else rf"$\gamma$ = {setting}", fontsize=9)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("tightest instances found by the optimiser over small MDPs")
    return fig


#: name -> (function, needs) ; families figures are drawn once per family
FIGURES = {
    "training_curves": (training_curves, "curve_summary"),
    "bounds_vs_R": (bounds_vs_robustness, "statements"),
    "bounds_vs_gamma": (bounds_vs_gamma, "gamma_sweep"),
}


def figure_jobs(results: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(file stem, draw)`` for every figure the record has data for; ``draw()`` returns the Figure."""
    jobs = [(f"toy_{name}_{family}", partial(draw, results, family))
            for family, fam in results["families"].items()
            for name, (draw, needs) in FIGURES.items() if fam.get(needs)]
    if results.get("tightest"):
        jobs.append(("toy_tightest_instances", partial(tightest_instances, results)))
    return jobs


def render_all(results: dict[str, Any], out_dir: str | Path, formats: Iterable[str] = ("png", "pdf"), dpi: int = 110,
               progress: bool = False) -> list[Path]:
    """Draw every figure the record has data for into ``out_dir`` as ``toy_<figure>[_<family>].<format>``.

    ``progress``: a progress bar over the figures on standard error.
    """
    from tqdm.auto import tqdm

    plt = _plt()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, draw in tqdm(figure_jobs(results), desc="figures", unit="fig", disable=not progress):
        fig = draw()
        for fmt in formats:
            path = out_dir / f"{stem}.{fmt}"
            fig.savefig(path, dpi=dpi)
            written.append(path)
        plt.close(fig)
    return written


def _num(x: float | None) -> str:
    """A number of the record; ``None`` is an undefined value (e.g. a tightness ratio with zero penalty)."""
    return "n/a" if x is None else f"{x:.3g}"


def _ci(cell: dict[str, float], digits: int = 3) -> str:
    return f"{cell['mean']:.{digits}f} [{cell['low']:.{digits}f}, {cell['high']:.{digits}f}]"


def table_markdown(results: dict[str, Any]) -> str:
    """The toy table as Markdown: final values, mean [CI] over seeds, per family and alpha."""
    level = round(100 * results["config"]["confidence"])
    cols = ("eta_own", "eta_train", "eta_test", "gap", "R", "D_train")
    lines = [
        f"Final values after training, mean [{level}% CI] over seeds (each seed: the mean of its two agents).",
        "",
        "| family | alpha | " + " | ".join(cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for row in results["table"]:
        lines.append(f"| {row['family']} | {row['alpha']:g} | " + " | ".join(_ci(row[c]) for c in cols) + " |")
    lines += [
        "",
        f"Change against independent training (same seeds, paired), mean [{level}% CI]:",
        "",
        "| family | alpha | eta_test | R | D_train |",
        "|---|---|---|---|---|",
    ]
    for row in results["table"]:
        if row["alpha"] != 0:
            lines.append(f"| {row['family']} | {row['alpha']:g} | " + " | ".join(
                _ci(row[f"{c}_minus_independent"]) for c in ("eta_test", "R", "D_train")) + " |")
    sids = [k for k in results["table"][0] if isinstance(results["table"][0][k], dict) and "holds_fraction" in results["table"][0][k]]
    if sids:
        lines += [
            "",
            "Statements along training (peer as pi, agent as pi~): fraction of (seed, agent, checkpoint) where it holds; "
            "final slack and tightness ratio (means); fraction of final checks that are vacuous.",
            "",
            "| family | alpha | " + " | ".join(f"{s} holds / slack / tightness / vacuous" for s in sids) + " |",
            "|---|---|" + "---|" * len(sids),
        ]
        for row in results["table"]:
            cells = [f"{row[s]['holds_fraction']:.3f} / {_num(row[s]['final_slack'])} / {_num(row[s]['final_tightness'])} / "
                     f"{row[s]['final_vacuous_fraction']:.2f}" for s in sids]
            lines.append(f"| {row['family']} | {row['alpha']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
