"""What a launch file needs to know, read from a result or from its ``--json`` object.

:class:`TrainLaunch` is a training plan with every degree filled in, its batch and the job options that set flags
(overlap, expert dispatch, gradient dtype, offload, shard groups); :class:`ServeLaunch` is a serving deployment with
its engine's scheduler limits. Both come from a result (:func:`from_result`) or from the ``train --json``,
``plan --json`` or ``inference --json`` object a user kept (:func:`from_json`), where every field is checked and a
bad one is one BadInput line naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import BadInput, XpuplanError
from ..plan import PRECISIONS, ParallelPlan
from ..specs import Model, ServeEngine
from ..specs.framework import OPTIMIZER_STATES
from ..specs.serving import KV_BYTES, WEIGHT_FORMATS, Speculative

RECOMPUTE_MODES = ("none", "selective", "full")


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainLaunch:
    """A training plan as a launch file states it."""

    model_name: str
    """the model's catalog name (or its file's)"""
    model: Model | None
    """the model's shape, when the name is in the catalog (layer counts, heads, experts)"""
    devices: int
    """world size"""
    plan: ParallelPlan
    """every degree filled in"""
    seq_len: int
    """tokens per sequence"""
    global_batch: int
    """sequences per optimizer step"""
    tokens: float | None = None
    """token budget of the run (sets the step count)"""
    framework: str = "megatron"
    """framework profile the estimate used"""
    task: str = "pretrain"
    """pretrain, sft, lora, qlora or dpo"""
    tp_overlap: float = 0.0
    """fraction of TP communication hidden (0: no TP overlap)"""
    dp_overlap: bool = True
    """gradient reduce (and parameter gather) overlapped with compute"""
    ep_overlap: float = 0.0
    """share of the expert all-to-all hidden behind another micro-batch"""
    ep_dedup: bool = False
    """expert dispatch sends a token once per node (DeepEP, HybridEP)"""
    moe_grouped_gemm: bool = True
    """a MoE layer's local experts in one grouped GEMM (False: a loop of per-expert GEMMs)"""
    grad_accumulation_fusion: bool = True
    """weight-gradient GEMMs accumulate into the main gradients (False: a backward hook adds them)"""
    grad_reduce: str | None = None
    """gradient accumulation and reduction dtype: fp32, bf16 or None (the framework's)"""
    optimizer_state: str = "fp32"
    """Adam's state precision the estimate priced (``specs.OPTIMIZER_STATES``)"""
    offload_layers: int = 0
    """layers per stage whose activations wait in host memory"""
    zero_shard: int = 0
    """data-parallel ranks one shard group spans (0: all)"""

    @property
    def grad_accum(self) -> int:
        """micro-batches each data-parallel rank runs per step"""
        return max(self.global_batch // (self.plan.micro_batch * self.plan.dp), 1)

    @property
    def train_iters(self) -> int | None:
        """optimizer steps of the whole run, when its tokens are known"""
        return None if not self.tokens else math.ceil(self.tokens / (self.global_batch * self.seq_len))


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeLaunch:
    """A serving deployment as a launch command states it."""

    model_name: str
    model: Model | None
    devices: int
    tp: int
    pp: int
    dp: int
    """replicas (with ep > 1: attention data-parallel groups)"""
    ep: int
    precision: str
    """weights: bf16, fp16, fp8, int8, int4, fp4"""
    kv_precision: str
    input_len: int
    output_len: int
    concurrency: int
    """sequences in flight over all replicas"""
    engine: ServeEngine | None = None
    """the engine profile priced (scheduler limits, memory share)"""
    speculative: Speculative | None = None

    @property
    def max_seqs(self) -> int:
        """sequences one replica's scheduler runs at once"""
        return max(math.ceil(self.concurrency / self.dp), 1)


def from_result(result) -> TrainLaunch | ServeLaunch:
    """The launch facts of a TrainResult or a ServeResult."""
    if hasattr(result, "job"):
        job = result.job
        for name, given in (("remat_saved", job.remat_saved), ("remat_offloaded", job.remat_offloaded),
                            ("vocab_tiles", job.vocab_tiles > 1)):
            if given:  # MaxText's options: no launch format here has a flag for them
                raise BadInput(f"--{name.replace('_', '-')} is MaxText's (remat_policy custom, num_vocab_tiling) and no "
                               "training launch format here (megatron, mindspeed, torchtitan, deepspeed) sets it: "
                               "drop it to export, and set it in MaxText's config yourself", name)
        if job.distribute_saved_activations:  # the formats here write sequence parallelism, which already splits them
            raise BadInput("--distribute-saved-activations prices a job without sequence parallelism, and the training "
                           "launch formats here (megatron, mindspeed, torchtitan, deepspeed) write their own layout "
                           "of the layer inputs: drop it to export, and pass Megatron-LM's --distribute-saved-"
                           "activations (metaseq's --distribute-checkpointed-activations) yourself",
                           "distribute_saved_activations")
        return TrainLaunch(model_name=result.model.name, model=result.model, devices=result.devices, plan=result.plan,
                           seq_len=job.seq_len, global_batch=job.global_batch, tokens=job.tokens,
                           framework=job.framework.name, task=job.task, tp_overlap=job.tp_overlap,
                           dp_overlap=job.dp_overlap, ep_overlap=job.ep_overlap, ep_dedup=job.ep_dedup,
                           moe_grouped_gemm=job.grouped_experts, grad_accumulation_fusion=job.accumulation_fused,
                           grad_reduce=job.grad_reduce, optimizer_state=job.optimizer_state_name,
                           offload_layers=job.offload_layers, zero_shard=job.zero_shard)
    if not hasattr(result, "ttft_s") or not hasattr(result, "plan"):
        raise BadInput("export takes one training or one serving plan; a disaggregated or two-pool plan has no single "
                       "launch file", "format")
    p = result.plan
    return ServeLaunch(model_name=result.model.name, model=result.model, devices=result.devices, tp=p.tp, pp=p.pp,
                       dp=p.dp, ep=p.ep, precision=p.precision, kv_precision=p.kv_precision,
                       input_len=result.input_len, output_len=result.output_len, concurrency=result.concurrency,
                       engine=p.engine, speculative=p.engine.speculative)


# --------------------------------------------------------------------------------------------- from --json

def pick_entry(data: Any, pick: int, where: str) -> dict:
    """One result object from a ``--json`` file: the object itself, or entry ``pick`` (1 = first) of a list."""
    if isinstance(data, list):
        if not data:
            raise BadInput(f"{where}: the list holds no plans", "source")
        if not 1 <= pick <= len(data):
            raise BadInput(f"{where}: --pick {pick} is out of range: the list holds {len(data)} plans", "pick")
        data, where = data[pick - 1], f"{where} entry {pick}"
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a `train`, `plan` or `inference` --json object, got {type(data).__name__}",
                       "source")
    if "error" in data and "plan" not in data:
        raise BadInput(f"{where}: holds an error, not a plan ({str(data['error'])[:120]}); choose another with --pick",
                       "pick")
    if "prefill" in data or "pools" in data or "plans" in data:
        raise BadInput(f"{where}: a disaggregated or two-pool plan has no single launch file; export each pool's "
                       "plan with the flags", "source")
    if not isinstance(data.get("plan"), dict):
        raise BadInput(f"{where}: no 'plan' object; give the output of `xpuplan train|plan|inference --json`",
                       "source")
    return data


def _number(data: dict, key: str, where: str, *, whole: bool = True, minimum: float = 1, optional: bool = False):
    value = data.get(key)
    if value is None and optional:
        return None
    ok = isinstance(value, int) if whole else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or value < minimum or (not whole and not math.isfinite(value)):
        kind = "a whole number" if whole else "a number"
        raise BadInput(f"{where}: '{key}' must be {kind} >= {minimum:g}, got {value!r}", key)
    return value


def _choice(data: dict, key: str, allowed, where: str) -> str:
    value = data.get(key)
    if value not in allowed:
        raise BadInput(f"{where}: '{key}' must be one of {', '.join(allowed)}, got {value!r}", key)
    return value


def _model(name: Any, load_model: Callable[[str], Model], where: str) -> tuple[str, Model | None]:
    if not isinstance(name, str) or not name:
        raise BadInput(f"{where}: 'model' must be the model's name, got {name!r}", "model")
    try:
        return name, load_model(name)
    except XpuplanError:
        return name, None  # not in the catalog: the launch file leaves the model's shape to the user


def train_from_json(data: dict, where: str, load_model: Callable[[str], Model]) -> TrainLaunch:
    """A TrainLaunch from one ``train --json`` object (or one entry of ``plan --json``)."""
    plan_in, at = data["plan"], f"{where} plan"
    degrees = {k: _number(plan_in, k, at) for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch")}
    etp = _number(plan_in, "etp", at, optional=True)
    zero = _number(plan_in, "zero", at, minimum=0)
    if zero > 3:
        raise BadInput(f"{at}: 'zero' must be 0, 1, 2 or 3, got {zero}", "zero")
    try:
        plan = ParallelPlan(**degrees, etp=etp, zero=zero, recompute=_choice(plan_in, "recompute", RECOMPUTE_MODES, at),
                            precision=_choice(plan_in, "precision", PRECISIONS, at))
    except (ValueError, TypeError) as exc:
        raise BadInput(f"{at}: {exc}", "plan") from None
    name, model = _model(data.get("model"), load_model, where)
    devices = _number(data, "devices", where)
    if plan.devices != devices:
        raise BadInput(f"{at}: tp*pp*dp*cp = {plan.devices} but 'devices' is {devices}", "devices")
    tokens = _number(data, "tokens", where, whole=False, optional=True)
    task = data.get("task") or "pretrain"
    state = data.get("optimizer_state") or "fp32"  # absent from results written before the key existed: fp32
    if state not in OPTIMIZER_STATES:
        raise BadInput(f"{where}: 'optimizer_state' must be one of {', '.join(OPTIMIZER_STATES)}, got {state!r}",
                       "optimizer_state")
    switches = {}
    for key in ("moe_grouped_gemm", "grad_accumulation_fusion"):  # absent from results written before the keys: on
        switches[key] = data.get(key, True)
        if not isinstance(switches[key], bool):
            raise BadInput(f"{where}: '{key}' must be true or false, got {switches[key]!r}", key)
    return TrainLaunch(model_name=name, model=model, devices=devices, plan=plan,
                       seq_len=_number(data, "seq_len", where), global_batch=_number(data, "global_batch", where),
                       tokens=tokens, framework=str(data.get("framework") or "megatron"), task=str(task),
                       optimizer_state=state, **switches)


def serve_from_json(data: dict, where: str, load_model: Callable[[str], Model],
                    load_engine: Callable[[str], ServeEngine]) -> ServeLaunch:
    """A ServeLaunch from one ``inference --json`` object (or one entry of ``inference --search --json``)."""
    plan_in, at = data["plan"], f"{where} plan"
    degrees = {k: _number(plan_in, k, at) for k in ("tp", "pp", "dp", "ep")}
    precision = _choice(plan_in, "precision", tuple(WEIGHT_FORMATS), at)
    kv_precision = _choice(plan_in, "kv_precision", tuple(KV_BYTES), at)
    engine = None
    if isinstance(plan_in.get("engine"), str):
        try:
            engine = load_engine(plan_in["engine"])
        except XpuplanError:
            engine = None
    name, model = _model(data.get("model"), load_model, where)
    devices = _number(data, "devices", where)
    if degrees["tp"] * degrees["pp"] * degrees["dp"] != devices:
        raise BadInput(f"{at}: tp*pp*dp = {degrees['tp'] * degrees['pp'] * degrees['dp']} but 'devices' is {devices}",
                       "devices")
    return ServeLaunch(model_name=name, model=model, devices=devices, **degrees, precision=precision,
                       kv_precision=kv_precision, input_len=_number(data, "input_len", where),
                       output_len=_number(data, "output_len", where),
                       concurrency=_number(data, "concurrency", where), engine=engine)
