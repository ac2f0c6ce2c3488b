"""Training estimates: a job assembled from its flags, one plan priced, and the whole run's reliability and cost.

``make_job`` turns CLI-style inputs ("16M" batch tokens, "15T" tokens) into a :class:`TrainJob`; ``estimate`` prices
one resolved plan with the step model (:func:`xpuplan.cost.step.step_costs`); ``run_outcome`` adds the failures,
checkpoints and money of the run. Specs in, results out: nothing here reads a file.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .advice import assumed_features, plan_warnings
from .cost.flops import total_params
from .cost.encoder import check_images_fit
from .cost.step import BREAKDOWN_KEYS, step_costs
from .economics import CostInputs, run_cost
from .errors import BadInput, DoesNotFit
from .plan import ParallelPlan, PlanGrid, framework_unsupported, resolve_plan
from .reliability import (RESTART_TIERS_S, STORAGE_BYTES_PER_S_PER_DEVICE, ReliabilityInputs,
                          checkpoint_bytes, reliability)
from .results import MEMORY_KEYS, TrainResult
from .specs import Chip, Framework, Model, TrainJob
from .specs.job import FP16_GRAD_REDUCE, TASKS
from .units import UnitError, parse_quantity

MAX_DEVICES = 10_000_000
"""the most devices any command accepts"""
MAX_TOKENS = 1e21
"""the largest token count any command accepts (a thousand times GPT-4's reported 13T is 1.3e16)"""
MAX_GLOBAL_BATCH = 1 << 30
"""the largest global batch, sequences (published pre-training batches are under 100,000)"""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOptions:
    """Reliability and cost settings of a run (parsed; defaults are reported in the output)."""

    failures_per_device_day: float | None = None
    """None: the chip's catalog rate"""
    checkpoint_bytes_per_s: float | None = None
    """aggregate checkpoint write bandwidth; None: storage that grows with the cluster,
    ``STORAGE_BYTES_PER_S_PER_DEVICE`` per device"""
    async_checkpoint: bool | None = None
    """None: as the framework does by default (``Framework.async_checkpoint``)"""
    checkpoint_interval_s: float | None = None
    restart_s: float = RESTART_TIERS_S["automated"]
    spares: int | None = None
    trials: int = 2000
    seed: int = 0
    costs: CostInputs = field(default_factory=CostInputs)


def run_options(*, failure_rate=None, checkpoint_bandwidth=None, async_checkpoint: bool | None = None,
                checkpoint_interval=None, restart_time=None, restart_tier: str = "automated", spares: int | None = None,
                trials: int = 2000, seed: int = 0, cost_settings: dict | None = None, **cost_flags) -> RunOptions:
    """Parse reliability and cost flags (human units allowed) into RunOptions; ``cost_settings`` are those of a
    ``--costs`` file, which the flags override."""
    def quantity(value, kind, name):
        try:
            return parse_quantity(value, kind)
        except UnitError as exc:
            raise BadInput(f"--{name}: {exc}", name.replace("-", "_")) from None

    if restart_tier not in RESTART_TIERS_S:
        raise BadInput(f"--restart-tier must be one of {', '.join(RESTART_TIERS_S)}, got {restart_tier!r}", "restart_tier")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BadInput(f"--seed must be a whole number >= 0, got {seed}", "seed")
    settings = dict(cost_settings or {})
    settings.update({k: v for k, v in cost_flags.items() if v is not None and v is not False})
    try:
        cost_inputs = CostInputs(**settings)
    except TypeError as exc:
        raise BadInput(f"cost settings: {exc}", "costs") from None
    rate = None if failure_rate is None else quantity(failure_rate, "count", "failure-rate")
    if rate is not None and not 0 < rate < 1:
        raise BadInput(f"--failure-rate must be in (0, 1) failures per device-day, got {failure_rate}", "failure_rate")
    bandwidth = None if checkpoint_bandwidth is None else quantity(checkpoint_bandwidth, "bytes_per_s", "checkpoint-bandwidth")
    if bandwidth is not None and not 0 < bandwidth < 1e16:
        raise BadInput(f"--checkpoint-bandwidth must be > 0, got {checkpoint_bandwidth}", "checkpoint_bandwidth")
    return RunOptions(
        failures_per_device_day=rate, checkpoint_bytes_per_s=bandwidth, async_checkpoint=async_checkpoint,
        checkpoint_interval_s=None if checkpoint_interval is None else quantity(checkpoint_interval, "seconds", "checkpoint-interval"),
        restart_s=RESTART_TIERS_S[restart_tier] if restart_time is None else quantity(restart_time, "seconds", "restart-time"),
        spares=spares, trials=trials, seed=seed, costs=cost_inputs,
    )


def run_outcome(model: Model, chip: Chip, devices: int, tokens: float, tokens_per_s: float, run: RunOptions,
                framework: Framework | None = None, optimizer_state: str | None = None) -> dict:
    """The ``reliability`` and ``cost`` blocks of a run of ``tokens`` at ``tokens_per_s`` (failure-free): checkpoints
    of the bf16 weights and the optimizer state (``optimizer_state``; the framework's when None)
    asynchronous where the framework saves them so by default, storage bandwidth growing with the cluster, and what
    one interruption and all of them cost."""
    state = optimizer_state or (framework.optimizer_state if framework is not None else "fp32")
    rate = run.failures_per_device_day if run.failures_per_device_day is not None else chip.failures_per_device_day
    if rate is None:
        raise BadInput(f"chip {chip.name} has no failure rate; give --failure-rate", "failure_rate")
    inputs = ReliabilityInputs(
        devices=devices, failures_per_device_day=rate,
        checkpoint_bytes=checkpoint_bytes(total_params(model), state),
        checkpoint_bytes_per_s=run.checkpoint_bytes_per_s if run.checkpoint_bytes_per_s is not None
        else STORAGE_BYTES_PER_S_PER_DEVICE * devices, restart_s=run.restart_s,
        async_checkpoint=run.async_checkpoint if run.async_checkpoint is not None
        else bool(framework is not None and framework.async_checkpoint),
        checkpoint_interval_s=run.checkpoint_interval_s,
        domains=-(-devices // max(chip.scale_up_domain, 1)) if chip.domain_failures_per_day else 0,
        domain_failures_per_day=chip.domain_failures_per_day or 0.0, spares=run.spares)
    work_s = tokens / tokens_per_s
    rel = reliability(inputs, work_s, trials=run.trials, seed=run.seed)
    cost = run_cost(chip, devices, rel.total_time_s, tokens, run.costs)
    usd_per_s = None if cost["usd"] is None else cost["usd"] / rel.total_time_s  # the whole job, per wall second
    cost |= {"usd_per_interruption": None if usd_per_s is None else usd_per_s * rel.lost_s_per_interruption,
             "usd_lost_to_failures": None if usd_per_s is None else usd_per_s * (rel.total_time_s - work_s)}
    return {"reliability": rel.to_dict(), "cost": cost}


def _count(value, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = parse_quantity(value, "count")
    except UnitError as exc:
        raise BadInput(f"--{name.replace('_', '-')}: {exc}", name) from None
    if not number > 0:
        raise BadInput(f"--{name.replace('_', '-')} must be > 0, got {value}", name)
    if not math.isfinite(number) or number > MAX_TOKENS:
        raise BadInput(f"--{name.replace('_', '-')} {value} is out of range (at most {MAX_TOKENS:.0e})", name)
    return number


def _batch_sequences(batch_tokens, seq_len: int) -> int:
    """Sequences in a batch given in tokens. Batch sizes are powers of two in practice, so "16M" with
    8K sequences means 16 Mi tokens (2048 sequences) when 16e6 is not a whole number of sequences."""
    tokens = _count(batch_tokens, "global_batch_tokens")
    if tokens % seq_len == 0:
        return int(tokens // seq_len)
    text = str(batch_tokens).strip()
    binary = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:]) if text[:-1].replace(".", "", 1).isdigit() else None
    if binary and (float(text[:-1]) * binary) % seq_len == 0:
        return int(float(text[:-1]) * binary // seq_len)
    raise BadInput(f"--global-batch-tokens {tokens:.0f} is not a multiple of --seq-len {seq_len}; "
                   f"give a multiple, e.g. {seq_len * max(1, round(tokens / seq_len))}", "global_batch_tokens")


FINE_TUNING = ("sft", "lora", "qlora", "dpo")
TASK_OPTIONS = {"lora_rank": ("lora", "qlora"), "lora_targets": ("lora", "qlora"), "reference": ("dpo",),
                "mean_seq_len": FINE_TUNING, "packed": FINE_TUNING}
"""options that only some tasks read: given to another task they are refused, never silently dropped"""
TASK_OPTION_FLAGS = {"packed": "--packed/--no-packed"}


def _check_task_options(options: dict) -> None:
    """Refuse a task option the job's task does not read (``--lora-rank`` on a pre-training job), and leave the
    ones not given to the job's defaults."""
    task = options.get("task") or "pretrain"
    if task in TASKS:  # an unknown task is TrainJob's to name
        for name, tasks in TASK_OPTIONS.items():
            if options.get(name) is not None and task not in tasks:
                flag = TASK_OPTION_FLAGS.get(name, "--" + name.replace("_", "-"))
                raise BadInput(f"{flag} applies to --task {'/'.join(tasks)}, and this job is --task {task}: drop it, "
                               f"or set --task {tasks[0]}", name)
    for name in ("lora_rank", "lora_targets", "reference"):
        if name in options and options[name] is None:
            del options[name]


def check_job_for_model(model: Model, job: TrainJob) -> None:
    """Refuse a job option the model has nothing for (``train``, ``plan`` and two-pool plans all pass here)."""
    if job.moe_balancing is not None and model.moe is None:
        raise BadInput(f"--moe-balancing sets a MoE router's balancing, and {model.name} is dense: drop it",
                       "moe_balancing")


def make_job(*, seq_len: int = 4096, global_batch: int | None = None, global_batch_tokens=None, tokens=None,
             precision: str | None = None, **options) -> TrainJob:
    """Build a TrainJob from CLI-style inputs ("16M" batch tokens, "15T" tokens); an fp16 ``precision`` keeps and
    reduces its gradients in fp16 unless ``grad_reduce`` says otherwise (``FP16_GRAD_REDUCE``)."""
    if not isinstance(seq_len, int) or seq_len <= 0:
        raise BadInput(f"--seq-len must be a positive whole number, got {seq_len}", "seq_len")
    if global_batch is not None and global_batch_tokens is not None:
        raise BadInput("give either --global-batch (sequences) or --global-batch-tokens, not both", "global_batch")
    if global_batch_tokens is not None:
        global_batch = _batch_sequences(global_batch_tokens, seq_len)
    if global_batch is None:
        global_batch = max(1, (4 * 2**20) // seq_len)  # 4M tokens, a common pre-training batch
    if isinstance(global_batch, bool) or not isinstance(global_batch, int) or global_batch <= 0:
        raise BadInput(f"--global-batch must be a positive whole number of sequences, got {global_batch}", "global_batch")
    if global_batch > MAX_GLOBAL_BATCH:
        raise BadInput(f"--global-batch {global_batch} sequences is out of range (at most {MAX_GLOBAL_BATCH:,})",
                       "global_batch")
    _check_task_options(options)
    framework = options.get("framework") or Framework()
    if options.get("packed") is None:  # fine-tuning examples are packed unless the job says --no-packed
        options["packed"] = True
    if options.get("ep_dedup") is None:  # the framework's own dispatch, unless the job says otherwise
        options["ep_dedup"] = framework.ep_dedup
    if options.get("ep_overlap") is None:
        options["ep_overlap"] = framework.ep_overlap_efficiency if framework.ep_comm_overlap else 0.0
    if precision == "fp16" and options.get("grad_reduce") is None:
        options["grad_reduce"] = FP16_GRAD_REDUCE
    return TrainJob(seq_len=seq_len, global_batch=global_batch, tokens=_count(tokens, "tokens"), **options)


BLACKWELL = frozenset({"b200", "gb200", "gb300"})
"""chips that take the H100's calibrated fractions at Blackwell peaks, where published runs scatter widely around the
estimate (benchmarks/results/validation.md, session 17): training and RL results there say so"""
BLACKWELL_NOTE = ("published Blackwell runs scatter around this estimate: NVIDIA's tuned Megatron-Bridge recipes on "
                  "GB200 and GB300 within 14% of it at the median (MoE recipes predicted up to 33% slow, GPT-OSS up "
                  "to 35% fast), but Megatron-LM's untuned 7B CI job on 8 GB200 ran 80-93% slower than "
                  "predicted (1.3-1.5x an H100, not ~2.4x) and NeMo RL's GB200 steps 13% slower; read small or "
                  "untuned jobs here as optimistic")


def estimate(model: Model, chip: Chip, job: TrainJob, devices: int, plan: ParallelPlan,
             run: RunOptions | None = None) -> TrainResult:
    """Price one resolved plan (no input parsing; the core of ``train``); with ``run`` and a token
    budget, add the reliability and cost of the whole run."""
    chip.require("hbm_bytes", "hbm_bytes_per_s")
    check_images_fit(model, job.seq_len)
    costs = step_costs(model, chip, job, PlanGrid.from_plans([plan]), devices)
    memory = {k: float(getattr(costs.memory, k)[0]) for k in MEMORY_KEYS}
    notes = chip.stand_in_notes() + ([f"{chip.name}: {BLACKWELL_NOTE}"] if chip.name in BLACKWELL else [])
    if plan.precision == "fp8" and chip.peak_flops_per_s.get("fp8") is None:
        notes.append(f"{chip.name} has no published fp8 peak: GEMMs are priced at its bf16 peak")
    tokens_per_s = float(costs.tokens_per_s[0])
    breakdown = {k: float(costs.breakdown[k][0]) for k in BREAKDOWN_KEYS}
    grouped_step_s = None
    if model.moe is not None and job.framework.moe_grouped_gemm and not job.grouped_experts:
        grouped = step_costs(model, chip, dataclasses.replace(job, moe_grouped_gemm=True),
                             PlanGrid.from_plans([plan]), devices)
        grouped_step_s = float(grouped.step_time_s[0])
    notes += plan_warnings(model, job, plan, breakdown, float(costs.step_time_s[0]), chip.host_time_factor,
                           grouped_step_s)
    extra = {"notes": notes, "assumed": assumed_features(job.framework, job),
             "forward_pass_s": float(costs.forward_s[0])}
    if run is not None and job.tokens is not None:
        extra |= run_outcome(model, chip, devices, job.tokens, tokens_per_s, run, job.framework,
                             job.optimizer_state_name)
    return TrainResult(
        model=model, chip=chip, job=job, devices=devices, plan=plan,
        step_time_s=float(costs.step_time_s[0]), tokens_per_s=tokens_per_s,
        mfu=float(costs.mfu[0]), hfu=float(costs.hfu[0]),
        breakdown=breakdown,
        memory=memory, memory_per_device_bytes=float(costs.memory.total_bytes[0]), fits=bool(costs.fits[0]),
        extra=extra,
    )


def train(*, model: Model, chip: Chip, devices: int, seq_len: int = 4096,
          global_batch: int | None = None, global_batch_tokens=None, tokens=None,
          tp: int | None = None, pp: int | None = None, dp: int | None = None, cp: int | None = None,
          ep: int | None = None, etp: int | None = None, vpp: int | None = None, micro_batch: int | None = None,
          zero: int | None = None, recompute: str | None = None, precision: str | None = None,
          framework: Framework = Framework(), require_fit: bool = False, run: RunOptions | None = None,
          **job_options) -> TrainResult:
    """Estimate one training job under one parallel plan (degrees left out are filled in).

    ``require_fit=True`` raises DoesNotFit when the plan needs more memory than the chip has.
    """
    if isinstance(devices, bool) or not isinstance(devices, int) or devices <= 0:
        raise BadInput(f"--devices must be a positive whole number, got {devices}", "devices")
    if devices > MAX_DEVICES:
        raise BadInput(f"--devices {devices} is absurd (more than {MAX_DEVICES:,})", "devices")
    job = make_job(seq_len=seq_len, global_batch=global_batch, global_batch_tokens=global_batch_tokens,
                   tokens=tokens, framework=framework, precision=precision, **job_options)
    check_job_for_model(model, job)
    plan = resolve_plan(model, job, devices, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, etp=etp, vpp=vpp,
                        micro_batch=micro_batch, zero=zero, recompute=recompute, precision=precision)
    if job.distribute_saved_activations and (plan.recompute != "full" or plan.tp < 2):
        raise BadInput(f"--distribute-saved-activations splits the layer inputs full recompute saves over tensor "
                       f"parallelism; this plan has recompute {plan.recompute}, tp {plan.tp}: give --recompute full "
                       f"with --tp 2 or more, or drop it", "distribute_saved_activations")
    reason = framework_unsupported(framework, plan)
    if reason:
        raise BadInput(f"{reason}; choose another --framework or plan", "framework")
    result = estimate(model, chip, job, devices, plan, run if run is not None else RunOptions())
    if require_fit and not result.fits:
        raise DoesNotFit(result.not_fit_reason())
    return result
