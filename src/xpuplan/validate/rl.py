"""Published RL step times (``data/posttrain/rl``): each row priced by :func:`xpuplan.rl.step` with its recipe's plan,
colocated or with the rollouts on their own devices (issue 16). Every row is a check: nothing in the catalog is
fitted on them (benchmarks/rl_check.py prints them, tests/test_rl.py guards their medians)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import catalog
from ..catalog.files import read_yaml
from ..rl import RLResult, step
from ..rollout import ASYNC_ENGINE_MAX_SEQS
from ..serving.inputs import release_profile, with_speculative

RL_DIR = Path(__file__).resolve().parents[3] / "data" / "posttrain" / "rl"
PROMPT_TOKENS = 200
"""prompt tokens every row assumes (OpenMathInstruct-2 problems with the chat template; the files' source.assumed):
the tables give only the mean generated sequence, prompt included"""
ENGINE = "vllm"
"""NeMo RL generates with vLLM (its GRPO configs: policy.generation.backend vllm)"""
FRAMEWORK = "nemo-rl"
"""NeMo RL trains with Megatron-Core under its own configs' switches (catalog/frameworks/nemo-rl.yaml)"""
MTP_ACCEPT_RATE = 0.85
"""ASSUMED: the chance vLLM accepts the token DeepSeek V3's MTP head drafts in NeMo RL v0.7's rollouts (its recipes'
speculative_config deepseek_mtp, one token). DeepSeek measured 85-90% for the second token (DeepSeek-V3 technical
report, arXiv 2412.19437, section 5.4.3); the lower end, as rollouts sample at temperature 1.0 (grpo_math_1B.yaml),
and the MTP head is not trained with the policy (mtp_num_layers 0). No acceptance is published for these runs"""
STEP_FILES = ("nemo-rl-grpo-h100.yaml", "nemo-rl-grpo-v05-v06.yaml", "nemo-rl-grpo-v07.yaml")
"""the files of whole published steps (v0.4; v0.5 and v0.6; v0.7), as against the v0.3 table of phases"""


def rl_runs(name: str) -> list[dict]:
    """The rows of one file of ``data/posttrain/rl``."""
    return list(read_yaml(RL_DIR / name)["runs"])


def price_rl_run(run: dict) -> RLResult:
    """One published row through the RL step model: its chip, precision, pools (``rollout_devices`` and
    ``off_policy_steps`` where generation has its own devices), rollout memory share and training plan."""
    chip = catalog.load_chip(run.get("chip", "h100-sxm"))
    pools = {}
    if "rollout_devices" in run:
        pools = dict(rollout_chip=chip, rollout_devices=run["rollout_devices"],
                     off_policy_steps=run.get("off_policy_steps", 0))
    if "rollout_memory_share" in run:
        pools["rollout_memory_share"] = run["rollout_memory_share"]
    return step(model=catalog.load_model(run["model"]), chip=chip, devices=run["devices"],
                rollouts_per_step=run["rollouts_per_step"], train_global_batch=run["train_global_batch"],
                prompt_len=PROMPT_TOKENS, response_len=run["mean_seq_len"] - PROMPT_TOKENS,
                max_seq_len=run["max_seq_len"], rollout_tp=run["rollout_tp"], precision=run.get("precision", "bf16"),
                framework=recipe_framework(run), engine=recipe_engine(run),
                force_on_policy_ratio=bool(run.get("force_on_policy_ratio", False)),
                samples_per_prompt=run.get("samples_per_prompt"), rollout_max_seqs=recipe_max_seqs(run),
                **{f"train_{k}": v for k, v in run["train"].items()}, **pools)


def recipe_framework(run: dict):
    """NeMo RL's trainer under the row's recipe switches (``megatron``): sequence parallelism, the fused permutation,
    and HybridEP's deduplicated dispatch; the profile's grpo_math_1B.yaml defaults where the row names none."""
    framework = catalog.load_framework(FRAMEWORK)
    switches = run.get("megatron")
    if not switches:
        return framework
    return dataclasses.replace(framework, sequence_parallel=bool(switches["sequence_parallel"]),
                               moe_permute="fused" if switches["moe_permute_fusion"] else "eager",
                               ep_dedup=switches["dispatcher"] == "hybridep")


def recipe_max_seqs(run: dict) -> int | None:
    """The sequences each rollout replica runs at once under the row's recipe (``vllm``): its own
    ``vllm_kwargs.max_num_seqs``, else vLLM's default for how NeMo RL builds the engine (the asynchronous engine's
    :data:`~xpuplan.rollout.ASYNC_ENGINE_MAX_SEQS`; ``vllm.LLM``'s is the engine profile's)."""
    engine = run.get("vllm") or {}
    if engine.get("max_num_seqs") is not None:
        return int(engine["max_num_seqs"])
    return ASYNC_ENGINE_MAX_SEQS if engine.get("async_engine") else None


NEMO_RL_VLLM = {"v0.4": (0, 10, 0), "v0.5": (0, 11, 2), "v0.6": (0, 17, 1), "v0.7": (0, 20, 0)}
"""the vLLM release each NeMo RL release pins (``vllm==`` in its pyproject.toml at the tag)"""
VLLM_ASYNC_BY_DEFAULT = (0, 14, 0)
"""the first vLLM release whose scheduler runs a step ahead unless told otherwise (SchedulerConfig.async_scheduling:
False through 0.13.0, None from 0.14.0, then True where the executor supports it: ``uni``, ``mp``, not ``ray``)"""


VLLM_RAY_SCHEDULES_AHEAD = (0, 33, 0)
"""the first vLLM release whose ray executor schedules a step ahead too (its V2 ray executor, a multiprocessing one,
always from 0.33.0; before, ``ray`` meant the V1 executor, which does not: vllm/config/vllm.py)"""

SYNC_ENGINE = f"{ENGINE}@0.10"
"""the vLLM profile of the releases that schedule synchronously (0.10-0.13; NeMo RL v0.3's 0.9.0 too)"""


def release_engine(version: tuple[int, ...]):
    """The catalog's vLLM profile of that release (the one describing it or covering it: ``vllm@0.17`` for 0.17.1)."""
    return release_profile(ENGINE, ".".join(map(str, version)), catalog.load_engine, catalog.names("serving"))


def _schedules_ahead(run: dict) -> bool:  # the vLLM the row's release pins schedules a step ahead by default
    version = NEMO_RL_VLLM.get(run.get("release"))
    return version is not None and version >= VLLM_ASYNC_BY_DEFAULT


def recipe_async_scheduling(run: dict) -> bool:
    """Whether the row's rollout engine schedules a step ahead: its release's vLLM does so by default, and the
    executor NeMo RL gives it supports that (one device a replica: vLLM's ``uni``; more: NeMo RL sets ``ray``,
    nemo_rl/models/generation/vllm/vllm_worker.py, which vLLM 0.14-0.32 runs synchronously)."""
    version = NEMO_RL_VLLM.get(run.get("release"))
    return _schedules_ahead(run) and (run["rollout_tp"] == 1 or version >= VLLM_RAY_SCHEDULES_AHEAD)


def recipe_engine(run: dict):
    """vLLM as the row's release runs it: the profile of its release (``vllm@0.10`` before 0.14), scheduling a step
    ahead or not (:func:`recipe_async_scheduling`), drafting with the model's MTP head where the recipe does
    (``speculative``; ``MTP_ACCEPT_RATE``)."""
    version = NEMO_RL_VLLM.get(run.get("release"))
    engine = catalog.load_engine(ENGINE) if version is None else release_engine(version)
    engine = dataclasses.replace(engine, async_scheduling=recipe_async_scheduling(run))
    spec = run.get("speculative")
    if not spec:
        return engine
    return with_speculative(engine, spec["method"], MTP_ACCEPT_RATE, spec["draft_tokens"])


def on_off_pairs(runs: list[dict]) -> list[tuple[dict, dict]]:
    """(on-policy, one-step off-policy) rows of one release, chip, model, precision and sequence cap on the same cluster:
    the pool the colocated row shares equals the split row's training plus rollout devices."""
    key = ("release", "chip", "model", "precision", "max_seq_len")
    return [(on, off) for off in runs if off.get("off_policy_steps") == 1 for on in runs
            if "rollout_devices" not in on and "release" in on and all(on.get(k) == off.get(k) for k in key)
            and on["devices"] == off["devices"] + off["rollout_devices"]]


ORDER_TIE = 0.02
"""predicted on- and off-policy steps closer than this share of the on-policy step are a tie, ordered neither way"""


def ordered_as_measured(on: dict, off: dict, on_predicted_s: float, off_predicted_s: float) -> bool:
    """Whether the predicted steps of an :func:`on_off_pairs` pair put the one-step off-policy row on the side of the
    on-policy row it was measured on, by more than :data:`ORDER_TIE` (a near-equal prediction orders nothing)."""
    if abs(off_predicted_s - on_predicted_s) <= ORDER_TIE * on_predicted_s:
        return False
    return (off["step_time_s"] < on["step_time_s"]) == (off_predicted_s < on_predicted_s)
