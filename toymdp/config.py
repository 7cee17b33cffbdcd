"""Configurations of ``repconv toy`` and ``repconv check``: typed dataclasses, fields declared with ``documented``.

:class:`DistillationConfig` holds the optimisation of :func:`toymdp.toy_example.distillation.train`;
:class:`ToyExperimentConfig` and :class:`SearchConfig` what :func:`toymdp.toy_example.toy_experiment.run_toy_experiment`
runs; :class:`CheckConfig` the defaults of :func:`toymdp.checking.falsification.run_checks`. The command line builds its
options from them, so this module imports nothing beyond the standard library and :mod:`common.fields`
(no numpy, scipy or sympy): building the parser stays cheap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from common.fields import documented

__all__ = ["DistillationConfig", "SearchConfig", "ToyExperimentConfig", "CheckConfig"]


@dataclass(frozen=True)
class DistillationConfig:
    """Optimisation settings for :func:`toymdp.toy_example.distillation.train`."""

    steps: int = documented(400, "gradient steps")
    learning_rate: float = documented(0.1, "step size (Adam's, or plain gradient descent's)")
    optimizer: str = documented("adam", "optimiser: 'adam' or 'sgd' (plain gradient descent)")
    init_scale: float = documented(0.5, "initial weights ~ N(0, init_scale^2), one draw per agent and seed")
    eval_every: int = documented(10, "measure every this many steps (and at the last step)")

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"DistillationConfig.steps is {self.steps}, expected >= 1")
        if self.learning_rate <= 0:
            raise ValueError(f"DistillationConfig.learning_rate is {self.learning_rate}, expected > 0")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"DistillationConfig.optimizer is {self.optimizer!r}, expected 'adam' or 'sgd'")
        if self.init_scale < 0:
            raise ValueError(f"DistillationConfig.init_scale is {self.init_scale}, expected >= 0")
        if self.eval_every < 1:
            raise ValueError(f"DistillationConfig.eval_every is {self.eval_every}, expected >= 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchConfig:
    """The optimiser over small instances that looks for the tightest T1 and G1 instances."""

    statements: tuple[str, ...] = documented(("T1", "G1"), "statements whose tightness ratio is maximised")
    num_states: tuple[int, ...] = documented((2, 3, 4, 5), "numbers of states S of the instances searched, at most 5")
    num_actions: int = documented(2, "actions A of the instances searched")
    num_renderers: int = documented(2, "renderers K of the instances searched")
    num_observations: int = documented(3, "observations O of the instances searched")
    gammas: tuple[float | None, ...] = documented(
        (None, 0.9, 0.99), "discounts: None lets the optimiser choose gamma in [0, 0.99]; a number fixes it"
    )
    restarts: int = documented(6, "independent optimiser runs per statement, size and discount (the best is kept)")
    seed: int = documented(0, "seed of the optimiser's random draws")

    def __post_init__(self) -> None:
        if any(not 1 <= s <= 5 for s in self.num_states):
            raise ValueError(f"SearchConfig.num_states is {self.num_states}, expected sizes in 1..5")
        if self.restarts < 1:
            raise ValueError(f"SearchConfig.restarts is {self.restarts}, expected >= 1")


@dataclass(frozen=True)
class ToyExperimentConfig:
    """Everything ``repconv toy`` runs; the defaults reproduce the documented table and figures."""

    families: tuple[str, ...] = documented(
        ("opposed", "disjoint"), "toy families, presets of toymdp.toy_example.toy.PRESETS"
    )
    alphas: tuple[float, ...] = documented(
        (0.0, 0.01, 0.03, 0.1, 0.3, 1.0), "distillation weights; must include 0 (independent training)"
    )
    seeds: int = documented(20, "number of seeds (initialisations), paired across alphas")
    first_seed: int = documented(0, "first seed")
    train: DistillationConfig = documented(default_factory=DistillationConfig, help="optimisation of both agents")
    statements: tuple[str, ...] = documented(
        ("C1", "G1", "G1.test", "G1r", "T1"), "statements decided along training ('none': no statement)"
    )
    gammas: tuple[float, ...] = documented(
        (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99), "discounts of the bounds-against-gamma sweep"
    )
    search: SearchConfig | None = documented(
        default_factory=SearchConfig, help="the tightest-instance search; None skips it"
    )
    confidence: float = documented(0.95, "level of the confidence intervals over seeds")

    def __post_init__(self) -> None:
        from .toy_example.toy import PRESETS  # imports scipy: only when a config is made

        unknown = [f for f in self.families if f not in PRESETS]
        if unknown:
            raise ValueError(f"unknown toy family {unknown[0]!r}; known: {', '.join(PRESETS)}")
        if not self.families:
            raise ValueError("ToyExperimentConfig.families is empty")
        if 0.0 not in self.alphas:
            raise ValueError(f"ToyExperimentConfig.alphas is {self.alphas}; it must include 0 (independent training)")
        if any(a < 0 for a in self.alphas):
            raise ValueError(f"ToyExperimentConfig.alphas is {self.alphas}, expected alpha >= 0")
        if self.seeds < 2:
            raise ValueError(
                f"ToyExperimentConfig.seeds is {self.seeds}, expected >= 2 (a confidence interval needs two)"
            )
        if any(not 0 <= g < 1 for g in self.gammas):
            raise ValueError(f"ToyExperimentConfig.gammas is {self.gammas}, expected values in [0, 1)")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckConfig:
    """What ``repconv check`` decides and how hard it searches (the defaults of :func:`run_checks`)."""

    n: int = documented(1000, "random instances")
    exact: bool = documented(False, "draw and decide the random instances in exact rational arithmetic")
    seed: int = documented(0, "seed of the random instances, the optimiser and hypothesis")
    ids: list[str] | None = documented(None, "IDs to check (default: all statements, parts and variants)")
    max_redecide: int = documented(
        5, "per ID and random batch, clear float failures re-decided exactly (near ties always are)"
    )
    restarts: int = documented(2, "optimiser restarts per ID, one small shape each (0 skips)")
    iterations: int = documented(30, "optimiser generations per restart")
    population: int = documented(24, "optimiser population per generation")
    hypothesis_examples: int = documented(100, "hypothesis examples (0 skips; needs the test extra)")
    workers: int = documented(
        0,
        "processes deciding the random batches (0: on Linux one per CPU once there are at least 32 batches, "
        "else this process; the results do not depend on it)",
    )
