"""Predicted against published RL step times: NeMo RL v0.4's steps (data/posttrain/rl/nemo-rl-grpo-h100.yaml), v0.5's
and v0.6's (nemo-rl-grpo-v05-v06.yaml: on- and off-policy, H100 and GB200), v0.7's (nemo-rl-grpo-v07.yaml, the same
kinds of row), nothing fitted on any, and NeMo RL
v0.3's steps by phase (nemo-rl-v0.3-grpo-phases.yaml; only rl.py's orchestration constant comes from them, their
phases are checks).

    .venv/bin/python benchmarks/rl_check.py >> benchmarks/results/validation-posttrain.md
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from xpuplan import api
from xpuplan.errors import XpuplanError
from xpuplan.rl import HOST_COPY_BYTES_PER_S
from xpuplan.validate.rl import (FRAMEWORK, PROMPT_TOKENS, SYNC_ENGINE, on_off_pairs, ordered_as_measured,
                                 price_rl_run)


def main() -> None:
    here = Path(__file__).resolve().parents[1] / "data/posttrain/rl"
    doc = yaml.safe_load((here / "nemo-rl-grpo-h100.yaml").read_text())
    print("\n## RL: NeMo RL v0.4 GRPO on DGX-H100 (on-policy, colocated)\n")
    print("`.venv/bin/python benchmarks/rl_check.py`: each row's published plan through `xpuplan rl` (prompt "
          f"{PROMPT_TOKENS} tokens assumed, the response mean is the table's average sequence length minus it).\n")
    print("| run | devices | published step (s) | predicted step (s) | error | generation | passes | training | sync | "
          "switch | orchestration |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    errors = []
    for run in doc["runs"]:
        try:
            r = price_rl_run(run)
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
    later = later_releases(here / "nemo-rl-grpo-v05-v06.yaml", "v0.5 and v0.6", "the two releases' tables")
    latest = later_releases(here / "nemo-rl-grpo-v07.yaml", "v0.7",
                            "the release's table whose model the catalog has (session 22)")
    priced = {i: e for i, e in (later | latest).items() if e is not None}
    every = errors + list(priced.values())
    print(f"\n**Every NeMo RL step row (v0.4-v0.7): {len(every)} priced, median |error| "
          f"{np.median(np.abs(every)):.1%}** (issue 16: <= 20%)")
    for release in ("v0.5", "v0.6", "v0.7"):
        ids = [i for i in priced if i.startswith(f"nemo-rl-{release}-")]
        got, gb200 = [priced[i] for i in ids], [priced[i] for i in ids if "-gb200-" in i]
        print(f"- {release}: {len(got)} rows, median |error| {np.median(np.abs(got)):.1%} (GB200's {len(gb200)}: "
              f"{np.median(np.abs(gb200)):.0%}, signed {np.median(gb200):+.0%})")
    phases(here / "nemo-rl-v0.3-grpo-phases.yaml")


def later_releases(path: Path, releases: str, which: str) -> dict:
    """A later release's rows (v0.5 and v0.6; v0.7): the table, the medians by group, and the on- / off-policy order;
    returns id -> error."""
    doc = yaml.safe_load(path.read_text())
    print(f"\n## RL: NeMo RL {releases} GRPO on DGX-H100 and GB200-NVL72 (on-policy colocated; off-policy on split "
          "pools)\n")
    print(f"Every GRPO row of {which}, each with its recipe's plan (`{path.name}`); prompt "
          f"{PROMPT_TOKENS} tokens assumed. Devices: training + rollout where generation has its own GPUs.\n")
    print("| run | devices | off-policy steps | published step (s) | predicted step (s) | error | generation | passes | "
          "training | sync | switch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    errors: dict = {}
    for run in doc["runs"]:
        pools = f"{run['devices']} + {run['rollout_devices']}" if "rollout_devices" in run else str(run["devices"])
        off = run.get("off_policy_steps", 0)
        try:
            r = price_rl_run(run)
        except XpuplanError as exc:
            errors[run["id"]] = None
            print(f"| {run['id']} | {pools} | {off} | {run['step_time_s']} | not priced: {exc} | | | | | | |")
            continue
        errors[run["id"]] = r.step_time_s / run["step_time_s"] - 1
        print(f"| {run['id']} | {pools} | {off} | {run['step_time_s']} | {r.step_time_s:.1f} | "
              f"{errors[run['id']]:+.0%} | {r.generation_s:.1f} | {r.inference_passes_s:.1f} | {r.training_s:.1f} | "
              f"{r.weight_sync_s:.2f} | {r.engine_switch_s:.1f} |")
    runs = {run["id"]: run for run in doc["runs"]}
    groups = {"all": lambda run: True, "on-policy (colocated)": lambda run: "rollout_devices" not in run,
              "off-policy (split pools)": lambda run: "rollout_devices" in run,
              "DGX-H100": lambda run: run["chip"] == "h100-sxm", "GB200-NVL72": lambda run: run["chip"] == "gb200"}
    print()
    for name, keep in groups.items():
        got = [e for i, e in errors.items() if e is not None and keep(runs[i])]
        total = sum(1 for i in errors if keep(runs[i]))
        if got:
            print(f"- {name}: {len(got)} of {total} priced, median |error| {np.median(np.abs(got)):.0%}, signed median "
                  f"{np.median(got):+.0%}")
    ordered, pairs = 0, []
    for on, off in on_off_pairs(doc["runs"]):
        if errors.get(on["id"]) is None or errors.get(off["id"]) is None:
            continue
        predicted = [runs[i]["step_time_s"] * (1 + errors[i]) for i in (on["id"], off["id"])]
        same = ordered_as_measured(on, off, *predicted)
        ordered += same
        pairs.append(f"{off['release']} {off['chip']} {off['model']} on {on['devices']}: measured on-policy "
                     f"{on['step_time_s']} s / one step off {off['step_time_s']} s, predicted "
                     f"{predicted[0]:.0f} / {predicted[1]:.0f} s{'' if same else ' (not ordered as measured)'}")
    print(f"- on-policy against one step off-policy on the same cluster: {ordered} of {len(pairs)} pairs ordered as "
          "measured (issue 16)")
    for line in pairs:
        print(f"  - {line}")
    return errors


def phases(path: Path) -> None:
    """Each v0.3 row's phases against xpuplan's, timed as NeMo RL times them (grpo.py at v0.3.0): generation with the
    engine's sleep (its weights out, ``finish_generation`` inside the ``generation`` timer), log-probs with the
    reference swap (three weight copies, inside ``policy_and_reference_logprobs``), training, and refit (the weight
    sync, 'prepare for generation'); the engine switch is those two copies."""
    doc = yaml.safe_load(path.read_text())
    print("\n## RL by phase: NeMo RL v0.3 GRPO (colocated; published / predicted seconds)\n")
    print("| run | devices | step | generation | log-probs | training | refit |")
    print("|---|---|---|---|---|---|---|")
    errors = {k: [] for k in ("step", "generation", "logprobs", "training", "refit")}
    for run in doc["runs"]:
        train = {f"train_{k}": v for k, v in run["train"].items()}
        train |= {k: run[k] for k in ("rollout_tp", "rollout_memory_share") if k in run}  # the row's config
        try:
            r = api.rl(model=run["model"], chip="h100-sxm", devices=run["devices"],
                       rollouts_per_step=run["rollouts_per_step"], train_global_batch=run["train_global_batch"],
                       prompt_len=PROMPT_TOKENS, response_len=run["response_len"], max_seq_len=run["max_seq_len"],
                       engine=SYNC_ENGINE, framework=FRAMEWORK, **train)  # v0.3 pins vLLM 0.9.0: synchronous
        except XpuplanError as exc:
            print(f"| {run['id']} | {run['devices']} | not priced: {exc} | | | | |")
            continue
        swap = 3.0 * r.train.memory["weights_bytes"] / HOST_COPY_BYTES_PER_S  # the reference swap's three copies
        got = {"step": r.step_time_s, "generation": r.generation_s + r.engine_switch_s - swap,
               "logprobs": r.inference_passes_s + swap, "training": r.training_s, "refit": r.weight_sync_s}
        cells = []
        for k, v in got.items():
            errors[k].append(v / run["phases_s"][k] - 1)
            cells.append(f"{run['phases_s'][k]} / {v:.1f} ({errors[k][-1]:+.0%})")
        print(f"| {run['id']} | {run['devices']} | " + " | ".join(cells) + " |")
    print("\n- median |error| by phase: " + ", ".join(f"{k} {np.median(np.abs(v)):.0%}" for k, v in errors.items() if v)
          + " (fits: the step's includes rl.py's orchestration constant, the mean of these rows' untimed remainder, "
          "and the refit line is the least-squares line through these rows' refits and DeepSeek-V3's, rl.PUBLISHED_REFITS)")


if __name__ == "__main__":
    main()
