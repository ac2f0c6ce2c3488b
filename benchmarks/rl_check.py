"""Predicted against published RL step times (data/posttrain/rl/nemo-rl-grpo-h100.yaml; nothing fitted on
them).

    .venv/bin/python benchmarks/rl_check.py >> benchmarks/results/validation-posttrain.md
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from xpuplan import api
from xpuplan.errors import XpuplanError

PROMPT_TOKENS = 200  # the file's source.assumed


def main() -> None:
    data = Path(__file__).resolve().parents[1] / "data/posttrain/rl/nemo-rl-grpo-h100.yaml"
    doc = yaml.safe_load(data.read_text())
    print("\n## RL: NeMo RL v0.4 GRPO on DGX-H100 (on-policy, colocated)\n")
    print("`.venv/bin/python benchmarks/rl_check.py`: each row's published plan through `xpuplan rl` (prompt "
          f"{PROMPT_TOKENS} tokens assumed, the response mean is the table's average sequence length minus it).\n")
    print("| run | devices | published step (s) | predicted step (s) | error | generation | passes | training | sync |")
    print("|---|---|---|---|---|---|---|---|---|")
    errors = []
    for run in doc["runs"]:
        train = {f"train_{k}": v for k, v in run["train"].items()}
        try:
            r = api.rl(model=run["model"], chip="h100-sxm", devices=run["devices"],
                       rollouts_per_step=run["rollouts_per_step"], train_global_batch=run["train_global_batch"],
                       prompt_len=PROMPT_TOKENS, response_len=run["mean_seq_len"] - PROMPT_TOKENS,
                       max_seq_len=run["max_seq_len"], rollout_tp=run["rollout_tp"], **train)
        except XpuplanError as exc:
            print(f"| {run['id']} | {run['devices']} | {run['step_time_s']} | not priced: {exc} | | | | | |")
            continue
        error = r.step_time_s / run["step_time_s"] - 1
        errors.append(error)
        print(f"| {run['id']} | {run['devices']} | {run['step_time_s']} | {r.step_time_s:.1f} | {error:+.0%} | "
              f"{r.generation_s:.1f} | {r.inference_passes_s:.1f} | {r.training_s:.1f} | {r.weight_sync_s:.2f} |")
    print(f"\n- priced: {len(errors)} of {len(doc['runs'])}; median |error| {np.median(np.abs(errors)):.0%} "
          f"(issue 16: <= 20%)")


if __name__ == "__main__":
    main()
