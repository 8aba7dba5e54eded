"""Measurements taken from outside the server: /proc for CPU and memory, percentiles.

Reading `/proc/<pid>/stat` and `/proc/<pid>/status` instead of asking the server keeps
the measurement identical for the baseline relay and Chatdesk, costs the server
nothing, and counts everything the process does (event loop, SQLite, background
sweeps, TLS-less websocket framing, compression), not just the code we think is hot.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import os
import platform
import resource
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (resolution: one clock tick)."""
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU of the main thread alone: the event loop. The rest of `cpu_seconds` is worker
    threads, e.g. aiosqlite's, which runs every SQLite call: this splits Python from SQLite."""
    return cpu_seconds_of(Path(f"/proc/{pid}/task/{pid}/stat"))


def cpu_seconds_of(stat: Path) -> float:
    raw = stat.read_text()
    # The command name (field 2) may contain spaces and parentheses: split after its end.
    rest = raw[raw.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLOCK_TICKS  # utime + stime, fields 14 and 15


def postgres_cpu_seconds() -> float:
    """CPU of every `postgres` process on this machine: the database's side of a bench that
    has the server to itself (a statement that saves the client a round trip may cost the
    server more, and both share the machine's cores)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds_of(proc / "stat")
        except OSError:
            continue  # gone meanwhile
    return total


def self_cpu_seconds() -> float:
    """This process's CPU (the generator's), to show whether it, not the server, is the limit."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kb(pid: int) -> int:
    """Resident set size in KiB (VmRSS), 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100); NaN when empty.

    Nearest rank, not interpolation: p99 is a latency some message really had.
    """
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Sample:
    at: float  # time.perf_counter()
    server_cpu: float
    server_main_thread_cpu: float
    self_cpu: float
    server_rss_kb: int
    connections: int
    others_cpu: tuple[float, ...] = ()  # CPU seconds of `Sampler.other_pids`, in that order


@dataclass
class Sampler:
    """Samples the server's CPU and RSS (and our own CPU) at a fixed interval.

    Figures for a window are interpolated between samples, so the window can be chosen
    after the run (from when every chat was assigned to when the first one ended).
    """

    pid: int
    connections: Callable[[], int]
    interval: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    # More processes to follow by name (a second server, redis-server), CPU only.
    other_pids: dict[str, int] = field(default_factory=dict)

    def sample(self) -> Sample:
        s = Sample(
            time.perf_counter(),
            cpu_seconds(self.pid),
            main_thread_cpu_seconds(self.pid),
            self_cpu_seconds(),
            rss_kb(self.pid),
            self.connections(),
            tuple(_cpu_or_zero(pid) for pid in self.other_pids.values()),
        )
        self.samples.append(s)
        return s

    def start(self) -> None:
        self.sample()
        self._task = asyncio.create_task(self._run(), name="sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            self.sample()
        except FileNotFoundError:
            pass

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.sample()
            except FileNotFoundError:  # the server died; the run will report it
                return

    def _at(self, t: float, attr: str) -> float:
        times = [s.at for s in self.samples]
        i = bisect.bisect_left(times, t)
        if i <= 0:
            return float(getattr(self.samples[0], attr))
        if i >= len(self.samples):
            return float(getattr(self.samples[-1], attr))
        a, b = self.samples[i - 1], self.samples[i]
        va, vb = float(getattr(a, attr)), float(getattr(b, attr))
        return va + (vb - va) * (t - a.at) / (b.at - a.at) if b.at > a.at else vb

    def other_cpu_between(self, name: str, t0: float, t1: float) -> float:
        """CPU seconds one of `other_pids` used between t0 and t1 (interpolated)."""
        i = list(self.other_pids).index(name)
        times = [s.at for s in self.samples]

        def at(t: float) -> float:
            j = bisect.bisect_left(times, t)
            j = min(max(j, 0), len(self.samples) - 1)
            if 0 < j and self.samples[j].at > self.samples[j - 1].at:
                a, b = self.samples[j - 1], self.samples[j]
                va, vb = a.others_cpu[i], b.others_cpu[i]
                return va + (vb - va) * min(1.0, max(0.0, (t - a.at) / (b.at - a.at)))
            return self.samples[j].others_cpu[i]

        return at(t1) - at(t0)

    def server_cpu_between(self, t0: float, t1: float) -> float:
        return self._at(t1, "server_cpu") - self._at(t0, "server_cpu")

    def server_main_thread_cpu_between(self, t0: float, t1: float) -> float:
        return self._at(t1, "server_main_thread_cpu") - self._at(t0, "server_main_thread_cpu")

    def self_cpu_between(self, t0: float, t1: float) -> float:
        return self._at(t1, "self_cpu") - self._at(t0, "self_cpu")

    def peak_in(self, t0: float, t1: float) -> Sample | None:
        """The sample with the most open connections in the window (then the highest RSS):
        memory per connection is read where there are the most connections to share it."""
        inside = [s for s in self.samples if t0 <= s.at <= t1]
        return max(inside, key=lambda s: (s.connections, s.server_rss_kb)) if inside else None


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def loadavg() -> float:
    """The 1-minute load average: other work on the machine skews latency far more than
    CPU per message, so every result says how busy the machine was."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def machine() -> dict[str, str]:
    """What the figures were measured on: they only mean something next to this."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count() or 0),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def git_revision(repo: Path) -> str:
    """The commit measured, marked `+dirty` when the work tree has changes (it usually does
    while people work: the figure then belongs to the files as they were, not the commit)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


class GcPauses:
    """The generator's own garbage-collection pauses. A pause here delays reading every
    socket, so it would be counted as the server's latency: the run pauses the collector
    (bench/event_loop.py) and reports any that still happen."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float, int]] = []  # (start, seconds, generation)
        self._started = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            self.pauses.append((self._started, now - self._started, info["generation"]))

    def between(self, t0: float, t1: float) -> tuple[int, float]:
        """Full collections started in [t0, t1), and the longest pause of any kind there (s)."""
        inside = [(took, gen) for start, took, gen in self.pauses if t0 <= start < t1]
        return sum(1 for _, gen in inside if gen == 2), max((t for t, _ in inside), default=0.0)
