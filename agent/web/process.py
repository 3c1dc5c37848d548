"""CPU use and resident memory of the daemon's process, for the status view (Linux ``/proc``; ``resource``
elsewhere, without CPU percentages between two reads)."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable


def rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class CpuMeter:
    """Percent of one core used by the process since the previous read."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._last = (clock(), self._cpu())

    @staticmethod
    def _cpu() -> float:
        t = os.times()
        return t.user + t.system

    def percent(self) -> float:
        now, cpu = self.clock(), self._cpu()
        t0, c0 = self._last
        if now - t0 < 0.5:  # too short to say: keep the previous interval's start
            return round(100.0 * (cpu - c0) / max(now - t0, 1e-6), 1) if now > t0 else 0.0
        self._last = (now, cpu)
        return round(100.0 * (cpu - c0) / (now - t0), 1)
