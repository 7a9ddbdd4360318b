"""The one time → snippet rule, used by the trainer, the sim and (imported) the server.

BackTAL's features have T snippets spread evenly over the video; a time ``t`` (seconds on
the original video) lands on the official snippet index ``min(T − 1, floor(t / duration · T))``.

Two choices make the rule total and robust:

- **Float tolerance.** A time exactly on a snippet boundary, ``k · duration / T``, is in
  snippet ``k``; computed in floating point ``t / duration · T`` can come out as
  ``k − 1e-15``. A tolerance of ``EPS`` (in snippet units) is added before ``floor``.
- **Clamping.** The result is clamped to ``[0, T − 1]``: a time at or after the end lands
  in the last snippet (the official ``min``), a time before 0 (a reaction offset that
  overshoots, a rounded sim time) in the first. Non-finite times are refused.

``annotator_ui/static/js/timebase.js`` mirrors this rule (a browser test compares them).
"""

from __future__ import annotations

import math

EPS = 1e-6


def snippet_index(t_s: float, duration: float, num_snippets: int) -> int:
    """Official rule ``min(T − 1, floor(t / duration · T))``, clamped to ``[0, T − 1]``."""
    if not duration > 0 or num_snippets <= 0:
        raise ValueError(f"need duration > 0 and T > 0, got {duration}, {num_snippets}")
    if not math.isfinite(t_s):
        raise ValueError(f"the time must be a finite number of seconds, got {t_s}")
    k = math.floor(t_s / duration * num_snippets + EPS)
    return max(0, min(num_snippets - 1, k))
