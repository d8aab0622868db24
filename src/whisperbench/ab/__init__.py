"""``whisperbench ab``: two versions of the code, their rounds interleaved, decided on pairs.

Where both versions are at hand (CI: the base branch and the pull request), drift in the
machine (neighbours' load, clocks, heat) hits both alike when their rounds alternate a few
seconds apart; the decision then rests on the per-pair ratios, which cancel it
(``benchmarks/gate_error_rates.py`` measures how well, here). One module per step:

- :mod:`~whisperbench.ab.protocol`: the JSON-lines messages between coordinator and worker
  (kept small and stable: the two workers may be two different versions of whisperbench);
- :mod:`~whisperbench.ab.worker`: ``python -m whisperbench.ab.worker [run options]``, one
  process per version: opens a session (model loaded, warmed up) and runs one measured round
  each time it is told to;
- :mod:`~whisperbench.ab.slowdown`: a deliberate, documented slowdown (``--slowdown``) used
  only to measure the gate's power;
- :mod:`~whisperbench.ab.runner`: starts both workers (each its own Python and source
  folder), interleaves their rounds A B, B A, A B, ... and collects both results;
- :mod:`~whisperbench.ab.cli`: the command line; the decision is
  :func:`whisperbench.compare.compare_runs` with ``paired=True``.
"""
