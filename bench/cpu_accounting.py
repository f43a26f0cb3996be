"""What a benchmark's processes cost: CPU seconds per process (from /proc) and this process's peak memory.

Shared by the benches that quote where the time goes (`receive.py`, `push.py`). Linux only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def peak_memory_mib() -> float:
    """This process's own peak resident memory (VmHWM). getrusage's ru_maxrss is not: across fork and exec
    it keeps the parent's peak, so every child of a large parent reported the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def own_cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used, every thread included."""
    times = os.times()
    return times.user + times.system


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds a process and its reaped children have used (/proc/<pid>/stat utime..cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of every Postgres server process (a backend that exited counts in its parent's)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().split(" (", 1)[1].startswith("postgres)"):
                total += process_cpu_seconds(int(stat.parent.name))
    return total


@contextlib.contextmanager
def cpu_used(sandbox_pid: int, figures: dict) -> Iterator[None]:
    """Add the CPU seconds the sandbox and the Postgres server spent during the block to `figures`."""
    sandbox, postgres = process_cpu_seconds(sandbox_pid), postgres_cpu_seconds()
    yield
    figures["sandbox_cpu_seconds"] = round(process_cpu_seconds(sandbox_pid) - sandbox, 1)
    figures["postgres_cpu_seconds"] = round(postgres_cpu_seconds() - postgres, 1)
