"""Speed of the plan search (issue 3): plans scored per second on one core, the full Llama 3 405B
search on 16,384 H100, and a two-pool search.

    .venv/bin/python benchmarks/bench_search.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

import numpy as np  # noqa: E402

from xpuplan import api  # noqa: E402
from xpuplan.catalog import load_chip, load_model  # noqa: E402
from xpuplan.cost.step import step_costs  # noqa: E402
from xpuplan.search import CHUNK, SearchSpace, _subset, candidate_grid  # noqa: E402
from xpuplan.specs import TrainJob  # noqa: E402


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    model, chip = load_model("llama3-405b"), load_chip("h100-sxm")
    job = TrainJob(seq_len=8192, global_batch=2048)
    grid, _, _ = candidate_grid(model, job, 16384, chip, SearchSpace())
    many = _subset(grid, np.resize(np.arange(len(grid)), 1_000_000))

    def score_all():
        for i in range(0, len(many), CHUNK):
            step_costs(model, chip, job, _subset(many, slice(i, i + CHUNK)), 16384)

    t = best_of(score_all, 2)
    print(f"| scoring 1,000,000 plans (Llama 3 405B, H100) | {t:.2f} s | {1e6 / t:,.0f} plans/s | target >= 1,000,000 plans/s |")
    t = best_of(lambda: api.plan(model="llama3-405b", chip="h100-sxm", devices=16384, seq_len=8192,
                                 global_batch_tokens="16M", tokens="15T"))
    print(f"| full search, Llama 3 405B on 16,384 H100 | {t:.2f} s | | target < 2 s |")
    t = best_of(lambda: api.plan(model="deepseek-v3", chip="h800", devices=2048, seq_len=4096, global_batch=4096,
                                 allow_cross_domain_tp=True))
    print(f"| full search, DeepSeek-V3 on 2,048 H800 (cross-domain EP allowed) | {t:.2f} s | | |")
    t = best_of(lambda: api.hetero(pools=["h800:4096", "ascend-910b:8192"], model="llama3-405b", seq_len=8192,
                                    global_batch=2048, tokens="15T"), 1)
    print(f"| two-pool search, Llama 3 405B on 4,096 H800 + 8,192 Ascend 910B | {t:.2f} s | | target < 10 s |")


if __name__ == "__main__":
    main()
