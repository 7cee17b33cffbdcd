"""Checking the statements on instances and searching for counterexamples and tight instances: random batches, an optimiser, hypothesis strategies and search."""
