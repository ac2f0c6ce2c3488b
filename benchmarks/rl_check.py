"""Predicted against published RL step times: NeMo RL v0.4's steps (data/posttrain/rl/nemo-rl-grpo-h100.yaml; nothing
fitted on them) and NeMo RL v0.3's steps by phase (nemo-rl-v0.3-grpo-phases.yaml; only rl.py's orchestration constant
comes from them, their phases are checks).

    .venv/bin/python benchmarks/rl_check.py >> benchmarks/results/validation-posttrain.md
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from xpuplan import api
from xpuplan.errors import XpuplanError

PROMPT_TOKENS = 200  # the file's source.assumed
ENGINE = "vllm"  # NeMo RL generates with vLLM (its grpo configs: policy.generation.backend vllm)


def main() -> None:
    data = Path(__file__).resolve().parents[1] / "data/posttrain/rl/nemo-rl-grpo-h100.yaml"
    doc = yaml.safe_load(data.read_text())
    print("\n## RL: NeMo RL v0.4 GRPO on DGX-H100 (on-policy, colocated)\n")
    print("`.venv/bin/python benchmarks/rl_check.py`: each row's published plan through `xpuplan rl` (prompt "
          f"{PROMPT_TOKENS} tokens assumed, the response mean is the table's average sequence length minus it).\n")
    print("| run | devices | published step (s) | predicted step (s) | error | generation | passes | training | sync | "
          "switch | orchestration |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    errors = []
    for run in doc["runs"]:
        train = {f"train_{k}": v for k, v in run["train"].items()}
        try:
            r = api.rl(model=run["model"], chip="h100-sxm", devices=run["devices"],
                       rollouts_per_step=run["rollouts_per_step"], train_global_batch=run["train_global_batch"],
                       prompt_len=PROMPT_TOKENS, response_len=run["mean_seq_len"] - PROMPT_TOKENS,
                       max_seq_len=run["max_seq_len"], rollout_tp=run["rollout_tp"], engine=ENGINE, **train)
        except XpuplanError as exc:
            print(f"| {run['id']} | {run['devices']} | {run['step_time_s']} | not priced: {exc} | | | | | |")
            continue
        error = r.step_time_s / run["step_time_s"] - 1
        errors.append(error)
        print(f"| {run['id']} | {run['devices']} | {run['step_time_s']} | {r.step_time_s:.1f} | {error:+.0%} | "
              f"{r.generation_s:.1f} | {r.inference_passes_s:.1f} | {r.training_s:.1f} | {r.weight_sync_s:.2f} | "
              f"{r.engine_switch_s:.1f} | {r.orchestration_s:.1f} |")
    print(f"\n- priced: {len(errors)} of {len(doc['runs'])}; median |error| {np.median(np.abs(errors)):.0%} "
          f"(issue 16: <= 20%)")
    phases(Path(data).with_name("nemo-rl-v0.3-grpo-phases.yaml"))


def phases(path: Path) -> None:
    """Each v0.3 row's phases against xpuplan's: generation, log-probs (the inference passes), training, and refit
    (the weight sync, NeMo RL's 'prepare for generation'). xpuplan's engine switch (the copies back before the passes
    and the update, and the reference swap) falls in NeMo RL's log-prob timer and untimed remainder."""
    doc = yaml.safe_load(path.read_text())
    print("\n## RL by phase: NeMo RL v0.3 GRPO (colocated; published / predicted seconds)\n")
    print("| run | devices | step | generation | log-probs | training | refit |")
    print("|---|---|---|---|---|---|---|")
    errors = {k: [] for k in ("step", "generation", "logprobs", "training", "refit")}
    for run in doc["runs"]:
        train = {f"train_{k}": v for k, v in run["train"].items()}
        try:
            r = api.rl(model=run["model"], chip="h100-sxm", devices=run["devices"],
                       rollouts_per_step=run["rollouts_per_step"], train_global_batch=run["train_global_batch"],
                       prompt_len=PROMPT_TOKENS, response_len=run["response_len"], max_seq_len=run["max_seq_len"],
                       engine=ENGINE, **train)
        except XpuplanError as exc:
            print(f"| {run['id']} | {run['devices']} | not priced: {exc} | | | | |")
            continue
        got = {"step": r.step_time_s, "generation": r.generation_s, "logprobs": r.inference_passes_s,
               "training": r.training_s, "refit": r.weight_sync_s}
        cells = []
        for k, v in got.items():
            errors[k].append(v / run["phases_s"][k] - 1)
            cells.append(f"{run['phases_s'][k]} / {v:.1f} ({errors[k][-1]:+.0%})")
        print(f"| {run['id']} | {run['devices']} | " + " | ".join(cells) + " |")
    print("\n- median |error| by phase: " + ", ".join(f"{k} {np.median(np.abs(v)):.0%}" for k, v in errors.items() if v)
          + " (fits: the step's includes rl.py's orchestration constant, the mean of these rows' untimed remainder, "
          "and the refit line passes through the 8B row's refit)")


if __name__ == "__main__":
    main()
