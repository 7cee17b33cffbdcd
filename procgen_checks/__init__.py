"""Procgen policies: environments, the paper's IMPALA actor-critic, training and estimation.

Needs the ``procgen`` extra (torch, procgen-mirror, kornia). Submodules import torch and Procgen
lazily where they can, so ``import procgen_checks`` alone is cheap.
"""
