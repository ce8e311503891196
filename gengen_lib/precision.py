"""Numbers printed at the precision they carry, so a re-run on another machine prints the same text."""

from __future__ import annotations

import math


def round_off_bound(error: float) -> str:
    """The smallest power of ten at or above a round-off error, e.g. ``1.8e-06 -> '1e-05'``.

    A float32 or float64 round-off error says only how small it is: its digits change with the
    thread count and the CPU, its order of magnitude does not.
    """
    if not math.isfinite(error) or error < 0:
        raise ValueError(f"a round-off error is a finite number >= 0, got {error!r}; fix: pass abs(...).max()")
    if error == 0:
        return "0"
    return f"1e{math.ceil(math.log10(error)):+03d}"
