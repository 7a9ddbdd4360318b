"""The research package: what the THUMOS14-sim benchmarks share and what each computes.

Commands (``python -m bench.<name>``, ``python -m bench.studies.<name>``) only parse options
and call into this package; nothing here imports a command or edits ``sys.path``
(tests/bench/test_layout.py).

* ``settings`` — run settings and their results key, the shared options, the training recipe
  (legacy, or a ``model.recipes`` recipe);
* ``resume`` — results stored after every training, resumed under the same key; running what
  is ready, here or in ``--jobs`` worker processes;
* ``sims`` — the sim cache, loading a generated sim, the legacy z-scoring;
* ``training`` — trainings of every supervision mode and of the upper bound
  (``model.upper_bound``), localization and test evaluation;
* ``reports`` — tables: mean ± std over seeds, paired margins, plateau exit, DETAD summaries;
* ``plots`` — the supervision benchmark's figures;
* ``annotator`` — the simulated annotator and the click sets the guided benchmarks compare;
* one module per benchmark: ``supervision``, ``guided`` (+ ``guided_report``),
  ``suggest_rules``, ``click_qa``.
"""
