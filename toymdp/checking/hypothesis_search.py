"""Hypothesis' targeted search for counterexamples (needs the ``test`` extra).

Every example is an instance drawn from :mod:`toymdp.strategies` (generic instances and each edge
case: deterministic or identical renderers, a single renderer, ``pi = pi~``, ``gamma = 0``,
deterministic policies); every statement, part and variant is decided on it, and hypothesis'
``target`` pushes each ID towards a violation (a larger tightness ratio, or a smaller relative slack).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings, target
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from ..mdp.evaluation import evaluate
from ..mdp.model import Instance
from .checks import check_all
from .search import objective_values
from .strategies import instances, observation_policies

__all__ = ["edge_case_instances", "hypothesis_search"]


@st.composite
def _deterministic_base(draw, sizes: dict) -> Instance:
    """A deterministic base policy and a stochastic new one: states only the new policy visits."""
    inst = draw(instances(**sizes, deterministic_policies=True))
    O, A = inst.pi.shape
    return Instance(
        inst.mdp, inst.family, inst.pi, draw(observation_policies(O, A, exact=sizes["exact"], deterministic=False))
    )


def edge_case_instances(*, exact: bool = False) -> st.SearchStrategy:
    """Generic instances and every edge case of the property tests, in one strategy."""
    sizes: dict[str, Any] = dict(
        num_states=st.integers(1, 4),
        num_actions=st.integers(1, 3),
        num_observations=st.integers(1, 4),
        num_renderers=st.integers(1, 3),
        exact=exact,
    )
    return st.one_of(
        _deterministic_base(sizes),
        instances(**sizes),
        instances(**sizes, deterministic_renderers=True),
        instances(**sizes, identical_renderers=True),
        instances(**{**sizes, "num_renderers": 1}),
        instances(**sizes, same_policy=True),
        instances(**sizes, gamma=0 if exact else 0.0),
        instances(**sizes, deterministic_policies=True),
    )


def hypothesis_search(
    ids: list[str], examples: int, tallies: dict[str, Any], *, exact: bool = False, seed: int = 0, progress: bool = True
) -> None:
    """Run ``examples`` hypothesis examples; each decides every ID and records it in ``tallies`` (method ``hypothesis``)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=examples, desc="hypothesis", unit="inst", disable=not progress)

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate, Phase.target],
        suppress_health_check=list(HealthCheck),
    )
    @given(edge_case_instances(exact=exact))
    def search(inst):
        results = check_all(evaluate(inst), ids)
        for sid, res in results.items():
            tallies[sid].record("hypothesis", res, lambda i, inst=inst: inst, random=False)
            objective = "tightness" if np.isfinite(np.asarray(res.tightness, dtype=float)).any() else "slack"
            value = float(np.min(objective_values(res, objective)))
            if np.isfinite(value):
                target(-value, label=sid)
        bar.update(1)

    try:
        search()
    finally:
        bar.close()
