"""The Python API: one function per command, returning result dataclasses.

The CLI and the web app are thin layers over these functions; they parse,
call once, and format. Inputs may be catalog ids or paths (chips, models) and
human quantities ("15T" tokens); everything returned is in canonical units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import load_chip, load_framework, load_model
from .cost.flops import active_params, model_flops_per_token, total_params
from .cost.step import BREAKDOWN_KEYS, step_costs
from .errors import BadInput, DoesNotFit
from .plan import ParallelPlan, PlanGrid, framework_unsupported, resolve_plan
from .specs import PLAN_MEMORY_MARGIN, Chip, Framework, Model, TrainJob
from .economics import CostInputs, cost_inputs_from_file, run_cost
from .reliability import CHECKPOINT_BYTES_PER_PARAM, RESTART_TIERS_S, ReliabilityInputs, reliability
from .units import HOUR, UnitError, format_bytes, parse_quantity

MEMORY_KEYS = ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes", "buffers_bytes")


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainResult:
    """One training estimate; ``to_dict`` gives the ``train --json`` object (DESIGN.md §3)."""

    model: Model
    chip: Chip
    job: TrainJob
    devices: int
    plan: ParallelPlan
    step_time_s: float
    tokens_per_s: float
    mfu: float
    hfu: float
    breakdown: dict[str, float]
    memory: dict[str, float]
    memory_per_device_bytes: float
    fits: bool
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_s_per_device(self) -> float:
        return self.tokens_per_s / self.devices

    @property
    def total_time_s(self) -> float | None:
        return None if self.job.tokens is None else self.job.tokens / self.tokens_per_s

    @property
    def device_hours(self) -> float | None:
        t = self.total_time_s
        return None if t is None else t * self.devices / HOUR

    def not_fit_reason(self) -> str:
        cap = self.chip.hbm_bytes * (1 - self.job.memory_margin)
        largest = max(MEMORY_KEYS, key=lambda k: self.memory[k]).removesuffix("_bytes")
        return (f"does not fit: needs {format_bytes(self.memory_per_device_bytes)} per device, "
                f"{self.chip.name} has {format_bytes(cap)} usable (largest part: {largest}); "
                "try more tp/pp, a higher --zero, --recompute full or a smaller --micro-batch")

    def to_dict(self) -> dict:
        return {
            "model": self.model.name,
            "chip": self.chip.name,
            "devices": self.devices,
            "seq_len": self.job.seq_len,
            "global_batch": self.job.global_batch,
            "tokens_per_step": self.job.tokens_per_step,
            "step_time_s": self.step_time_s,
            "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_device": self.tokens_per_s_per_device,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "model_flops_per_token": model_flops_per_token(self.model, self.job.seq_len),
            "memory_per_device_bytes": self.memory_per_device_bytes,
            "memory": dict(self.memory),
            "hbm_bytes": self.chip.hbm_bytes,
            "fits": self.fits,
            "tokens": self.job.tokens,
            "total_time_s": self.total_time_s,
            "device_hours": self.device_hours,
            "breakdown": dict(self.breakdown),
            "plan": self.plan.to_dict(),
            "framework": self.job.framework.name,
            "chip_confidence": self.chip.confidence,
            "efficiency_source": self.chip.efficiency.source,
            **self.extra,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOptions:
    """Reliability and cost settings of a run (parsed; defaults are reported in the output)."""

    failures_per_device_day: float | None = None
    """None: the chip's catalog rate"""
    checkpoint_bytes_per_s: float = 100e9
    """aggregate checkpoint write bandwidth (production fleets: 50-200 GB/s, reliability.md §3.2)"""
    async_checkpoint: bool = False
    checkpoint_interval_s: float | None = None
    restart_s: float = RESTART_TIERS_S["automated"]
    spares: int | None = None
    trials: int = 2000
    seed: int = 0
    costs: CostInputs = field(default_factory=CostInputs)


def run_options(*, failure_rate=None, checkpoint_bandwidth="100GB/s", async_checkpoint: bool = False,
                checkpoint_interval=None, restart_time=None, restart_tier: str = "automated", spares: int | None = None,
                trials: int = 2000,
                seed: int = 0, costs: str | None = None, **cost_flags) -> RunOptions:
    """Parse reliability and cost flags (human units allowed) into RunOptions."""
    def quantity(value, kind, name):
        try:
            return parse_quantity(value, kind)
        except UnitError as exc:
            raise BadInput(f"--{name}: {exc}", name.replace("-", "_")) from None

    if restart_tier not in RESTART_TIERS_S:
        raise BadInput(f"--restart-tier must be one of {', '.join(RESTART_TIERS_S)}, got {restart_tier!r}", "restart_tier")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BadInput(f"--seed must be a whole number >= 0, got {seed}", "seed")
    settings = cost_inputs_from_file(costs) if costs else {}
    settings.update({k: v for k, v in cost_flags.items() if v is not None and v is not False})
    try:
        cost_inputs = CostInputs(**settings)
    except TypeError as exc:
        raise BadInput(f"cost settings: {exc}", "costs") from None
    rate = None if failure_rate is None else quantity(failure_rate, "count", "failure-rate")
    if rate is not None and not 0 < rate < 1:
        raise BadInput(f"--failure-rate must be in (0, 1) failures per device-day, got {failure_rate}", "failure_rate")
    bandwidth = quantity(checkpoint_bandwidth, "bytes_per_s", "checkpoint-bandwidth")
    if not bandwidth > 0:
        raise BadInput(f"--checkpoint-bandwidth must be > 0, got {checkpoint_bandwidth}", "checkpoint_bandwidth")
    return RunOptions(
        failures_per_device_day=rate, checkpoint_bytes_per_s=bandwidth, async_checkpoint=async_checkpoint,
        checkpoint_interval_s=None if checkpoint_interval is None else quantity(checkpoint_interval, "seconds", "checkpoint-interval"),
        restart_s=RESTART_TIERS_S[restart_tier] if restart_time is None else quantity(restart_time, "seconds", "restart-time"),
        spares=spares, trials=trials, seed=seed, costs=cost_inputs,
    )


def run_outcome(model: Model, chip: Chip, devices: int, tokens: float, tokens_per_s: float, run: RunOptions) -> dict:
    """The ``reliability`` and ``cost`` blocks of a run of ``tokens`` at ``tokens_per_s`` (failure-free)."""
    rate = run.failures_per_device_day if run.failures_per_device_day is not None else chip.failures_per_device_day
    if rate is None:
        raise BadInput(f"chip {chip.name} has no failure rate; give --failure-rate", "failure_rate")
    inputs = ReliabilityInputs(
        devices=devices, failures_per_device_day=rate,
        checkpoint_bytes=CHECKPOINT_BYTES_PER_PARAM * total_params(model),
        checkpoint_bytes_per_s=run.checkpoint_bytes_per_s, restart_s=run.restart_s,
        async_checkpoint=run.async_checkpoint, checkpoint_interval_s=run.checkpoint_interval_s,
        domains=-(-devices // max(chip.scale_up_domain, 1)) if chip.domain_failures_per_day else 0,
        domain_failures_per_day=chip.domain_failures_per_day or 0.0, spares=run.spares)
    rel = reliability(inputs, tokens / tokens_per_s, trials=run.trials, seed=run.seed)
    return {"reliability": rel.to_dict(), "cost": run_cost(chip, devices, rel.total_time_s, tokens, run.costs)}


def _count(value, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = parse_quantity(value, "count")
    except UnitError as exc:
        raise BadInput(f"--{name.replace('_', '-')}: {exc}", name) from None
    if not number > 0:
        raise BadInput(f"--{name.replace('_', '-')} must be > 0, got {value}", name)
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


def make_job(*, seq_len: int = 4096, global_batch: int | None = None, global_batch_tokens=None, tokens=None,
             **options) -> TrainJob:
    """Build a TrainJob from CLI-style inputs ("16M" batch tokens, "15T" tokens)."""
    if not isinstance(seq_len, int) or seq_len <= 0:
        raise BadInput(f"--seq-len must be a positive whole number, got {seq_len}", "seq_len")
    if global_batch is not None and global_batch_tokens is not None:
        raise BadInput("give either --global-batch (sequences) or --global-batch-tokens, not both", "global_batch")
    if global_batch_tokens is not None:
        global_batch = _batch_sequences(global_batch_tokens, seq_len)
    if global_batch is None:
        global_batch = max(1, (4 * 2**20) // seq_len)  # 4M tokens, a common pre-training batch
    if not isinstance(global_batch, int) or global_batch <= 0:
        raise BadInput(f"--global-batch must be a positive whole number of sequences, got {global_batch}", "global_batch")
    return TrainJob(seq_len=seq_len, global_batch=global_batch, tokens=_count(tokens, "tokens"), **options)


def estimate(model: Model, chip: Chip, job: TrainJob, devices: int, plan: ParallelPlan,
             run: RunOptions | None = None) -> TrainResult:
    """Price one resolved plan (no input parsing; the core of ``train``); with ``run`` and a token
    budget, add the reliability and cost of the whole run."""
    chip.require("hbm_bytes", "hbm_bytes_per_s")
    costs = step_costs(model, chip, job, PlanGrid.from_plans([plan]), devices)
    memory = {k: float(getattr(costs.memory, k)[0]) for k in MEMORY_KEYS}
    notes = []
    if plan.precision == "fp8" and chip.peak_flops_per_s.get("fp8") is None:
        notes.append(f"{chip.name} has no published fp8 peak: GEMMs are priced at its bf16 peak")
    tokens_per_s = float(costs.tokens_per_s[0])
    extra = {"notes": notes}
    if run is not None and job.tokens is not None:
        extra |= run_outcome(model, chip, devices, job.tokens, tokens_per_s, run)
    return TrainResult(
        model=model, chip=chip, job=job, devices=devices, plan=plan,
        step_time_s=float(costs.step_time_s[0]), tokens_per_s=tokens_per_s,
        mfu=float(costs.mfu[0]), hfu=float(costs.hfu[0]),
        breakdown={k: float(costs.breakdown[k][0]) for k in BREAKDOWN_KEYS},
        memory=memory, memory_per_device_bytes=float(costs.memory.total_bytes[0]), fits=bool(costs.fits[0]),
        extra=extra,
    )


def train(*, model: str | Model, chip: str | Chip, devices: int, seq_len: int = 4096,
          global_batch: int | None = None, global_batch_tokens=None, tokens=None,
          tp: int | None = None, pp: int | None = None, dp: int | None = None, cp: int | None = None,
          ep: int | None = None, etp: int | None = None, vpp: int | None = None, micro_batch: int | None = None,
          zero: int | None = None, recompute: str | None = None, precision: str | None = None,
          framework: str | Framework = "megatron", require_fit: bool = False, run: RunOptions | None = None,
          **job_options) -> TrainResult:
    """Estimate one training job under one parallel plan (degrees left out are filled in).

    ``require_fit=True`` raises DoesNotFit when the plan needs more memory than the chip has.
    """
    model = model if isinstance(model, Model) else load_model(model)
    chip = chip if isinstance(chip, Chip) else load_chip(chip)
    if isinstance(devices, bool) or not isinstance(devices, int) or devices <= 0:
        raise BadInput(f"--devices must be a positive whole number, got {devices}", "devices")
    if devices > 10_000_000:
        raise BadInput(f"--devices {devices} is absurd (more than 10 million)", "devices")
    framework = framework if isinstance(framework, Framework) else load_framework(framework)
    job = make_job(seq_len=seq_len, global_batch=global_batch, global_batch_tokens=global_batch_tokens,
                   tokens=tokens, framework=framework, **job_options)
    plan = resolve_plan(model, job, devices, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, etp=etp, vpp=vpp,
                        micro_batch=micro_batch, zero=zero, recompute=recompute, precision=precision)
    reason = framework_unsupported(framework, plan)
    if reason:
        raise BadInput(f"{reason}; choose another --framework or plan", "framework")
    result = estimate(model, chip, job, devices, plan, run if run is not None else RunOptions())
    if require_fit and not result.fits:
        raise DoesNotFit(result.not_fit_reason())
    return result


def model_summary(model: Model) -> dict:
    """Parameter counts of a model (for catalog listings and reports)."""
    return {"params_total": total_params(model), "params_active": active_params(model)}


def parse_devices(text: str | int) -> list[int]:
    """``"1024"`` -> [1024]; ``"1024..16384"`` -> the powers of two from 1024 to 16384 (ends included)."""
    value = str(text).strip()
    try:
        if ".." not in value:
            counts = [int(value)]
        else:
            low, high = (int(v) for v in value.split("..", 1))
            if not 0 < low <= high:
                raise ValueError
            counts = sorted({low, high} | {1 << i for i in range(low.bit_length(), high.bit_length()) if low < 1 << i < high})
    except ValueError:
        raise BadInput(f"--devices must be a count (1024) or a range (1024..16384), got {text!r}", "devices") from None
    if counts[0] <= 0 or counts[-1] > 10_000_000:
        raise BadInput(f"--devices {text} is out of range (1 to 10 million)", "devices")
    return counts


@dataclass(frozen=True, kw_only=True)
class PlanResult:
    """The best plans for one device count, best first, and what the search covered."""

    plans: list[TrainResult]
    enumerated: int
    valid: int
    fitting: int
    objective: str

    def to_list(self) -> list[dict]:
        return [p.to_dict() for p in self.plans]


def plan(*, model: str | Model, chip: str | Chip, devices: int, seq_len: int = 4096,
         global_batch: int | None = None, global_batch_tokens=None, tokens=None, top: int = 5,
         objective: str = "time", precision: str = "bf16", allow_cross_domain_tp: bool = False,
         usd_per_device_hour: float | None = None, framework: str | Framework = "megatron",
         memory_margin: float = PLAN_MEMORY_MARGIN, run: RunOptions | None = None, **job_options) -> PlanResult:
    """Search every valid plan for one device count and return the best ``top`` as full estimates."""
    from .search import SearchSpace, search

    model = model if isinstance(model, Model) else load_model(model)
    chip = chip if isinstance(chip, Chip) else load_chip(chip)
    if not isinstance(top, int) or top < 1:
        raise BadInput(f"--top must be a whole number >= 1, got {top}", "top")
    if precision not in ("bf16", "fp16", "fp8"):
        raise BadInput(f"--precision must be bf16, fp16 or fp8, got {precision!r}", "precision")
    if usd_per_device_hour is not None and not 0 < usd_per_device_hour < 1000:
        raise BadInput(f"--usd-per-device-hour must be in (0, 1000), got {usd_per_device_hour}", "usd_per_device_hour")
    framework = framework if isinstance(framework, Framework) else load_framework(framework)
    job = make_job(seq_len=seq_len, global_batch=global_batch, global_batch_tokens=global_batch_tokens,
                   tokens=tokens, framework=framework, memory_margin=memory_margin, **job_options)
    price = usd_per_device_hour if usd_per_device_hour is not None else chip.usd_per_hour
    space = SearchSpace(allow_cross_domain_tp=allow_cross_domain_tp, precision=precision)
    found = search(model, chip, job, devices, space, objective, price)
    run = run if run is not None else RunOptions()
    best = [estimate(model, chip, job, devices, found.grid.plan(i), run) for i in range(min(top, len(found.grid)))]
    return PlanResult(plans=best, enumerated=found.enumerated, valid=found.valid, fitting=len(found.grid),
                      objective=objective)


def plan_range(*, counts: list[int], objective: str = "time", deadline=None, top: int = 5, **kwargs) -> list[TrainResult]:
    """Best plan at each device count, ordered by the objective (fastest, cheapest, or fewest devices in time).

    ``objective="devices"`` returns, first, the smallest count whose best plan finishes by ``deadline``.
    """
    if objective == "devices":
        if deadline is None or kwargs.get("tokens") is None:
            raise BadInput("--objective devices needs --deadline (e.g. 90d) and --tokens", "deadline")
        try:
            limit_s = parse_quantity(deadline, "seconds")
        except UnitError as exc:
            raise BadInput(f"--deadline: {exc}", "deadline") from None
        if limit_s <= 0:
            raise BadInput(f"--deadline must be > 0, got {deadline}", "deadline")
    best = []
    for n in counts:
        try:
            best.append(plan(devices=n, top=1, objective="cost" if objective == "cost" else "time", **kwargs).plans[0])
        except DoesNotFit:
            continue  # too few devices for this model: the next count may fit
    if not best:
        return list(plan(devices=counts[-1], top=1, **kwargs).plans)  # raises the reason for the largest count
    if objective == "devices":
        meeting = [r for r in best if r.total_time_s <= limit_s]
        if not meeting:
            fastest = min(best, key=lambda r: r.total_time_s)
            raise DoesNotFit(f"no device count in {counts[0]}..{counts[-1]} meets the deadline: the fastest takes "
                             f"{fastest.total_time_s / 86400:.1f} days on {fastest.devices} devices")
        return sorted(meeting, key=lambda r: r.devices) + [r for r in best if r not in meeting]
    if objective == "cost":
        return sorted(best, key=lambda r: r.step_time_s * r.devices / r.job.tokens_per_step)
    return sorted(best, key=lambda r: r.step_time_s)


def _serve_plan(model: Model, chip: Chip, devices: int, tp, pp, dp, ep, precision: str, kv_precision: str,
                engine: str = "trt-llm"):
    """Fill the serving degrees left out: tp as large as one scale-up domain and the heads allow."""
    from .inference import ServePlan

    for name, value in (("tp", tp), ("pp", pp), ("dp", dp), ("ep", ep)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise BadInput(f"--{name} must be a whole number >= 1, got {value}", name)
    pp = pp or 1
    if tp is None:
        rest = devices // (pp * (dp or 1)) if devices % (pp * (dp or 1)) == 0 else 1
        tp = max(t for t in (1, 2, 4, 8, 16, 32, 64) if t <= max(chip.scale_up_domain, 1) and rest % t == 0
                 and model.heads % t == 0)
    if dp is None:
        if devices % (tp * pp):
            raise BadInput(f"invalid plan: --devices {devices} is not divisible by tp*pp = {tp * pp}", "devices")
        dp = devices // (tp * pp)
    return ServePlan(tp=tp, pp=pp, dp=dp, ep=ep or 1, precision=precision, kv_precision=kv_precision, engine=engine)


def inference(*, model: str | Model, chip: str | Chip, devices: int | None = None, input_len: int = 1024,
              output_len: int = 1024, tp: int | None = None, pp: int | None = None, dp: int | None = None,
              ep: int | None = None, precision: str = "bf16", kv_precision: str | None = None,
              concurrency: int | None = None, request_rate: float | None = None, memory_margin: float = 0.0,
              usd_per_device_hour: float | None = None, seed: int = 0, prefill_devices: int | None = None,
              decode_devices: int | None = None, prefill_chip: str | None = None, decode_chip: str | None = None,
              engine: str = "trt-llm"):
    """Estimate serving: one configuration, or a disaggregated prefill/decode pair (returns a dict then)."""
    from .inference import disaggregated, serve

    model = model if isinstance(model, Model) else load_model(model)
    chip = chip if isinstance(chip, Chip) else load_chip(chip)
    kv_precision = kv_precision or ("fp8" if precision in ("fp8", "fp4") else "bf16")
    for name, value in (("input_len", input_len), ("output_len", output_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInput(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value}", name)
    if input_len + output_len > 10_000_000:
        raise BadInput(f"--input-len + --output-len = {input_len + output_len} tokens is absurd", "input_len")
    if concurrency is not None and request_rate is not None:
        raise BadInput("give either --concurrency (closed loop) or --request-rate (open loop), not both", "concurrency")
    if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
        raise BadInput(f"--concurrency must be a whole number >= 1, got {concurrency}", "concurrency")
    if request_rate is not None and not 0 < request_rate < 1e6:
        raise BadInput(f"--request-rate must be > 0 requests/s, got {request_rate}", "request_rate")
    if prefill_devices or decode_devices:
        if not (prefill_devices and decode_devices):
            raise BadInput("disaggregated serving needs both --prefill-devices and --decode-devices", "prefill_devices")
        p_chip = load_chip(prefill_chip) if prefill_chip else chip
        d_chip = load_chip(decode_chip) if decode_chip else chip
        p_plan = _serve_plan(model, p_chip, prefill_devices, None, None, None, None, precision, kv_precision, engine)
        d_plan = _serve_plan(model, d_chip, decode_devices, tp, pp, dp, ep, precision, kv_precision, engine)
        links = [c.scale_out_bytes_per_s for c in (p_chip, d_chip) if c.scale_out_bytes_per_s]
        if not links:
            raise BadInput("neither pool's chip has a published NIC bandwidth for the KV transfer", "chip")
        return disaggregated(model, (p_chip, p_plan, prefill_devices), (d_chip, d_plan, decode_devices),
                             input_len, output_len, concurrency, min(links) * p_plan.tp)
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise BadInput(f"--devices must be a positive whole number, got {devices}", "devices")
    plan = _serve_plan(model, chip, devices, tp, pp, dp, ep, precision, kv_precision, engine)
    return serve(model, chip, plan, devices, input_len, output_len, concurrency=concurrency,
                 request_rate=request_rate, memory_margin=memory_margin, usd_per_device_hour=usd_per_device_hour,
                 seed=seed)


def inference_search(*, model: str | Model, chips: list[str], input_len: int, output_len: int, slo_ttft,
                     slo_tpot, precision: str = "bf16", kv_precision: str | None = None,
                     usd_per_device_hour: float | None = None) -> list:
    """The cheapest configuration per chip that meets both SLOs, chips side by side (best first)."""
    from .inference import search_slo

    model = model if isinstance(model, Model) else load_model(model)
    try:
        ttft_s, tpot_s = parse_quantity(slo_ttft, "seconds"), parse_quantity(slo_tpot, "seconds")
    except UnitError as exc:
        raise BadInput(f"--slo-ttft/--slo-tpot: {exc}", "slo") from None
    if not (ttft_s > 0 and tpot_s > 0):
        raise BadInput("--slo-ttft and --slo-tpot must be > 0", "slo")
    kv_precision = kv_precision or ("fp8" if precision in ("fp8", "fp4") else "bf16")
    best = []
    for name in chips:
        chip = load_chip(name)
        try:
            best.append(search_slo(model, chip, input_len, output_len, ttft_s, tpot_s, precision, kv_precision,
                                   usd_per_device_hour=usd_per_device_hour)[0])
        except (DoesNotFit, BadInput) as exc:
            if len(chips) == 1:
                raise
            best.append(exc)
    found = [b for b in best if not isinstance(b, Exception)]
    if not found:
        raise DoesNotFit(f"no chip meets the SLO: {best[0]}")
    return sorted(found, key=lambda r: (r.usd_per_million_output_tokens is None, r.usd_per_million_output_tokens or 0,
                                        -r.output_tokens_per_s / r.devices)) + [b for b in best if isinstance(b, Exception)]
