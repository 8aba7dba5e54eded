"""`python -m bench.run --profile short|long`: baseline, then Chatdesk, same schedule; a table.

    python -m bench.run --profile short                 # SQLite + in-process bus (make bench)
    python -m bench.run --profile short --database-url postgresql://… --redis-url redis://…
    python -m bench.run --profile short --py-spy        # also profile the server (py-spy)
    python -m bench.run --rates 400,800,1200,1600,2000  # a rate sweep: where does p99 break?
    python -m bench.run --profile short --processes 2 --own-redis --database-url postgresql://…

The baseline runs first, in the same invocation, so both measurements share the
machine's state (frequency scaling, other load); every Chatdesk figure is shown as a
ratio to it. Results are printed and written into docs/performance.md, replacing the
previous block of the same profile and backend (`--no-doc` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

from bench import event_loop
from bench.loadgen import (
    PROFILES,
    ChatdeskDriver,
    FloorDriver,
    LoadGen,
    Profile,
    RelayDriver,
    RunResult,
    StepResult,
)
from bench.metrics import git_revision, loadavg, machine
from bench.server import (
    REPO,
    ChatdeskServer,
    FloorServer,
    RedisServer,
    RelayServer,
    raise_fd_limit,
)
from bench.verify import verify

DOC = REPO / "docs" / "performance.md"
DOC_HEADER = """# Performance

Measured by `python -m bench.run` (see `bench/`): a load generator in its own
process speaks the real websocket protocol to a Chatdesk server started as a
subprocess, and — in the same run, with the same schedule — to a bare `websockets`
relay that only pairs sockets and forwards frames (the physical limit). Every
Chatdesk figure is also given as a ratio to the relay's.
"""


MAX_STEP_SECONDS = 40.0


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def ratio(ours: float, base: float) -> str:
    if not base or math.isnan(base) or math.isnan(ours):
        return "–"
    value = ours / base
    return f"{value:,.0f}×" if value >= 100 else f"{value:.2f}×"


Row = tuple[str, Callable[[RunResult], float], int, bool]
ROWS: list[Row] = [
    # (label, value, digits, show ratio)
    ("latency p50 (ms)", lambda r: r.latency(50), 2, True),
    ("latency p99 (ms)", lambda r: r.latency(99), 2, True),
    ("latency max (ms)", lambda r: r.latency(100), 1, True),
    ("stored (confirmed) p50 (ms)", lambda r: r.ack_latency(50), 2, False),
    ("stored (confirmed) p99 (ms)", lambda r: r.ack_latency(99), 2, False),
    ("delivered msgs/s (steady)", lambda r: r.delivered_per_second, 0, True),
    ("server CPU µs/msg (steady)", lambda r: r.cpu_us_per_message, 0, True),
    ("server CPU µs/msg (whole run)", lambda r: r.cpu_us_per_message_total, 0, True),
    ("server CPU % of a core (steady)", lambda r: r.server_cpu_percent, 0, True),
    ("assignment p50 (ms)", lambda r: r.assignment_ms(50), 1, True),
    ("assignment p99 (ms)", lambda r: r.assignment_ms(99), 1, True),
    ("server RSS per connection (KiB)", lambda r: r.rss_per_connection_kb, 1, True),
    ("generator CPU % of a core (steady)", lambda r: r.generator_cpu_percent, 0, False),
]


def table(results: list[RunResult]) -> str:
    """Markdown table: one column per target, then each other target ÷ the baseline (and
    Chatdesk ÷ the floor, when both ran)."""
    by_name = {r.target: r for r in results}
    base = by_name.get("baseline")
    pairs = [(r, base) for r in results if base is not None and r is not base]
    if "floor" in by_name and "chatdesk" in by_name:
        pairs.append((by_name["chatdesk"], by_name["floor"]))
    heads = [r.target for r in results]
    if len(pairs) == 1 and pairs[0][1].target == "baseline":
        heads.append("ratio")
    else:
        heads += [f"{a.target} ÷ {b.target}" for a, b in pairs]
    lines = [
        "| metric | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(heads),
    ]
    for label, value, digits, show_ratio in ROWS:
        cells = [fmt(value(r), digits) for r in results]
        cells += [ratio(value(a), value(b)) if show_ratio else "" for a, b in pairs]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(
        "| verification | "
        + " | ".join([check_cell(r) for r in results] + [""] * len(pairs))
        + " |"
    )
    return "\n".join(lines)


# A rate "holds" when p99 stays under this and nearly everything offered is delivered.
P99_TARGET_MS = 50.0
DELIVERED_FRACTION = 0.95


def holds(step: StepResult) -> bool:
    return (
        step.latency(99) < P99_TARGET_MS
        and step.delivered_per_second >= DELIVERED_FRACTION * step.offered
    )


def highest_holding(steps: list[StepResult]) -> str:
    """The highest offered rate of a sweep whose p99 stayed under the target (and every
    lower rate held too: a rate that holds after one that broke is luck, not capacity)."""
    best = None
    for step in steps:
        if not holds(step):
            break
        best = step.offered
    return f"{best:,.0f} msgs/s" if best is not None else f"none (below {steps[0].offered:,.0f})"


def sweep_table(results: list[RunResult]) -> str:
    """One row per offered rate: each target's delivered rate, p50/p99 and CPU per message."""
    with_steps = [r for r in results if r.steps]
    if not with_steps:
        return ""
    heads = ["offered msgs/s"]
    for r in with_steps:
        heads += [f"{r.target} delivered/s", "p50 ms", "p99 ms", "CPU µs/msg", "CPU %"]
    base = next((r for r in with_steps if r.target == "baseline"), None)
    others = [r for r in with_steps if r is not base] if base else []
    heads += [f"CPU {r.target} ÷ baseline" for r in others]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---:|" * len(heads)]
    for i, step in enumerate(with_steps[0].steps):
        cells = [fmt(step.offered, 0)]
        for r in with_steps:
            s = r.steps[i]
            cells += [
                fmt(s.delivered_per_second, 0),
                fmt(s.latency(50), 1),
                fmt(s.latency(99), 1),
                fmt(s.cpu_us_per_message, 0),
                fmt(s.server_cpu_percent, 0),
            ]
        for r in others:
            a, b = r.steps[i], base.steps[i]  # type: ignore[union-attr]  # others needs base
            cells.append(ratio(a.cpu_us_per_message, b.cpu_us_per_message))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [
        f"- highest offered rate with p99 < {P99_TARGET_MS:.0f} ms (and ≥ "
        f"{DELIVERED_FRACTION:.0%} delivered), {r.target}: **{highest_holding(r.steps)}**"
        for r in with_steps
    ]
    gen = ", ".join(
        f"{r.target} " + "/".join(fmt(s.generator_cpu_percent, 0) for s in r.steps)
        for r in with_steps
    )
    lines.append(f"- generator CPU % of a core per step: {gen}")
    return "\n".join(lines)


def processes_detail(r: RunResult) -> str:
    """Several server processes: each one's CPU per delivered message, and Redis's."""
    if not r.process_cpu_window_s or not r.delivered_in_window:
        return ""
    per = {"chatdesk-1": r.server_cpu_window_s, **r.process_cpu_window_s}
    parts = [
        f"{name} {cpu:.2f} s = {cpu * 1e6 / r.delivered_in_window:,.0f} µs/msg"
        for name, cpu in per.items()
    ]
    servers = sum(cpu for name, cpu in per.items() if name.startswith("chatdesk"))
    return (
        f"  CPU in the steady window by process: {'; '.join(parts)}; all server processes "
        f"{servers * 1e6 / r.delivered_in_window:,.0f} µs/msg."
    )


def check_cell(r: RunResult) -> str:
    parts = [f"{r.completed}/{len(r.chats)} chats done", f"{r.delivered}/{r.sent} delivered"]
    if r.verification is not None:
        parts.append("DB OK" if r.verification["ok"] else "DB FAILED")
    elif r.target == "baseline":
        parts.append("no DB")
    elif r.target == "floor":
        parts.append("DB not checked")
    return ", ".join(parts)


def details(r: RunResult) -> str:
    lines = [
        f"- **{r.target}**: {r.duration_s:.0f} s; window {r.window_kind} "
        f"{r.window_seconds:.1f} s with {r.delivered_in_window} deliveries; "
        f"server CPU {r.server_cpu_window_s:.2f} s in it "
        f"({_share(r.server_main_thread_cpu_window_s, r.server_cpu_window_s)} on the event-loop "
        f"thread, the rest on worker threads), {r.server_cpu_total_s:.2f} s in the "
        f"whole run; RSS {r.rss_idle_kb / 1024:.0f} → {r.rss_peak_kb / 1024:.0f} MiB at "
        f"{r.connections_at_peak} connections."
    ]
    full, longest = r.generator_gc
    lines.append(
        f"  Generator's garbage collection in the window: {full} full, longest pause "
        f"{longest * 1000:.0f} ms (a pause here would count as the server's latency); "
        f"its collector paused for the run, it held {r.generator_held_mb:.0f} MiB more."
    )
    if r.redelivered:
        lines.append(f"  {r.redelivered} frames delivered twice (dropped by client_id).")
    if r.errors:
        lines.append(f"  error frames: {dict(r.errors)}.")
    if r.failures:
        lines.append(f"  failed chats: {dict(r.failures.most_common(5))}.")
    if r.verification is not None:
        lines.append(f"  Verification: {r.verification['summary']}")
    if processes_detail(r):
        lines.append(processes_detail(r))
    return "\n".join(lines)


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


# ----------------------------------------------------------------- py-spy
def summarise_profile(raw: Path, top: int = 15) -> str:
    """Top frames by self and by inclusive samples, and self time by area (library)."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        self_counts[frames[-1]] += count
        areas[_area(frames[-1])] += count
        for frame in set(frames):
            total_counts[frame] += count
    if not samples:
        return "(py-spy recorded no samples)"

    def pct(n: int) -> str:
        return f"{100 * n / samples:5.1f}%"

    out = [f"{samples} samples of the thread holding the GIL.", "", "Self time by area:", ""]
    out += [f"    {pct(n)}  {area}" for area, n in areas.most_common(12)]
    out += ["", "Chatdesk functions by inclusive time (what each code path costs):", ""]
    ours = [(f, n) for f, n in total_counts.most_common() if _is_ours(f)]
    out += [f"    {pct(n)}  {_short(f)}" for f, n in ours[:top]]
    out += ["", "Top frames by self time:", ""]
    out += [f"    {pct(n)}  {_short(f)}" for f, n in self_counts.most_common(top)]
    return "\n".join(out)


def _is_ours(frame: str) -> bool:
    return bool(re.search(r"\((chat|ticketing)/|/work/[^ ]*/(chat|ticketing)/", frame)) and not (
        "chat/__main__.py" in frame or "chat/cli.py" in frame
    )


AREAS = [
    ("sqlalchemy", "SQLAlchemy"),
    ("aiosqlite", "aiosqlite (thread hop)"),
    ("sqlite3", "sqlite3 (C)"),
    ("asyncpg", "asyncpg"),
    ("websockets", "websockets (framing, deflate)"),
    ("zlib", "websockets (framing, deflate)"),
    ("uvicorn", "uvicorn"),
    ("starlette", "Starlette"),
    ("json", "json"),
    ("msgpack", "msgpack (bus)"),
    ("/chat/", "Chatdesk chat/"),
    ("/ticketing/", "Chatdesk ticketing/"),
    ("asyncio", "asyncio"),
    ("threading", "threads (aiosqlite worker wait)"),
    ("queue.py", "threads (aiosqlite worker wait)"),
]


def _area(frame: str) -> str:
    for needle, name in AREAS:
        if needle in frame:
            return name
    return "other"


def _short(frame: str) -> str:
    frame = re.sub(r"/[^ ]*/site-packages/", "", frame)
    return frame.replace(str(REPO) + "/", "")


async def _start_py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("py-spy not found (pip install py-spy); not profiling", file=sys.stderr)
        return None
    argv = [
        exe, "record", "--pid", str(pid), "--format", "raw", "--function", "--gil",
        "--rate", "100", "--duration", str(int(seconds)), "--output", str(out),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# ----------------------------------------------------------------- runs
async def run_baseline(profile: Profile, compression: str | None) -> RunResult:
    async with RelayServer() as relay:
        gen = LoadGen(profile, RelayDriver(relay.ws_url, compression), relay.pid)
        print(f"baseline: relay pid {relay.pid} on {relay.ws_url}", flush=True)
        return await gen.run()


async def run_floor(
    profile: Profile, compression: str | None, database_url: str | None, redis_url: str | None
) -> RunResult:
    """The floor (bench/floor_relay.py) on the run's PostgreSQL, and on its own
    redis-server unless a Redis is named: its CPU from /proc, as the relay's."""
    if not database_url or not database_url.startswith("postgresql"):
        raise SystemExit("the floor target stores on PostgreSQL: pass --database-url")
    async with AsyncExitStack() as stack:
        if redis_url is None:
            redis_url = (await stack.enter_async_context(RedisServer())).url
        floor = await stack.enter_async_context(
            FloorServer(database_url=database_url, redis_url=redis_url)
        )
        gen = LoadGen(profile, FloorDriver(floor.ws_url, compression), floor.pid)
        print(f"floor: pid {floor.pid} on {floor.ws_url} (redis {redis_url})", flush=True)
        return await gen.run()


async def run_chatdesk(
    profile: Profile,
    database_url: str | None,
    redis_url: str | None,
    compression: str | None,
    py_spy: Path | None,
    app_dir: Path,
    processes: int = 1,
    own_redis: bool = False,
    spy_steady: bool = False,
    keep_logs: Path | None = None,
) -> tuple[RunResult, str, str | None]:
    async with AsyncExitStack() as stack:
        others: dict[str, int] = {}
        if own_redis:
            redis = await stack.enter_async_context(RedisServer())
            redis_url = redis.url
            print(f"redis-server: pid {redis.pid} on {redis.url}", flush=True)
        server = await stack.enter_async_context(
            ChatdeskServer(
                agents=profile.agents,
                capacity=profile.capacity,
                database_url=database_url,
                redis_url=redis_url,
                app_dir=app_dir,
                processes=processes,
                keep_logs=keep_logs,
            )
        )
        print(f"chatdesk: pids {server.pids} from {server.base_url} ({server.backend})", flush=True)
        # Two processes: customers on the first, agents' consoles on the second, so every
        # message crosses processes through Redis.
        console_base, console_ws = server.urls(1 if processes > 1 else 0)
        driver = ChatdeskDriver(
            console_base,
            console_ws,
            server.service_id,
            [(login.email, login.password) for login in server.logins],
            compression,
            widget_urls=server.urls(0) if processes > 1 else None,
        )
        others = {f"chatdesk-{i + 1}": pid for i, pid in enumerate(server.pids[1:], start=1)}
        if own_redis:
            others["redis"] = redis.pid
        gen = LoadGen(profile, driver, server.pid, other_pids=others)
        spy = None
        spy_task = None
        if py_spy is not None and spy_steady:
            # Only the messaging phase: a sweep's steps, or from a few seconds after the
            # last arrival until a few seconds before the first chat ends; counted from
            # the generator's first arrival slot (after the consoles logged in).
            if profile.steps:
                start, length = profile.sweep_start, profile.sweep_end - profile.sweep_start
            else:
                start = profile.chats / profile.arrival_rate + 5.0
                length = max(5.0, profile.planned_seconds - start - 10.0)

            async def later() -> subprocess.Popen[bytes] | None:
                while not gen.t0:
                    await asyncio.sleep(0.1)
                await asyncio.sleep(gen.t0 + start - time.perf_counter())
                return await _start_py_spy(server.pid, length, py_spy)

            spy_task = asyncio.create_task(later())
        elif py_spy is not None:
            spy = await _start_py_spy(server.pid, profile.planned_seconds + 5, py_spy)
        result = await gen.run()
        if spy_task is not None:
            spy = await spy_task
        summary = None
        if spy is not None:
            try:
                _, err = await asyncio.to_thread(spy.communicate, None, 120)
            except subprocess.TimeoutExpired:
                spy.kill()
                err = b""
            summary = (
                summarise_profile(py_spy)
                if py_spy.exists()
                else f"(py-spy failed: {err.decode(errors='replace')[-500:]})"
            )
        server.stop_process()
        crashed = not server.process or server.process.popen.returncode not in (0, None)
        if crashed or result.errors or result.failures:
            # The log goes with the temporary directory: keep what explains the failure.
            for proc in [server.process, *server.others]:
                if proc is not None:
                    print(f"--- {proc.name} log tail ---\n{proc.log_tail()}")
        checked = await verify(server.effective_database_url, result.chats, result.acked_ids)
        result.verification = checked.as_dict()
        return result, server.backend, summary


async def wait_quiet(limit_seconds: float, cpus: int) -> None:
    """Wait (at most `limit_seconds`) for the machine's load to fall below its CPU count."""
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while loadavg() >= cpus and asyncio.get_running_loop().time() < deadline:
        print(f"waiting for a quieter machine (load {loadavg():.1f})", flush=True)
        await asyncio.sleep(15)


def write_doc(block_id: str, block: str) -> None:
    """Replace this profile+backend's block in docs/performance.md (or add it)."""
    start, end = f"<!-- bench:{block_id}:start -->", f"<!-- bench:{block_id}:end -->"
    text = DOC.read_text() if DOC.exists() else DOC_HEADER
    new = f"{start}\n{block.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: new, text)
    else:
        marker = "<!-- bench:results -->"
        if marker in text:
            text = text.replace(marker, f"{marker}\n\n{new}", 1)
        else:
            text = text.rstrip() + f"\n\n## Results\n\n{marker}\n\n{new}\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


async def main_async(args: argparse.Namespace) -> int:
    profile = PROFILES[args.profile]
    if args.rates:
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
        profile = Profile.sweep(
            rates,
            min(args.step_seconds, MAX_STEP_SECONDS),
            chats=args.chats or 200,
            agents=args.agents or 20,
            arrival_rate=args.arrival_rate or 40.0,
            settle_seconds=args.settle_seconds,
        )
    overrides = {
        k: v
        for k, v in {
            "chats": args.chats,
            "agents": args.agents,
            "arrival_rate": args.arrival_rate,
            "messages_per_side": args.messages,
            "message_interval": args.interval,
        }.items()
        if v is not None
    }
    if overrides:
        profile = replace(profile, name=profile.name + "*", **overrides)
    compression = None if args.compression == "off" else "deflate"
    info = machine()
    print(f"profile {profile.name}: {profile.describe()}")
    print(f"machine: {info['nproc']} × {info['cpu']}, Python {info['python']}", flush=True)

    if args.wait_quiet:
        await wait_quiet(args.wait_quiet, int(info["nproc"]))
    load_before = loadavg()
    results: list[RunResult] = []
    if "baseline" in args.targets:
        results.append(await run_baseline(profile, compression))
        print(details(results[-1]), flush=True)
    if "floor" in args.targets:
        redis_url = None if args.own_redis else args.redis_url
        results.append(await run_floor(profile, compression, args.database_url, redis_url))
        print(details(results[-1]), flush=True)
    backend, summary = "", None
    if "chatdesk" in args.targets:
        spy_out = None
        if args.py_spy:
            if args.py_spy_out:
                spy_out = Path(args.py_spy_out)
            else:
                with tempfile.NamedTemporaryFile(
                    prefix="py-spy-", suffix=".txt", delete=False
                ) as f:
                    spy_out = Path(f.name)
        result, backend, summary = await run_chatdesk(
            profile,
            args.database_url,
            args.redis_url,
            compression,
            spy_out,
            args.app_dir,
            processes=args.processes,
            own_redis=args.own_redis,
            spy_steady=args.py_spy_steady,
            keep_logs=args.keep_logs,
        )
        if args.processes > 1:
            backend += f", {args.processes} processes"
        if args.own_redis:
            backend += " (own redis-server)"
        results.append(result)
        print(details(result), flush=True)
        if spy_out is not None:
            print(f"py-spy raw stacks: {spy_out}")

    load_after = loadavg()
    rendered = table(results)
    swept = sweep_table(results)
    if swept:
        rendered += "\n\nPer offered rate (each step's own window):\n\n" + swept
    print()
    print(rendered)
    if summary:
        print("\nServer profile (py-spy, during the Chatdesk run):\n")
        print(summary)

    busy = max(load_before, load_after) > int(info["nproc"])
    if busy:
        print(f"\nnote: load average {load_before:.1f}/{load_after:.1f} on {info['nproc']} CPUs")
    app_note = "" if args.app_dir.resolve() == REPO else f", app served from `{args.app_dir}`"
    # Without compression the two servers frame alike (docs/performance.md, "What is
    # measured"): such a run gets a block of its own beside the default one.
    plain_note = "" if compression else ", permessage-deflate off"
    command = "python -m bench.run " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            f"### `{profile.name}` profile, {backend or 'baseline only'}{plain_note}{app_note}",
            "",
            f"- command: `{command}`",
            f"- date: {when}; git revision: `{git_revision(REPO)}`",
            f"- machine: {info['nproc']} × {info['cpu']}, Linux {info['kernel']}, "
            f"Python {info['python']}; 1-min load average {load_before:.1f} before, "
            f"{load_after:.1f} after"
            + (" (**a busy machine: latencies are inflated**)" if busy else ""),
            f"- schedule: {profile.describe()}; permessage-deflate "
            f"{'on' if compression else 'off'}",
            "",
            rendered,
            "",
            *[details(r) for r in results],
        ]
    )
    if summary:
        block += "\n\nServer profile (py-spy `--gil --function`, 100 Hz, during this run):\n\n"
        block += "\n".join("    " + line if line else "" for line in summary.splitlines())
    if not args.no_doc:
        suffix = ("" if compression else ":plain") + (
            "" if not app_note else f":{args.app_dir.resolve().name}"
        )
        block_name = (backend or "baseline").replace(" (own redis-server)", "")
        block_name = block_name.replace(", ", ":").replace(" ", "-")
        write_doc(f"{profile.name}:{block_name}{suffix}", block)
        print(f"\nwritten to {DOC.relative_to(REPO)}")
    ok = all(r.delivery_ok and (r.verification is None or r.verification["ok"]) for r in results)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a fresh SQLite file)")
    parser.add_argument("--redis-url", help="Redis URL (default: the in-process bus)")
    parser.add_argument(
        "--targets",
        default="baseline,chatdesk",
        help="comma-separated: baseline,floor,chatdesk (floor: PostgreSQL and Redis only)",
    )
    parser.add_argument("--compression", choices=("on", "off"), default="on")
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=REPO,
        help="serve Chatdesk from this checkout (e.g. a copy with a patch applied)",
    )
    parser.add_argument(
        "--rates",
        help="a rate sweep instead of a profile: offered msgs/s per step, e.g. 400,800,1200",
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=15.0,
        help=f"length of each sweep step (at most {MAX_STEP_SECONDS:g})",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=5.0,
        help="sweep: seconds between the last arrival and the first step",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Chatdesk server processes (2: customers on one, consoles on the other; "
        "needs --database-url and a Redis)",
    )
    parser.add_argument(
        "--own-redis",
        action="store_true",
        help="start a private redis-server on a free port for Chatdesk (its CPU is reported)",
    )
    parser.add_argument("--py-spy", action="store_true", help="profile the server with py-spy")
    parser.add_argument("--py-spy-out", help="where to keep py-spy's raw stacks")
    parser.add_argument(
        "--py-spy-steady",
        action="store_true",
        help="with --py-spy: profile only the messaging phase, not arrivals and endings",
    )
    parser.add_argument("--no-doc", action="store_true", help="don't touch docs/performance.md")
    parser.add_argument(
        "--keep-logs",
        type=Path,
        metavar="DIR",
        help="copy the Chatdesk servers' logs here (held event loops are logged with stacks)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the load average to drop below the CPU count",
    )
    small = parser.add_argument_group("overrides (the profile's name gets a * in the results)")
    small.add_argument("--chats", type=int)
    small.add_argument("--agents", type=int)
    small.add_argument("--arrival-rate", type=float)
    small.add_argument("--messages", type=int, help="messages per side per chat")
    small.add_argument("--interval", type=float, help="seconds between one side's messages")
    args = parser.parse_args(argv)
    args.targets = {t.strip() for t in args.targets.split(",") if t.strip()}
    raise_fd_limit()
    # The generator holds as many sockets as the server: the same collector settings, so
    # its own full collections don't pause its reads (and count as the server's latency).
    sys.exit(event_loop.run(main_async(args)))


if __name__ == "__main__":
    main()
