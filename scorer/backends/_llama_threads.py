"""How many threads llama.cpp gets: the physical cores that other work leaves free.

Read once, when the embedded server starts (llama.cpp cannot change it later).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

__all__ = ["llama_threads"]


def llama_threads(sample_seconds: float = 0.25) -> int:
    """Threads for llama.cpp: the physical cores of this process that others leave free.

    Counts cores, not hardware threads (a second hyperthread adds little to
    matrix work), within this process's CPU affinity and cgroup CPU quota,
    minus the cores other processes keep busy right now (from ``/proc/stat``
    over ``sample_seconds``), and at least one. Why not always every core:
    llama.cpp's threads meet at a spinning barrier after every operation, so
    when another process holds a core, a thread waits a whole time slice for
    its descheduled partner, hundreds of times per token: two threads on a
    half-busy 2-core machine score about half as fast as one.

    Other scorer processes do not count as busy: their embedded models take
    turns with this one (:mod:`scorer.backends._machine_turn`), so each
    computes with the whole machine; counting one that is merely starting
    up gave both one thread, and the pair ran 3.2 times slower than one
    process alone instead of 2 times.
    """
    cores = _physical_cores()
    busy = _busy_cpus(sample_seconds)
    return max(1, cores - round(busy))


def _physical_cores() -> int:
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = list(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            package, core = "cpu", str(cpu)
        cores.add((package, core))
    count = len(cores)
    quota = _cgroup_cpus()
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    return max(1, count)


def _busy_cpus(seconds: float) -> float:
    """How many CPUs other work keeps busy (0 where ``/proc/stat`` is not readable).

    Other scorer processes' CPU time is left out (see :func:`llama_threads`).
    """
    first = _cpu_times()
    if first is None or seconds <= 0:
        return 0.0
    scorers_before = _scorer_ticks()
    time.sleep(seconds)
    second = _cpu_times()
    if second is None:
        return 0.0
    total = second[0] - first[0]
    idle = second[1] - first[1] + _ticks_since(scorers_before, _scorer_ticks())
    return 0.0 if total <= 0 else (os.cpu_count() or 1) * (1 - idle / total)


def _cpu_times() -> tuple[int, int] | None:
    """(all, idle + iowait) jiffies of the machine, from ``/proc/stat``."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ticks = [int(x) for x in fields[:8]]  # guest time is already counted in user
    except (OSError, ValueError):
        return None
    return sum(ticks), ticks[3] + ticks[4]


def _cgroup_cpus() -> float | None:
    """CPUs a cgroup v2 ``cpu.max`` quota allows (e.g. a container limited to 1.5), if any."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _scorer_ticks() -> dict[int, int]:
    """CPU ticks (user + system) so far of every other scorer process, by pid."""
    ticks: dict[int, int] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:3]
            if not _is_scorer(argv):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, ValueError, IndexError):
            continue  # gone, or not ours to read
    return ticks


def _is_scorer(argv: list[bytes]) -> bool:
    """``scorer ...``, ``python .../bin/scorer ...`` or ``python -m scorer ...``."""
    names = [Path(os.fsdecode(arg)).name for arg in argv[:2]]
    return "scorer" in names or argv[1:3] == [b"-m", b"scorer"] or argv[1:2] == [b"-mscorer"]


def _ticks_since(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks the scorer processes seen both times spent in between (machine-wide jiffies)."""
    return sum(max(0, after[pid] - before[pid]) for pid in after.keys() & before.keys())
