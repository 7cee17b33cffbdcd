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
"""

from .evaluation import Evaluation, PolicyTerms, evaluate, policy_terms
from .gymnasium_mdps import from_gymnasium
from .instance_io import InstanceFileError, instance_from_dict, instance_to_dict, load_instance, save_instance
from .model import MDP, Instance, InvalidInstanceError, RenderingFamily
from .numbers import is_exact, to_exact, to_float

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
