"""Exact and batched computation of every quantity of a rendering MDP (THEORY.md, "Setting"), in three folders:

* :mod:`toymdp.mdp`: the data model (``model``: MDP, rendering family, instance, with validation), the engine
  (``engine``: V, Q, A, eta, rho, L, float64-batched or exact; ``numbers``), the rendering-level quantities
  (``evaluation``), the statements' terms (``statement_terms``), instance files (``instance_io``), random instances
  and Gymnasium's toy-text environments;
* :mod:`toymdp.checking`: the statements of :mod:`theory.statements` decided on instances (``checks``, ``tightest``),
  and the searches: random batches and the optimiser (``search``), hypothesis (``hypothesis_search``,
  ``strategies``), counterexample search (``falsification``);
* :mod:`toymdp.toy_example`: the toy example (``toy``: spurious backgrounds; ``distillation``: two agents trained
  with exact gradients, independently or mutually distilled; ``toy_experiment``).

:mod:`toymdp.strategies` (hypothesis strategies, needs the ``test`` extra) is the public path of
:mod:`toymdp.checking.strategies`; :mod:`toymdp.config` holds the configurations of the toy experiment and of
``repconv check`` (no numpy, scipy or sympy, so the command line reads them cheaply).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .mdp.evaluation import Evaluation, PolicyTerms, evaluate, policy_terms
    from .mdp.gymnasium_mdps import from_gymnasium
    from .mdp.instance_io import InstanceFileError, instance_from_dict, instance_to_dict, load_instance, save_instance
    from .mdp.model import MDP, Instance, InvalidInstanceError, RenderingFamily
    from .mdp.numbers import is_exact, to_exact, to_float

#: The submodule of each public name. They are imported on first use (PEP 562), so that importing a light
#: submodule (:mod:`toymdp.config`, which the command line reads to build its options) does not load numpy's
#: solvers, scipy and sympy.
_SUBMODULE = {
    "Evaluation": "mdp.evaluation",
    "PolicyTerms": "mdp.evaluation",
    "evaluate": "mdp.evaluation",
    "policy_terms": "mdp.evaluation",
    "from_gymnasium": "mdp.gymnasium_mdps",
    "InstanceFileError": "mdp.instance_io",
    "instance_from_dict": "mdp.instance_io",
    "instance_to_dict": "mdp.instance_io",
    "load_instance": "mdp.instance_io",
    "save_instance": "mdp.instance_io",
    "MDP": "mdp.model",
    "Instance": "mdp.model",
    "InvalidInstanceError": "mdp.model",
    "RenderingFamily": "mdp.model",
    "is_exact": "mdp.numbers",
    "to_exact": "mdp.numbers",
    "to_float": "mdp.numbers",
}

__all__ = [
    "MDP",
    "RenderingFamily",
    "Instance",
    "InvalidInstanceError",
    "InstanceFileError",
    "Evaluation",
    "PolicyTerms",
    "evaluate",
    "policy_terms",
    "load_instance",
    "save_instance",
    "instance_from_dict",
    "instance_to_dict",
    "from_gymnasium",
    "is_exact",
    "to_exact",
    "to_float",
]


def __getattr__(name: str) -> Any:
    if name not in _SUBMODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_SUBMODULE[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
