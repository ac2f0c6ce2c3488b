"""Plans: how a training job or a serving deployment is split over devices, and which splits are valid.

``ParallelPlan`` is one training plan as a user writes it; ``PlanGrid`` is many plans as
numpy arrays, the form the cost model consumes. ``resolve_plan`` fills the
degrees a user left out and ``validity`` gives, for a grid, a boolean mask and
the reason each invalid plan fails (``RULES``, the one list). ``ServePlan`` is one
serving deployment, ``resolve_serve_plan`` and ``check_serve_plan`` its twins.
``tp_candidates`` is the one list of tensor-parallel degrees every search tries.

Mesh order, innermost first: tp, cp, ep (carved from dp), dp, pp — as in
Megatron-LM, so tp groups are contiguous devices and pp groups the sparsest.
Expert layers have their own order, etp, ep, expert-dp over the same tp*cp*dp
devices (Megatron-Core's MoE parallel folding): with etp = tp it is the order
above; with etp < tp the expert groups take in the rest of tp.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np

from .errors import BadInput
from .specs import KV_BYTES, RECOMPUTE, ROOFLINE, WEIGHT_FORMATS, Chip, Framework, Model, ServeEngine, TrainJob
from .specs.serving import WEIGHT_ONLY

PRECISIONS = ("bf16", "fp16", "fp8")
"""GEMM precisions of a training plan"""


def tp_candidates(model: Model, limit: int, divides: int | None = None) -> list[int]:
    """Tensor-parallel degrees every search tries: the powers of two up to ``limit`` (a scale-up domain, or the
    devices) that split the model's heads, and divide ``divides`` when given."""
    powers = (1 << i for i in range(max(int(limit), 1).bit_length()))
    return [t for t in powers if model.heads % t == 0 and (divides is None or divides % t == 0)]


@dataclass(frozen=True, kw_only=True, slots=True)
class Degrees:
    """The degrees a training plan and a serving plan share."""

    tp: int = 1
    """tensor-parallel degree (with sequence parallelism when > 1 in training)"""
    pp: int = 1
    """pipeline-parallel stages"""
    dp: int = 1
    """data-parallel replicas (in serving: independent replicas)"""
    ep: int = 1
    """expert-parallel degree (in serving: across the tp * dp devices, attention data-parallel, experts sharded)"""
    precision: str = "bf16"
    """GEMM precision (training: bf16 | fp16 | fp8; serving: the weights' format, see ``WEIGHT_FORMATS``)"""


PLAN_KEYS = ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "micro_batch", "zero", "recompute", "precision")


@dataclass(frozen=True, kw_only=True, slots=True)
class ParallelPlan(Degrees):
    """One parallel plan; every degree filled in after :func:`resolve_plan`."""

    cp: int = 1
    """context-parallel degree (ring attention over the sequence)"""
    etp: int | None = None
    """expert tensor-parallel degree: how many ways each expert's weights are split. None (the default) means tp,
    with ep carved from dp * cp; a smaller value that divides tp folds the rest of tp into the expert groups (Megatron-
    Core's MoE parallel folding, ``--expert-tensor-parallel-size``), so ep * etp divides tp * dp * cp"""
    vpp: int = 1
    """virtual pipeline stages per device (interleaved 1F1B when > 1)"""
    micro_batch: int = 1
    """sequences per micro-batch"""
    zero: int = 1
    """0 none, 1 distributed optimizer (ZeRO-1), 2 + gradients, 3 + weights (FSDP)"""
    recompute: str = "selective"
    """activation recompute: none | selective | full"""

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    @property
    def expert_tp(self) -> int:
        return self.tp if self.etp is None else self.etp

    def to_dict(self) -> dict:
        """Every degree, in mesh order (the ``plan`` object of ``train --json``)."""
        return {k: self.expert_tp if k == "etp" else getattr(self, k) for k in PLAN_KEYS}


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanGrid:
    """Plans as parallel numpy arrays (one entry per plan)."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    vpp: np.ndarray
    micro_batch: np.ndarray
    zero: np.ndarray
    recompute: np.ndarray
    """0 none, 1 selective, 2 full"""
    fp8: np.ndarray
    """1 where GEMMs run in fp8"""
    etp: np.ndarray = None
    """expert tensor-parallel degree (tp where not given)"""

    def __post_init__(self) -> None:
        if self.etp is None:
            object.__setattr__(self, "etp", np.array(self.tp, copy=True))

    @classmethod
    def from_plans(cls, plans: list[ParallelPlan]) -> PlanGrid:
        def col(get):
            return np.array([get(p) for p in plans], dtype=np.int64)

        return cls(
            tp=col(lambda p: p.tp), pp=col(lambda p: p.pp), dp=col(lambda p: p.dp), cp=col(lambda p: p.cp),
            ep=col(lambda p: p.ep), vpp=col(lambda p: p.vpp), micro_batch=col(lambda p: p.micro_batch),
            zero=col(lambda p: p.zero), recompute=col(lambda p: RECOMPUTE.index(p.recompute)),
            fp8=col(lambda p: int(p.precision == "fp8")), etp=col(lambda p: p.expert_tp),
        )

    def __len__(self) -> int:
        return int(self.tp.shape[0])

    def plan(self, i: int) -> ParallelPlan:
        """The i-th plan as a ParallelPlan."""
        return ParallelPlan(
            tp=int(self.tp[i]), pp=int(self.pp[i]), dp=int(self.dp[i]), cp=int(self.cp[i]), ep=int(self.ep[i]),
            vpp=int(self.vpp[i]), micro_batch=int(self.micro_batch[i]), zero=int(self.zero[i]),
            recompute=RECOMPUTE[int(self.recompute[i])], precision="fp8" if self.fp8[i] else "bf16",
            etp=None if self.etp[i] == self.tp[i] else int(self.etp[i]),
        )

    def microbatches(self, job: TrainJob) -> np.ndarray:
        """Micro-batches per optimizer step per replica: global sequences / (dp * micro_batch)."""
        return job.global_sequences // (self.dp * self.micro_batch)


def validity(model: Model, job: TrainJob, devices: int, g: PlanGrid) -> tuple[np.ndarray, np.ndarray]:
    """A mask of valid plans and, per plan, the index into ``RULES`` of the first rule broken (-1 if none)."""
    moe = model.moe
    checks = [
        g.tp * g.pp * g.dp * g.cp == devices,
        model.heads % g.tp == 0,
        (model.kv_heads % g.tp == 0) | (g.tp % model.kv_heads == 0) | (model.attention == "mla"),
        g.pp <= model.layers,
        (g.vpp == 1) | ((g.pp > 1) & (model.layers >= g.pp * g.vpp)),
        job.global_sequences % (g.dp * g.micro_batch) == 0,
        (g.vpp == 1) | ((job.global_sequences // np.maximum(g.dp * g.micro_batch, 1)) % g.pp == 0),
        job.seq_len % g.cp == 0,
        ((g.ep == 1) & (g.etp == g.tp)) if moe is None else (
            (g.tp % g.etp == 0) & ((g.tp * g.dp * g.cp) % (g.etp * g.ep) == 0) & (moe.experts % g.ep == 0)),
        (g.zero >= 0) & (g.zero <= 3),
        (job.zero_shard == 0) | ((g.dp * g.cp) % np.maximum(np.minimum(job.zero_shard, g.dp * g.cp), 1) == 0),
    ]
    ok = np.ones(len(g), dtype=bool)
    first_bad = np.full(len(g), -1, dtype=np.int64)
    for i, check in enumerate(checks):
        bad = ok & ~np.broadcast_to(check, ok.shape)
        first_bad[bad] = i
        ok &= ~bad
    return ok, first_bad


RULES = (
    "tp*pp*dp*cp must equal the device count",
    "heads must be divisible by tp",
    "kv_heads and tp must divide one another",
    "pp must not exceed the layer count",
    "vpp > 1 needs pp > 1 and layers >= pp*vpp",
    "global batch must be divisible by dp*micro_batch",
    "interleaved pipeline (vpp > 1) needs the micro-batch count divisible by pp",
    "seq_len must be divisible by cp",
    "ep*etp must divide tp*dp*cp, etp must divide tp, ep the expert count (both only for MoE models)",
    "zero must be 0, 1, 2 or 3",
    "the ZeRO shard group (--zero-shard) must divide dp*cp",
)


def _expert_rule(model: Model, p: ParallelPlan) -> str:
    if model.moe is None:
        what = f"ep={p.ep}" if p.ep > 1 else f"etp={p.expert_tp}"
        return f"{what} needs a MoE model; {model.name} is dense"
    if model.moe.experts % p.ep:
        return f"ep={p.ep} does not divide the {model.moe.experts} experts"
    if p.tp % p.expert_tp:
        return f"etp={p.expert_tp} does not divide tp={p.tp}"
    return (f"ep*etp = {p.ep}*{p.expert_tp} does not divide tp*dp*cp = {p.tp * p.dp * p.cp}; "
            "use a smaller ep, or --etp 1 to fold tp into the expert groups")


def _nearest(batch: int, unit: int) -> str:
    below, above = max(batch // unit * unit, unit), (batch // unit + 1) * unit
    return f"--global-batch {below} or {above}" if below != above else f"--global-batch {below}"


def _batch_unit(sequences: int, job: TrainJob) -> int:
    """The step of valid --global-batch values (in samples) when each step's sequences must divide by ``sequences``."""
    return sequences // math.gcd(sequences, job.sequences_per_sample)


def _nearest_divisors(n: int, near: int) -> str:
    """The divisors of ``n`` just below and above ``near``, as --zero-shard values."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    below = max((d for d in divisors if d <= near), default=1)
    above = min((d for d in divisors if d >= near), default=n)
    return " or ".join(f"--zero-shard {d}" for d in sorted({below, above}))


def _explain(rule: int, model: Model, job: TrainJob, devices: int, p: ParallelPlan) -> str:
    m = job.global_sequences // max(p.dp * p.micro_batch, 1)
    pairs = " sequences (2 a DPO pair)" if job.sequences_per_sample > 1 else ""
    detail = {
        0: f"tp*pp*dp*cp = {p.tp}*{p.pp}*{p.dp}*{p.cp} = {p.devices}, but --devices is {devices}",
        1: f"heads={model.heads} is not divisible by tp={p.tp}",
        2: f"kv_heads={model.kv_heads} and tp={p.tp} do not divide one another",
        3: f"pp={p.pp} exceeds the model's {model.layers} layers",
        4: f"vpp={p.vpp} needs pp > 1 and layers={model.layers} >= pp*vpp={p.pp * p.vpp}",
        5: f"global batch {job.global_sequences}{pairs} is not divisible by dp*micro_batch = {p.dp}*{p.micro_batch}; "
           f"the nearest that are: {_nearest(job.global_batch, _batch_unit(p.dp * p.micro_batch, job))}",
        6: f"interleaved pipeline needs micro-batches ({m}) divisible by pp={p.pp}",
        7: f"seq_len={job.seq_len} is not divisible by cp={p.cp}",
        8: _expert_rule(model, p),
        9: f"zero={p.zero} is not one of 0, 1, 2, 3",
        10: f"--zero-shard {job.zero_shard} does not divide dp*cp = {p.dp * p.cp}; the nearest that do: "
            f"{_nearest_divisors(p.dp * p.cp, job.zero_shard)}",
    }[rule]
    return f"invalid plan: {detail}"


def resolve_plan(model: Model, job: TrainJob, devices: int, **given: int | str | None) -> ParallelPlan:
    """Fill the degrees left out (None) and check the plan; BadInput names the numbers on failure.

    dp defaults to devices / (tp * pp * cp); other degrees default to 1,
    micro_batch to 1, zero to 1, recompute to selective, precision to bf16.
    """
    if devices <= 0:
        raise BadInput(f"--devices must be a positive whole number, got {devices}", "devices")
    values = {k: v for k, v in given.items() if v is not None}
    for key in ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "micro_batch"):
        if key in values and (not isinstance(values[key], int) or values[key] < 1):
            raise BadInput(f"--{key.replace('_', '-')} must be a whole number >= 1, got {values[key]}", key)
    if values.get("recompute", "selective") not in RECOMPUTE:
        raise BadInput(f"--recompute must be one of {', '.join(RECOMPUTE)}, got {values['recompute']!r}", "recompute")
    if values.get("precision", "bf16") not in PRECISIONS:
        raise BadInput(f"--precision must be one of {', '.join(PRECISIONS)}, got {values['precision']!r}", "precision")
    if values.get("zero", 1) not in (0, 1, 2, 3):
        raise BadInput(f"--zero must be 0, 1, 2 or 3, got {values['zero']}", "zero")
    if "dp" not in values:
        rest = values.get("tp", 1) * values.get("pp", 1) * values.get("cp", 1)
        if devices % rest:
            raise BadInput(f"invalid plan: --devices {devices} is not divisible by tp*pp*cp = {rest}", "devices")
        values["dp"] = devices // rest
    if values.get("etp") == values.get("tp", 1):
        values.pop("etp")  # etp = tp is the default layout
    plan = ParallelPlan(**values)
    ok, bad = validity(model, job, devices, PlanGrid.from_plans([plan]))
    if not ok[0]:
        raise BadInput(_explain(int(bad[0]), model, job, devices, plan), "plan")
    return plan


FRAMEWORK_AXES = ("tp", "pp", "cp", "vpp", "ep", "zero", "recompute")


def framework_violations(framework: Framework, a: dict) -> list[tuple[np.ndarray, str, tuple[str, ...]]]:
    """Each limit of ``framework`` over plan arrays ``a`` (the keys of FRAMEWORK_AXES; recompute as an index of
    RECOMPUTE): (mask of the plans that break it, what the framework supports, the plan fields that break it).
    The search masks and ``framework_unsupported`` share this one list."""
    checks = []
    for axis in ("tp", "pp", "cp", "vpp", "ep"):
        limit = getattr(framework, f"max_{axis}")
        checks.append((a[axis] > limit, f"no {axis}" if limit == 1 else f"{axis} up to {limit}", (axis,)))
    checks.append((~np.isin(a["zero"], framework.zero_stages), f"zero {', '.join(map(str, framework.zero_stages))}",
                   ("zero",)))
    if framework.zero_stages_with_pp is not None:
        checks.append(((a["pp"] > 1) & ~np.isin(a["zero"], framework.zero_stages_with_pp),
                       f"zero {', '.join(map(str, framework.zero_stages_with_pp))} with pipeline parallelism",
                       ("zero", "pp")))
    allowed = [RECOMPUTE.index(mode) for mode in framework.recompute_modes]
    checks.append((~np.isin(a["recompute"], allowed), f"recompute {', '.join(framework.recompute_modes)}",
                   ("recompute",)))
    return checks


def framework_allows(framework: Framework, a: dict) -> np.ndarray:
    """Mask of the plans in arrays ``a`` that ``framework`` can run."""
    return ~np.logical_or.reduce([bad for bad, _, _ in framework_violations(framework, a)])


def framework_unsupported(framework: Framework, plan: ParallelPlan) -> str | None:
    """Why ``plan`` cannot run under ``framework``, or None."""
    a = {axis: np.array([getattr(plan, axis)]) for axis in FRAMEWORK_AXES if axis != "recompute"}
    a["recompute"] = np.array([RECOMPUTE.index(plan.recompute)])
    for bad, what, fields in framework_violations(framework, a):
        if bad[0]:
            has = " and ".join(f"{name}={getattr(plan, name)}" for name in fields)
            return f"framework {framework.name} supports {what}, the plan has {has}"
    return None


# ------------------------------------------------------------------------------------------------ serving

@dataclass(frozen=True, kw_only=True, slots=True)
class ServePlan(Degrees):
    """How a model is served on a set of devices."""

    kv_precision: str = "bf16"
    """KV-cache precision (``KV_BYTES``)"""
    engine: ServeEngine = ROOFLINE
    """serving-engine profile (catalog/serving): how close its kernels come to the roofline"""

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp

    def to_dict(self) -> dict:
        return {"tp": self.tp, "pp": self.pp, "dp": self.dp, "ep": self.ep, "precision": self.precision,
                "kv_precision": self.kv_precision, "engine": self.engine.name}


def check_serve_plan(model: Model, chip: Chip, plan: ServePlan, devices: int) -> None:
    """Raise BadInput naming the numbers when the plan cannot serve the model on this chip."""
    if plan.devices != devices:
        raise BadInput(f"invalid plan: tp*pp*dp = {plan.tp}*{plan.pp}*{plan.dp} = {plan.devices}, but --devices is {devices}", "devices")
    if model.heads % plan.tp:
        raise BadInput(f"invalid plan: heads={model.heads} is not divisible by tp={plan.tp}", "tp")
    if plan.pp > model.layers:
        raise BadInput(f"invalid plan: pp={plan.pp} exceeds the model's {model.layers} layers", "pp")
    if plan.ep > 1 and (model.moe is None or model.moe.experts % plan.ep or (plan.tp * plan.dp) % plan.ep
                        or (plan.ep < plan.tp and plan.tp % plan.ep)):
        inside = f", and below tp={plan.tp} it must divide tp (each expert splits over tp/ep devices)" \
            if plan.ep < plan.tp else ""
        raise BadInput(f"invalid plan: ep={plan.ep} needs a MoE model whose experts and tp*dp it divides{inside}", "ep")
    if plan.precision not in WEIGHT_FORMATS:
        raise BadInput(f"--precision must be one of {', '.join(WEIGHT_FORMATS)}, got {plan.precision!r}", "precision")
    if plan.kv_precision not in KV_BYTES:
        raise BadInput(f"--kv-precision must be one of {', '.join(KV_BYTES)}, got {plan.kv_precision!r}", "kv_precision")
    needs = WEIGHT_FORMATS[plan.precision][2]
    if needs and chip.peak_flops_per_s.get(needs) is None:
        raise BadInput(f"{chip.name} has no {needs} support in the catalog; use --precision bf16 or int4 (weight-only)", "precision")


def resolve_serve_plan(model: Model, chip: Chip, devices: int, tp=None, pp=None, dp=None, ep=None,
                       precision: str = "bf16", kv_precision: str = "bf16", engine: ServeEngine = ROOFLINE,
                       attention_dp: int | None = None) -> ServePlan:
    """Fill the serving degrees left out: tp as large as one scale-up domain and the heads allow. With
    ``attention_dp`` the degrees are an engine instance's as SGLang (``--tp-size`` with ``--attn-dp-size``) and
    TensorRT-LLM (``--tp`` with ``enable_attention_dp``) state them, translated by :func:`attention_dp_degrees`."""
    engine.check_runs_on(chip)
    for name, value in (("tp", tp), ("pp", pp), ("dp", dp), ("ep", ep), ("attention_dp", attention_dp)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise BadInput(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value}", name)
    pp = pp or 1
    if tp is None:
        rest = devices // (pp * (dp or 1)) if devices % (pp * (dp or 1)) == 0 else 1
        tp = max(tp_candidates(model, chip.scale_up_domain, divides=rest))
    if dp is None:
        if devices % (tp * pp):
            raise BadInput(f"invalid plan: --devices {devices} is not divisible by tp*pp = {tp * pp}", "devices")
        dp = devices // (tp * pp)
    if attention_dp is not None:
        tp, dp, ep = attention_dp_degrees(model, tp, dp, ep, attention_dp)
    return ServePlan(tp=tp, pp=pp, dp=dp, ep=ep or 1, precision=served_precision(chip, precision),
                     kv_precision=kv_precision, engine=engine.for_chip(chip))


def attention_dp_degrees(model: Model, tp: int, dp: int, ep: int | None, attention_dp: int) -> tuple[int, int, int]:
    """An engine instance of ``tp`` devices whose attention runs data-parallel (SGLang ``--tp-size T --attn-dp-size
    D``, or ``--dp-size D --enable-dp-attention`` before 0.5.23; TensorRT-LLM ``--tp T`` with ``enable_attention_dp``,
    D = T) as xpuplan's degrees: attention (and the dense layers) on tp / D devices, D times as many attention
    replicas, each with its own batch and KV cache, and the experts over ``ep`` devices (default: the instance's tp,
    where the engines shard them across the instance). (tp, dp, ep) -> (tp / D, dp x D, ep or tp)."""
    if model.moe is None:
        raise BadInput(f"--attention-dp shares a MoE model's experts between attention replicas; {model.name} is "
                       "dense, so attention DP is plain replicas: use --dp instead", "attention_dp")
    if tp % attention_dp:
        raise BadInput(f"--attention-dp {attention_dp} must divide --tp {tp} (the engine instance's devices; "
                       f"attention runs on --tp / --attention-dp of them)", "attention_dp")
    return tp // attention_dp, dp * attention_dp, ep or tp


def served_precision(chip: Chip, precision: str) -> str:
    """The weight format a quantised checkpoint runs in on ``chip``: its own where the chip has the math for it,
    else weight-only (``w4a16``/``w8a16``: stored at its width, dequantised in the kernel, bf16 math), as engines run
    FP8 or MXFP4 checkpoints on chips without that math."""
    if precision not in WEIGHT_FORMATS:
        return precision  # check_serve_plan names the choices
    width, _, needs = WEIGHT_FORMATS[precision]
    return WEIGHT_ONLY[width] if needs and chip.peak_flops_per_s.get(needs) is None else precision
