"""The benchmarks at a small size, as a regression guard: ``make bench-smoke``.

Runs each scenario of ``bench/`` on a small synthetic clinic, reads the
ratios it wrote, and prints one verdict per scenario. A ratio that falls
below half its target (issue 14's table; for a "≤" target: above twice it)
fails the run, with a non-zero exit; for a target shown to be out of reach, half
(twice) the figure the full run reached instead (``Check.reached``). At this
size the figures are noisy and say nothing about scale (the 1M-row problems
need the full runs); the guard catches a change that makes a path several
times slower than its baseline. Its results go to a temporary directory,
never over ``bench/results``.

    .venv/bin/python bench/smoke.py [--backend postgresql] [--only submission,trend]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Check:
    """One ratio against its target; ``most``: the target is an upper bound.

    ``reached``: for a target bench/README.md shows to be out of reach (the trend's
    3×: its fixed cost alone is ~1.7× the raw fetch), the figure the full run reached;
    the guard then fails at twice that instead of twice the target, so it still
    catches a regression instead of failing on every run.
    """

    name: str
    target: float
    read: Callable[[dict], float]
    most: bool = False
    reached: float | None = None

    @property
    def limit(self) -> float:
        anchor = self.target if self.reached is None else self.reached
        return 2 * anchor if self.most else anchor / 2

    def fails(self, value: float) -> bool:
        return value > self.limit if self.most else value < self.limit

    def describe(self, value: float) -> str:
        sign = "≤" if self.most else "≥"
        text = f"{self.name} {value:g} (target {sign} {self.target:g}"
        if self.reached is not None:
            text += f", not reached: fails past {self.limit:g}, twice the {self.reached:g} reached"
        return text + ")"


# scenario -> (script arguments at the small size, results file, checks)
SCENARIOS: dict[str, tuple[list[str], str, list[Check]]] = {
    "submission": (
        ["--patients", "100", "--seconds", "3", "--rounds", "3"],  # median of 3: p99 is noisy
        "submission",
        [
            Check("submission÷insert req/s", 0.5, lambda f: f["ratio_submission_rps_to_insert"]),
            Check(
                "submission÷insert p99",
                3,
                lambda f: f["ratio_submission_p99_to_insert"],
                most=True,
            ),
        ],
    ),
    "trend": (
        ["--patients", "100", "--runs", "40"],
        "trend",
        [
            # Reached on SQLite, 2026-12-05 (PostgreSQL: 4.8 and 5.7); bench/README.md.
            Check(
                "trend÷raw p50",
                3,
                lambda f: f["ratio_trend_p50_to_raw_p50"],
                most=True,
                reached=8.2,
            ),
            Check(
                "trend÷raw p99",
                5,
                lambda f: f["ratio_trend_p99_to_raw_p99"],
                most=True,
                reached=8.6,
            ),
            Check(
                "svg÷trend p50",
                2,
                lambda f: f["chart_svg"]["p50_ms"] / f["trend"]["p50_ms"],
                most=True,
            ),
        ],
    ),
    "fhir_search": (
        ["--small-patients", "20", "--large-patients", "104"],
        "fhir_search",
        [
            Check("patient=… p50 ms", 30, lambda f: f["large"]["by_patient"]["p50_ms"], most=True),
            Check(
                "patient=… growth",
                1.5,
                lambda f: f["ratio_large_to_small_p50"]["by_patient"],
                most=True,
            ),
            Check(
                "_lastUpdated default÷sorted",
                2,
                lambda f: (
                    f["large"]["last_updated"]["p50_ms"]
                    / f["large"]["last_updated_sorted"]["p50_ms"]
                ),
                most=True,
            ),
        ],
    ),
    "export": (
        ["--patients", "1000"],  # at 100 the run's fixed costs hide the per-row rate
        "export",
        [
            Check("export÷raw rate", 0.5, lambda f: f["ratio_export_rate_to_raw"]),
            Check(
                "export RSS growth MB",
                50,
                lambda f: f["export"]["peak_rss_mb"] - f["export"]["rss_before_mb"],
                most=True,
            ),
        ],
    ),
    "outcomes": (
        ["--patients", "100", "--runs", "5"],
        "outcomes",
        [],  # no target in issue 14's table: the run itself must succeed
    ),
    "load_mixed": (
        ["--seconds", "10", "--patients", "20", "--connections", "4"],
        "load_mixed_{backend}",
        [
            Check("errors", 0, lambda f: f["errors"] + f["non_2xx"], most=True),
            Check("reads p99 ms", 150, lambda f: f["reads_p99_ms"], most=True),
        ],
    ),
}
# load_mixed takes ~45 s at its smallest (a server, migrations, logins): only with --only.
DEFAULT = ["submission", "trend", "fhir_search", "export", "outcomes"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--only", help=f"comma-separated, of {', '.join(SCENARIOS)} (default: all but load_mixed)"
    )
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else DEFAULT
    results = Path(tempfile.mkdtemp(prefix="tracker-bench-smoke-"))
    env = {**os.environ, "TRACKER_BENCH_RESULTS": str(results)}
    started = time.monotonic()
    failed = []
    verdicts = []
    for name in chosen:
        options, stem, checks = SCENARIOS[name]
        began = time.monotonic()
        run = subprocess.run(
            [PYTHON, str(BENCH / f"{name}.py"), "--backend", args.backend, *options],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - began
        if run.returncode != 0:
            sys.stderr.write(run.stdout[-2000:] + run.stderr[-4000:])
            verdicts.append(f"FAIL {name}: the script exited {run.returncode} ({seconds:.0f} s)")
            failed.append(name)
            continue
        figures = json.loads((results / f"{stem.format(backend=args.backend)}.json").read_text())
        figures = figures.get(args.backend, figures)  # load_mixed writes one backend per file
        parts, bad = [], False
        for check in checks:
            value = round(check.read(figures), 3)
            parts.append(check.describe(value) + (" ✗" if check.fails(value) else ""))
            bad = bad or check.fails(value)
        if bad:
            failed.append(name)
        verdict = "FAIL" if bad else "ok"
        detail = "; ".join(parts) or "ran (no target)"
        verdicts.append(f"{verdict:4} {name}: {detail} ({seconds:.0f} s)")
    print(f"bench-smoke ({args.backend}, load {os.getloadavg()[0]:.1f}):")
    for line in verdicts:
        print("  " + line)
    total = time.monotonic() - started
    print(f"{'FAILED: ' + ', '.join(failed) if failed else 'passed'} in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
