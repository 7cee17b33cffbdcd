"""Exact and batched computation of every quantity of a rendering MDP (THEORY.md, "Setting").

* :mod:`toymdp.model`: the data model (MDP, rendering family, instance) with validation;
* :mod:`toymdp.engine`: V, Q, A, eta, rho, L for state policies, float64-batched or exact;
* :mod:`toymdp.evaluation`: the rendering-level quantities (eta_test, R, D_train, alpha, eps, ...);
* :mod:`toymdp.instance_io`: instance JSON files;
* :mod:`toymdp.gymnasium_mdps`: Gymnasium's toy-text environments as tabular MDPs;
* :mod:`toymdp.strategies`: hypothesis strategies (needs the ``test`` extra);
* :mod:`toymdp.statement_terms`, :mod:`toymdp.checks`: the statements of :mod:`theory.statements`
  decided on instances, exactly or in float batches with exact re-decision;
* :mod:`toymdp.search`, :mod:`toymdp.falsification`: random and optimised instance search, counterexamples;
* :mod:`toymdp.toy`, :mod:`toymdp.distillation`, :mod:`toymdp.toy_experiment`: the toy example (spurious
  backgrounds; two agents trained with exact gradients, independently or mutually distilled).
* :mod:`toymdp.config`: the configurations of the toy experiment and of ``repconv check`` (no numpy, scipy
  or sympy, so the command line reads them cheaply).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .evaluation import Evaluation, PolicyTerms, evaluate, policy_terms
    from .gymnasium_mdps import from_gymnasium
    from .instance_io import InstanceFileError, instance_from_dict, instance_to_dict, load_instance, save_instance
    from .model import MDP, Instance, InvalidInstanceError, RenderingFamily
    from .numbers import is_exact, to_exact, to_float

#: The submodule of each public name. They are imported on first use (PEP 562), so that importing a light
#: submodule (:mod:`toymdp.config`, which the command line reads to build its options) does not load numpy's
#: solvers, scipy and sympy.
_SUBMODULE = {
    "Evaluation": "evaluation",
    "PolicyTerms": "evaluation",
    "evaluate": "evaluation",
    "policy_terms": "evaluation",
    "from_gymnasium": "gymnasium_mdps",
    "InstanceFileError": "instance_io",
    "instance_from_dict": "instance_io",
    "instance_to_dict": "instance_io",
    "load_instance": "instance_io",
    "save_instance": "instance_io",
    "MDP": "model",
    "Instance": "model",
    "InvalidInstanceError": "model",
    "RenderingFamily": "model",
    "is_exact": "numbers",
    "to_exact": "numbers",
    "to_float": "numbers",
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
