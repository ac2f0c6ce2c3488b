"""Published reliability records against the model (issue 4); prints Markdown.

    .venv/bin/python benchmarks/reliability_check.py
"""

from __future__ import annotations

from xpuplan import api
from xpuplan.catalog import load_chip
from xpuplan.reliability import ReliabilityInputs, reliability
from xpuplan.units import DAY, HOUR


def main() -> None:
    print("| record | source | published | xpuplan |")
    print("|---|---|---|---|")
    h100 = load_chip("h100-sxm").failures_per_device_day
    inp = ReliabilityInputs(devices=16384, failures_per_device_day=h100, checkpoint_bytes=30e9,
                            checkpoint_bytes_per_s=1e9, restart_s=300)
    r = reliability(inp, 0.9 * 54 * DAY, trials=2000, seed=0)
    print(f"| Llama 3 405B, 16,384 H100, 54 days: unexpected interruptions | arXiv 2407.21783 §3.3.4 | 419 | "
          f"{54 * DAY / inp.job_mtbf_s:.0f} (catalog rate {h100:g}/GPU-day) |")
    print(f"| same: effective training time (δ = 0.5 min, R = 5 min) | same | > 90% | {r.goodput:.1%} |")
    base = dict(model="llama3-405b", chip="h100-sxm", devices=16384, tp=8, pp=16, vpp=4, seq_len=8192,
                global_batch_tokens="16M")
    tokens = api.train(**base).tokens_per_s * 0.9 * 54 * DAY
    run = api.train(tokens=f"{tokens:.6g}", **base).to_dict()
    rel, cost = run["reliability"], run["cost"]
    print(f"| same, `xpuplan train` with default flags (storage {rel['checkpoint_bytes_per_s'] / 1e12:.2f} TB/s, "
          f"{'async' if rel['async_checkpoint'] else 'sync'} checkpoints, restart {rel['restart_s'] / 60:.0f} min): "
          f"interruptions / goodput | same | 419 / > 90% | {rel['expected_interruptions']:.0f} / {rel['goodput']:.1%} |")
    print(f"| same: one interruption, at {cost['assumptions']['usd_per_device_hour']} USD/GPU-h | reliability.md §7.4 | "
          f"9k-14k USD | {cost['usd_per_interruption']:,.0f} USD |")
    a100 = load_chip("a100-sxm-80gb").failures_per_device_day
    print(f"| BLOOM-176B, 384 A100: GPU failures per week | arXiv 2211.05100 | 1-2 | {384 * 7 * a100:.2f} |")
    for gpus, published in ((16384, 1.8), (131072, 0.23)):
        mtbf = DAY / (gpus * 6.5e-3 / 8) / HOUR
        print(f"| Meta RSC-1 job MTTF at {gpus:,} GPUs (6.5 failures / 1000 node-days) | Kokolis et al., HPCA'25 | "
              f"{published} h | {mtbf:.2f} h |")


if __name__ == "__main__":
    main()
