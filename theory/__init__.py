"""The theory layer: statements and distances, with no knowledge of MDP engines, torch or Procgen.

* :mod:`theory.quantities`: TV, KL, the robustness term R;
* :mod:`theory.statements`: PDL, T1, T1c, L1, C1, G1 (with G1.eps, G1.test), G1r, G2 as sympy relations;
* :mod:`theory.variants`: the falsification variants, derived from the statements by substitution;
* :mod:`theory.registry`: every statement, part and variant by ID (:func:`~theory.registry.get_statement`).
"""
