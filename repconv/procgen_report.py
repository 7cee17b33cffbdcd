"""The markdown report of a Procgen estimate (`repconv procgen report`) and the short summary `estimate` prints.

Rendering only: every number comes from the estimate's result dictionary (``estimate.json``).
"""

from __future__ import annotations

__all__ = ["render_report", "summary_table"]


def summary_table(result: dict) -> str:
    """What was estimated, one row per checkpoint (the full tables are in ``repconv procgen report``)."""
    head = (f"{'checkpoint':42}{'R lower est.':>13}{'eps (MC)':>10}{'measured gap [95% CI]':>30}"
            f"{'G1r bound':>12}  G1r vacuous")
    lines = [head, "-" * len(head)]
    for rec in result.get("checkpoints", []):
        r_hat = (rec.get("R_hat") or {}).get("all_renderers")
        mc = ((rec.get("eps") or {}).get("monte_carlo") or {}).get("eps")
        gap = rec.get("measured_gap") or {}
        ci = gap.get("ci") or [None, None]
        gap_text = f"{_fmt(gap.get('value'))} [{_fmt(ci[0])}, {_fmt(ci[1])}]"
        g1r = next((b for b in ((rec.get("bounds") or {}).get("at_gamma") or []) if b.get("statement") == "G1r"), {})
        lines.append(f"{str(rec.get('label', rec.get('path')))[:41]:42}{_fmt(r_hat):>13}{_fmt(mc):>10}{gap_text:>30}"
                     f"{_fmt(g1r.get('bound')):>12}  {_fmt(g1r.get('vacuous')) if g1r else 'n/a'}")
    lines.append("R: max of sampled TVs over renderers, a lower estimate of the supremum; "
                 f"gamma {result.get('config', {}).get('gamma')}; full tables: repconv procgen report")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- report


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e4):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def _ci(summary: dict, key: str) -> str:
    lo, hi = summary["ci"][key]
    return f"{_fmt(summary[key])} [{_fmt(lo)}, {_fmt(hi)}]"


def render_report(result: dict, figure_dir: str = "figures") -> str:
    """Markdown summary of an estimation result (tables + figure links); numbers are formatted, not computed."""
    cfg = result["config"]
    meta = result.get("meta", {})
    lines = [
        "# Procgen estimates",
        "",
        f"Checkpoints: {len(result['checkpoints'])}; renderers: {', '.join(cfg['renderers'])}; "
        f"states per checkpoint and split: {cfg['states']} (every {cfg['stride']}th step, {cfg['num_envs']} environments); "
        f"bootstrap resamples: {cfg['bootstrap_resamples']}; seed: {cfg['seed']}; git commit: {meta.get('git_commit', 'n/a')}.",
        "",
        "**How to read.** TV is the per-state total variation between the policy's action distributions under the "
        "training rendering and under the named renderer, on states the policy visits. The **max over sampled states "
        "is a lower estimate of R** (unvisited states or undrawn renderings can only raise R); brackets are 95% "
        "percentile-bootstrap intervals over states (states treated as independent; the interval of a max is rough).",
        "",
        "## Robustness per checkpoint, renderer and split",
        "",
        "| checkpoint | split | renderer | states | mean TV [95% CI] | q90 TV | max TV (lower est. of R) | mean KL | feature cosine dist. | desync pairs / dropped states |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rec in result["checkpoints"]:
        for split, srec in rec["splits"].items():
            for name, e in srec["renderers"].items():
                d = e.get("desync")
                desync = f"{d['desynchronised_pairs']}/{d['pairs']}, {d['states_dropped']}" if d else "-"
                lines.append(
                    f"| {rec['label']} | {split} | {name} | {e['tv']['n']} | {_ci(e['tv'], 'mean')} | {_fmt(e['tv']['q90'])} | "
                    f"{_ci(e['tv'], 'max')} | {_fmt(e['kl']['mean'])} | {_fmt(e['feature_cosine']['mean'])} | {desync} |"
                )
    lines += ["", "## eps, returns and the measured generalization gap", "",
              "| checkpoint | critic | eps (critic, GAE) | eps (Monte Carlo spread) | eps (reward-range bound) | reward range (source) | "
              "train return (episodes) | test return (episodes) | measured train-test gap [95% CI] (episodes per split; source) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for rec in result["checkpoints"]:
        eps, ret, rr = rec["eps"], rec["returns"], rec["reward_range"]
        lines.append(
            f"| {rec['label']} | {_fmt(rec['has_critic'])} | {_fmt((eps['critic'] or {}).get('eps'))} | "
            f"{_fmt(eps['monte_carlo'].get('eps'))} | {_fmt(eps['reward_range_bound'])} | "
            f"[{_fmt(rr['r_min'])}, {_fmt(rr['r_max'])}] ({rr['source'].split(':')[0]}) | "
            f"{_fmt(ret['train']['mean'])} ({ret['train']['episodes']}) | {_fmt(ret['test']['mean'])} ({ret['test']['episodes']}) | "
            f"{_gap_cell(rec.get('measured_gap'))} |"
        )
    lines += ["", f"eps uses gamma = {cfg['gamma']}; the returns are undiscounted first-episode returns of these rollouts (one "
              "episode per environment, unfinished episodes left out and counted in the JSON). The measured gap comes from "
              "`repconv procgen evaluate` where its result was given (more episodes), else from these rollouts; the bounds "
              "below compare with discounted returns of these rollouts.", ""]
    if result["pairs"]:
        lines += ["## D_train between checkpoints of the same game and algorithm", "",
                  "| pair | states | mean TV [95% CI] | max TV = D_train (lower est.) | feature cosine dist. |", "|---|---|---|---|---|"]
        for pr in result["pairs"]:
            lines.append(f"| {pr['labels'][0]} vs {pr['labels'][1]} | {pr['d_train']['n']} | {_ci(pr['d_train'], 'mean')} | "
                         f"{_ci(pr['d_train'], 'max')} | {_fmt(pr['feature_cosine']['mean'])} |")
        lines.append("")
    if any(rec.get("rendering_gap") for rec in result["checkpoints"]):
        lines += _rendering_gap_tables(result)
    if any(rec.get("bounds") for rec in result["checkpoints"]):
        lines += _bounds_table(result)
    lines += _aggregate_table(result)
    lines += ["## Figures", ""]
    captions = {
        "tv_distributions": "Per-state TV per renderer (empirical CDF), PPO vs MDPO, training (solid) and test (dashed) levels.",
        "tv_vs_strength": "TV against the strength of the image renderers (mean with 95% CI band; max dotted).",
        "robustness_vs_gap": "Sampled R (max TV over renderers) against the measured generalization gap.",
        "bounds_vs_gap": "Bounds on the train-test gap against the effective horizon, with the measured gap and the return range.",
        "rendering_gap_bounds": "G1vr (solid) and G1r (dotted) against the measured rendering gap's 95% interval (bars), "
                                "test levels, one row per renderer, PPO and MDPO side by side; dashed: the return range.",
        "rv_vs_rendering_gap": "Rv_hat against the measured rendering gap per (checkpoint, renderer), with 95% intervals "
                               "over episodes and the Spearman correlation (interval over training runs).",
    }
    for name, caption in captions.items():
        lines += [f"![{name}]({figure_dir}/{name}.png)", "", f"*{caption}*", ""]
    return "\n".join(lines) + "\n"


def _interval(v, ci) -> str:
    if v is None:
        return "n/a"
    return f"{_fmt(v)} [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci and None not in ci else _fmt(v)


def _rendering_gap_tables(result: dict) -> list[str]:
    gamma = result["config"]["gamma"]
    lines = ["## The rendering gap and the bounds that bound it", "",
             "Rendering gap = eta(policy acting under the training rendering) - eta(policy acting under renderer k), "
             "paired episodes on the same levels (95% bootstrap interval over episodes). Rv_hat = visitation-weighted "
             f"TV at gamma = {gamma} (interval over episodes; *upper* = the upper limit the G1vr bound uses). "
             "Largest informative gamma: the largest gamma of the grid at which the bound is below the return range. "
             "Held: at every gamma the gap's interval meets [-bound, bound]. G1r uses the max sampled TV, a LOWER "
             "estimate of R.", "",
             "| checkpoint | renderer | split | pairs | undiscounted gap [95% CI] | gap at gamma [95% CI] | "
             "Rv_hat [95% CI] (upper) | G1vr largest informative gamma | G1vr held | G1r largest informative gamma | G1r held |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for rec in result["checkpoints"]:
        rb = ((rec.get("bounds") or {}).get("rendering_gap") or {}).get("per_renderer", {})
        for name, per in rec.get("rendering_gap", {}).items():
            for split, gp in per.items():
                rv = rec["Rv_hat"][name][split]
                i = rv["gammas"].index(gamma)
                k = gp["by_gamma"]["gammas"].index(gamma)
                u = gp["undiscounted"]
                rows = rb.get(name, {}).get(split, {})
                g1vr, g1r = rows.get("G1vr", {}), rows.get("G1r", {})
                lines.append(
                    f"| {rec['label']} | {name} | {split} | {u['pairs']} | {_interval(u['gap'], u['ci'])} | "
                    f"{_interval(gp['by_gamma']['gap'][k], gp['by_gamma']['ci'][k])} | "
                    f"{_interval(rv['value'][i], rv['ci'][i])} ({_fmt(rv['upper'][i])}) | "
                    f"{_fmt(g1vr.get('largest_informative_gamma'))} | {_fmt(g1vr.get('all_held'))} | "
                    f"{_fmt(g1r.get('largest_informative_gamma'))} | {_fmt(g1r.get('all_held'))} |")
    lines.append("")
    rc = result.get("rank_correlation") or {}
    if rc:
        lines += ["## Rank correlation of Rv_hat with the rendering gap", "",
                  "| split | gamma | cells | Spearman [95% CI] | interval resamples |", "|---|---|---|---|---|"]
        for split, c in rc.items():
            value = f"undefined: {c['undefined']}" if c.get("undefined") else _interval(c["value"], c["ci"])
            lines.append(f"| {split} | {c['gamma']} | {c['cells']} | {value} | {c['units']} |")
        lines.append("")
    if any(rec.get("paper_robustness") for rec in result["checkpoints"]):
        lines += ["## The paper's robustness metric (our reading)", "",
                  next(rec["paper_robustness"]["note"] for rec in result["checkpoints"] if rec.get("paper_robustness")), "",
                  "| checkpoint | train levels: mean KL [95% CI] | test levels: mean KL [95% CI] |", "|---|---|---|"]
        for rec in result["checkpoints"]:
            pr = rec.get("paper_robustness")
            if pr:
                lines.append(f"| {rec['label']} | {_ci(pr['train'], 'mean')} | {_ci(pr['test'], 'mean')} |")
        lines.append("")
    return lines


def _gap_cell(mg: dict | None) -> str:
    if not mg or mg.get("value") is None:
        return "n/a"
    ci = mg.get("ci")
    ci_txt = f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else ""
    n = mg.get("episodes_per_split")
    source = "evaluate" if mg["source"].startswith("repconv procgen evaluate") else "these rollouts"
    return f"{_fmt(mg['value'])}{ci_txt} ({n}; {source})"


def _bounds_table(result: dict) -> list[str]:
    lines = ["## Bounds with estimated terms", "",
             "Each bound is evaluated by the theory layer's evaluator of its statement with the estimates plugged in. "
             "With R and eps estimated from samples (R from below), a bound here is an estimate, not a guarantee.", "",
             "| checkpoint | statement | gamma | bound | measured | vacuous | note |", "|---|---|---|---|---|---|---|"]
    for rec in result["checkpoints"]:
        for row in (rec.get("bounds") or {}).get("at_gamma", []):
            lines.append(f"| {rec['label']} | {row['statement']} | {row['gamma']} | {_fmt(row.get('bound'))} | "
                         f"{_fmt(row.get('measured'))} | {_fmt(row.get('vacuous'))} | {row.get('note', '')} |")
    lines += ["", "G1r bounds |eta_train - eta_test| from above (measured: |gap|); G1.test bounds eta_test from below "
              "(measured: eta_test); C1 bounds eta_test of the other policy of the pair from below. All returns are "
              "discounted with the row's gamma. The figure bounds_vs_gap shows the same against gamma."]
    return lines + [""]


def _aggregate_table(result: dict) -> list[str]:
    agg = result.get("aggregate") or {}
    metrics = agg.get("metrics", {})
    if not metrics:
        return []
    lines = ["## Aggregates across games and runs", "", agg.get("note", ""), "",
             "| metric | algorithm | runs per game | IQM [95% CI] | P(MDPO better than PPO) [95% CI] |", "|---|---|---|---|---|"]
    for name, entry in metrics.items():
        poi = entry.get("probability_of_improvement_mdpo_over_ppo")
        poi_txt = f"{_fmt(poi['value'])} [{_fmt(poi['ci'][0])}, {_fmt(poi['ci'][1])}]" if poi else "n/a"
        for algo, a in entry["by_algo"].items():
            iqm = a["iqm"]
            lines.append(f"| {name} | {algo} | {'/'.join(str(len(t)) for t in a['runs'])} | "
                         f"{_fmt(iqm['value'])} [{_fmt(iqm['ci'][0])}, {_fmt(iqm['ci'][1])}] | {poi_txt} |")
    return lines + [""]
