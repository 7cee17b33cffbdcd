"""repconv: a toolkit that states, checks and estimates the generalization bounds of arXiv 2501.02481.

This package holds the command line (:mod:`repconv.cli`) and plotting. The maths lives in :mod:`theory`,
:mod:`toymdp` and :mod:`procgen_checks`; result files and run provenance in :mod:`common.files`.
"""

__version__ = "0.1.0"
