"""Speed of one `train` estimate in-process and of the CLI end to end (issue 2: < 5 ms and < 1 s).

    .venv/bin/python benchmarks/bench_train.py

Prints the median and p90 of repeated runs; results are recorded in benchmarks/results/speed.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import xpuplan

CASES = [
    dict(model="llama3-405b", chip="h100-sxm", devices=16384, tp=8, pp=16, seq_len=8192, global_batch=2048, tokens="15T"),
    dict(model="deepseek-v3", chip="h800", devices=2048, pp=16, ep=64, seq_len=4096, global_batch=15360 // 4, tokens="14.8T"),
    dict(model="telechat3-36b", chip="ascend-910b", devices=1024, tp=4, pp=4, seq_len=8192, global_batch=1024, tokens="15T"),
]


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    print("| case | estimate, in-process median (ms) | p90 (ms) | with reliability + cost (2,000-trial Monte Carlo), median (ms) | CLI end to end, median (s) |")
    print("|---|---|---|---|---|")
    exe = Path(sys.executable).parent / "xpuplan"
    for case in CASES:
        xpuplan.train(**case)  # warm the catalog cache, as a long-lived process would
        bare = {k: v for k, v in case.items() if k != "tokens"}  # no token budget: the step estimate alone
        runs = sorted(_time(lambda: xpuplan.train(**bare), 300))
        full = sorted(_time(lambda: xpuplan.train(**case), 20))
        argv = [str(exe), "train", "--json"] + [f"--{k.replace('_', '-')}={v}" for k, v in case.items()]
        cli = _time(lambda: subprocess.run(argv, check=True, capture_output=True), 5)
        print(f"| {case['model']} on {case['devices']} x {case['chip']} | {statistics.median(runs) * 1e3:.2f} | "
              f"{runs[int(0.9 * len(runs))] * 1e3:.2f} | {statistics.median(full) * 1e3:.1f} | {statistics.median(cli):.2f} |")


if __name__ == "__main__":
    main()
