"""Peak memory of reading each hostile roster file (tests/hostile.py), over the reading process at rest, beside the
way the bot read XLSX before (openpyxl's read-only reader trusting the file's <dimension>) as the baseline. Each
reading runs in a fresh process; its peak is read from /proc (VmHWM, reset before the reading), not from
getrusage (which survives execve). Goal: every file within 50 MB of the process at rest.

    python -m benchmarks.bench_hostile_files [--baseline]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

FILES = (
    "ordinary", "claims_16384_columns", "dimension_bomb", "a_million_rows", "too_wide", "far_column", "long_cell",
    "zip_bomb", "many_parts", "csv_20000_rows", "csv_fullest", "shared_strings", "shared_strings_within",
)  # fmt: skip
GOAL_MB = 50.0

CHILD = r"""
import gc, sys, time
from tests import hostile
from bot.domain.roster import RosterFileError, read_table

def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

name, how = sys.argv[1], sys.argv[2]
make = {"ordinary": hostile.xlsx, "csv_20000_rows": lambda: hostile.csv_rows(20000)}.get(name) or getattr(hostile, name)
data = make()
filename = "r.csv" if name.startswith("csv") else "r.xlsx"
import openpyxl, zipfile  # loaded at rest, as in the bot
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts over from here
rest = kb("VmRSS:")
start = time.perf_counter()
if how == "bounded":
    try:
        rows = read_table(data, filename)
        outcome = f"{len(rows)} rows"
    except RosterFileError as exc:
        outcome = f"refused: {exc.args[0]} {exc.params}"
else:  # the reader before: openpyxl trusting <dimension>
    book = openpyxl.load_workbook(__import__("io").BytesIO(data), read_only=True, data_only=True)
    rows = [["" if c is None else str(c) for c in row] for row in book.worksheets[0].iter_rows(values_only=True)]
    outcome = f"{len(rows)} rows of {max(len(r) for r in rows)} cells"
print(f"{(kb('VmHWM:') - rest) / 1024:.1f}\t{time.perf_counter() - start:.2f}\t{outcome}")
"""


def measure(name: str, how: str) -> tuple[str, str, str]:
    done = subprocess.run([sys.executable, "-c", CHILD, name, how], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return "-", "-", f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    peak, seconds, outcome = done.stdout.strip().split("\t")
    return peak, seconds, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", action="store_true", help="also the reader before, on the dimension bomb")
    args = parser.parse_args()
    print("file\tpeak MB over rest\tseconds\toutcome")
    worst = 0.0
    for name in FILES:
        peak, seconds, outcome = measure(name, "bounded")
        worst = max(worst, float(peak)) if peak != "-" else worst
        print(f"{name}\t{peak}\t{seconds}\t{outcome}")
    if args.baseline:
        peak, seconds, outcome = measure("dimension_bomb", "before")
        print(f"dimension_bomb (reader before)\t{peak}\t{seconds}\t{outcome}")
    print(
        f"worst: {worst:.1f} MB over the process at rest (goal: at most {GOAL_MB:.0f} MB): "
        f"{'met' if worst <= GOAL_MB else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
