"""`python -m bench.faults --scenario all --profile short|long [--json out.json]`.

Runs the scenarios one after another (never two at once: each starts its own
PostgreSQL, Redis and app processes and they would measure each other), prints
each report with the date, git revision and load average, and exits non-zero if
any scenario failed its checks. Durations: short ≈ 1 minute per scenario (≈ 7 in
all), long ≈ 18 minutes in all (see each module's PROFILES).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time

from bench.faults.scenario import Report, load_average, stamp

SCENARIOS = (
    "drops",
    "kill9",
    "redis_outage",
    "pg_restart",
    "converter_kill",
    "slow_consumer",
)


async def run(names: list[str], profile: str) -> list[Report]:
    reports = []
    for name in names:
        module = importlib.import_module(f"bench.faults.{name}")
        print(f"--- {name} ({profile}) starting: {stamp()}", flush=True)
        started = time.perf_counter()
        report: Report = await module.main(profile)
        reports.append(report)
        print("\n".join(report.lines()), flush=True)
        print(
            f"--- {name} done in {time.perf_counter() - started:.0f} s; "
            f"load average {load_average()}",
            flush=True,
        )
    return reports


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--scenario", default="all", choices=("all", *SCENARIOS))
    parser.add_argument("--profile", default="short", choices=("short", "long"))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    reports = asyncio.run(run(names, args.profile))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                [
                    {
                        "name": r.name,
                        "ok": r.ok,
                        "lines": r.lines(),
                        "resume_p50": r.resume(50),
                        "resume_p99": r.resume(99),
                    }
                    for r in reports
                ],
                out,
                indent=1,
            )
    sys.exit(0 if all(r.ok for r in reports) else 1)


if __name__ == "__main__":
    main()
