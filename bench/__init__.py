"""Benchmarks and research studies of BackTAL Studio.

* ``bench/<name>.py`` — commands (``python -m bench.<name>``, from the repository root): they
  parse options and call the research package;
* ``bench/lab/`` — the research package (settings and resume, sims, trainings of every mode
  and the upper bound, reports, plots, the simulated annotator, one module per benchmark);
* ``bench/studies/`` — finished studies, kept runnable (``python -m bench.studies.<name>``).

Every report and benchmark with its latest headline number: docs/research/README.md.
"""
