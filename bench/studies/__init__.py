"""Finished studies: each kept so that the numbers of the report section named in its header
can be reproduced (``python -m bench.studies.<name>``), built on ``bench.lab``.

* ``deadstart_probes``, ``plot_deadstart`` — docs/research/supervision.md, "The dead start";
* ``calibrate_sim`` — docs/sim.md, "Calibration, round 1/2";
* ``flag_depth`` — docs/research/guided.md, "Does a flag's depth tell a wrong click from a
  right one?".
"""
