"""Low-level helpers shared by every layer: result files, run provenance and statistics.

Nothing here knows about MDPs, Procgen or the command line, so :mod:`theory`, :mod:`toymdp`,
:mod:`procgen_checks` and :mod:`repconv` may all import it.

* :mod:`common.files`: atomic writes, JSON reading, the run metadata every result file stores;
* :mod:`common.stats`: bootstrap and Student-t intervals, IQM, stratified bootstrap, probability of improvement
  (numpy and scipy only).
"""
