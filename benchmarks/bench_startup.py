"""Start-up time of the command line (issue 20): ``xpuplan --help`` and the Llama 3 405B / 16,384 H100 plan search,
each a fresh process, as a user meets them; the bare interpreter is the floor.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 7] [--src OTHER_TREE/src]

``--src`` times another source tree with the same interpreter (for an A/B against a commit exported with
``git archive``). Prints a markdown table (median and best of the repeats, wall seconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

PLAN = ["plan", "--model", "llama3-405b", "--chip", "h100-sxm", "--devices", "16384", "--top", "1", "--json"]
ENTRY = ["-c", "import sys; from xpuplan.cli import main; sys.exit(main())"]  # what the console script runs
CASES = [  # (label, argv after the interpreter, target in seconds)
    ("python (bare interpreter, the floor)", ["-c", "pass"], None),
    ("xpuplan --help", [*ENTRY, "--help"], 0.25),
    ("xpuplan " + " ".join(PLAN), [*ENTRY, *PLAN], 0.5),
]


def wall_s(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--src", help="time this source tree instead of the installed package")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = args.src
    print(f"| command | median (s) | best (s) | target (s) |\n|---|---|---|---|")
    for label, argv, target in CASES:
        wall_s(argv, env)  # warm the file cache
        times = [wall_s(argv, env) for _ in range(args.repeats)]
        print(f"| `{label}` | {statistics.median(times):.3f} | {min(times):.3f} | {target or ''} |")


if __name__ == "__main__":
    main()
