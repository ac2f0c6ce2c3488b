"""Serving: prefill and decode costs, KV cache, continuous batching, TTFT/TPOT, throughput and $/1M tokens.

Reuses the training model's pieces (layer shapes, FLOP counts, collectives, the chip's efficiency
profile). Per device of one replica (tp · pp devices; dp replicas side by side):

* **prefill** of B requests of I tokens is compute-bound: 2 · N_active · B · I FLOPs plus the causal
  attention term, at the chip's size-dependent GEMM efficiency, plus two TP all-reduces per layer;
* **decode** of one token for a batch of B sequences with mean context c reads the weights once
  (for MoE only the experts the batch touches: E · (1 − (1 − k/E)^B) of them), reads each sequence's
  KV cache (B · c · kv bytes per token), does 2 · N_active · B FLOPs, and pays two latency-bound
  all-reduces per layer and the kernel launches;
* roofline per part: max(FLOPs / (peak · η), bytes / (HBM bandwidth · η_hbm)).

Closed loop (``concurrency``): N sequences decode together; each request's prefill interrupts the
batch once, so per cycle of O decode steps N prefills run: TPOT = T_d(N) + N · T_p / (pp · O) (pipeline
stages prefill different prompts at once) and throughput = N · O / (O · TPOT). Open loop (``request_rate``): a seeded discrete-event simulation of
continuous batching (admission limited by KV memory) gives TTFT with queueing. Paged KV is assumed
(no fragmentation beyond the runtime reserve); speculative decoding is out of scope.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .cost.comm import collective_s
from .cost.flops import attention_core_flops_per_token, layer_shapes, matmul_flops_per_token, total_params
from .catalog import CATALOG_DIR, read_yaml
from .errors import BadInput, DoesNotFit, UnknownName
from .specs import Chip, Model

WEIGHT_FORMATS = {  # precision -> (bytes per weight, peak used for the GEMMs, chip peak that must exist or None)
    "bf16": (2.0, "bf16", None),
    "fp16": (2.0, "fp16", None),
    "fp8": (1.0, "fp8", "fp8"),
    "int8": (1.0, "int8", "int8"),
    "int4": (0.5, "bf16", None),   # weight-only (W4A16): dequantised in the kernel, bf16 math
    "fp4": (0.5, "fp4", "fp4"),
}
KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}
DECODE_KERNELS_PER_LAYER = 10  # with CUDA-graph style launch: the per-kernel gap remains
ACTIVATION_WORKSPACE_TOKENS = 8192  # prefill chunk whose activations the runtime reserves


@dataclass(frozen=True, kw_only=True, slots=True)
class ServePlan:
    """How a model is served on a set of devices."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    """independent replicas"""
    ep: int = 1
    """expert parallel degree across the tp * dp devices (attention data-parallel, experts sharded)"""
    precision: str = "bf16"
    kv_precision: str = "bf16"
    engine: str = "trt-llm"
    """serving-engine profile (catalog/serving): how close its kernels come to the roofline"""

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp

    def to_dict(self) -> dict:
        return {"tp": self.tp, "pp": self.pp, "dp": self.dp, "ep": self.ep, "precision": self.precision,
                "kv_precision": self.kv_precision, "engine": self.engine}


def check_plan(model: Model, chip: Chip, plan: ServePlan, devices: int) -> None:
    """Raise BadInput naming the numbers when the plan cannot serve the model on this chip."""
    if plan.devices != devices:
        raise BadInput(f"invalid plan: tp*pp*dp = {plan.tp}*{plan.pp}*{plan.dp} = {plan.devices}, but --devices is {devices}", "devices")
    if model.heads % plan.tp:
        raise BadInput(f"invalid plan: heads={model.heads} is not divisible by tp={plan.tp}", "tp")
    if plan.pp > model.layers:
        raise BadInput(f"invalid plan: pp={plan.pp} exceeds the model's {model.layers} layers", "pp")
    if plan.ep > 1 and (model.moe is None or model.moe.experts % plan.ep or (plan.tp * plan.dp) % plan.ep):
        raise BadInput(f"invalid plan: ep={plan.ep} needs a MoE model whose experts and tp*dp it divides", "ep")
    if plan.precision not in WEIGHT_FORMATS:
        raise BadInput(f"--precision must be one of {', '.join(WEIGHT_FORMATS)}, got {plan.precision!r}", "precision")
    engine_profile(plan.engine)
    if plan.kv_precision not in KV_BYTES:
        raise BadInput(f"--kv-precision must be one of {', '.join(KV_BYTES)}, got {plan.kv_precision!r}", "kv_precision")
    needs = WEIGHT_FORMATS[plan.precision][2]
    if needs and chip.peak_flops_per_s.get(needs) is None:
        raise BadInput(f"{chip.name} has no {needs} support in the catalog; use --precision bf16 or int4 (weight-only)", "precision")


def kv_bytes_per_token(model: Model, kv_precision: str) -> float:
    """KV-cache bytes per token over all layers (MLA caches its compressed latent and rotary key)."""
    per_layer = (model.kv_lora_rank + model.qk_rope_head_dim) if model.attention == "mla" else 2 * model.kv_heads * model.d_head
    return model.layers * per_layer * KV_BYTES[kv_precision]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplicaCosts:
    """Per-replica figures that do not depend on the batch."""

    weight_bytes: float
    """weights per device, bytes"""
    kv_bytes_per_token: float
    """KV cache per token per device, bytes"""
    free_bytes: float
    """memory per device left for the KV cache, bytes"""


def replica_costs(model: Model, chip: Chip, plan: ServePlan, memory_margin: float = 0.0) -> ReplicaCosts:
    wbytes = WEIGHT_FORMATS[plan.precision][0]
    params = total_params(model)
    experts = 0.0
    if model.moe:
        experts = model.moe_layers * model.moe.experts * layer_shapes(model).ffn_mats * model.hidden * model.moe.expert_ffn_hidden
    dense = params - experts
    per_device = dense / (plan.tp * plan.pp) + experts / (plan.ep if plan.ep > 1 else plan.tp) / plan.pp
    kv_split = min(plan.tp, model.kv_heads) if model.attention != "mla" else 1
    kv = kv_bytes_per_token(model, plan.kv_precision) / kv_split / plan.pp
    workspace = ACTIVATION_WORKSPACE_TOKENS * model.hidden * 2 * 8 / plan.tp
    free = chip.hbm_bytes * (1 - memory_margin) - per_device * wbytes - chip.efficiency.reserve_bytes - workspace
    return ReplicaCosts(weight_bytes=per_device * wbytes, kv_bytes_per_token=kv, free_bytes=free)


@functools.cache
def engine_profile(name: str) -> dict:
    """A serving-engine profile: kernel_scale (fraction of the roofline its kernels reach), moe_scale (extra
    factor for MoE models) and attention_efficiency (its prefill attention kernel / the compute peak)."""
    path = CATALOG_DIR / "serving" / f"{name}.yaml"
    if "/" in name or not path.is_file():
        raise UnknownName("engine", name, sorted(p.stem for p in (CATALOG_DIR / "serving").glob("*.yaml")), "engine")
    data = read_yaml(path)
    for key in ("kernel_scale", "moe_scale", "attention_efficiency"):
        if not 0 < float(data.get(key, 0)) <= 1:
            raise BadInput(f"serving/{name}.yaml: {key} must be in (0, 1]", key)
    return data


def _kernel_s(flops, nbytes, chip: Chip, peak_dtype: str, scale: float = 1.0) -> np.ndarray:
    """One kernel's roofline: max(FLOPs / (peak · η_gemm), bytes / (HBM bandwidth · η_hbm)) / scale."""
    eff = chip.efficiency
    eff_max = eff.gemm_fp8_max if peak_dtype in ("fp8", "fp4", "int8") else eff.gemm_max
    return np.maximum(np.asarray(flops, dtype=float) / (chip.peak(peak_dtype) * eff_max),
                      np.asarray(nbytes, dtype=float) / (chip.hbm_bytes_per_s * eff.hbm)) / scale


def _layer_matrices(model: Model, plan: ServePlan) -> list[tuple[float, float]]:
    """(rows K, columns N) per device of the dense weight matrices of one layer (tp splits one side)."""
    s = layer_shapes(model)
    h, tp = model.hidden, plan.tp
    mats = [(h, (s.q_out + s.kv_out) / tp), (s.attn_out_in / tp, h)]
    if model.moe is None:
        f = model.ffn_hidden
        mats += [(h, (s.ffn_mats - 1) * f / tp), (f / tp, h)]
    return mats


def _weight_kernels_s(model: Model, chip: Chip, plan: ServePlan, tokens) -> np.ndarray:
    """All weight matmuls of one forward over ``tokens`` tokens on one device of a replica, kernel by kernel.

    Each matrix is a kernel: max(its FLOPs at the GEMM peak, its weights + activations through HBM).
    MoE: each touched expert is read once; the batch's routed tokens share them.
    """
    wbytes, peak, _ = WEIGHT_FORMATS[plan.precision]
    tokens = np.asarray(tokens, dtype=float)
    layers = model.layers / plan.pp
    profile = engine_profile(plan.engine)
    scale = profile["kernel_scale"] * (profile["moe_scale"] if model.moe else 1.0)

    def kernel(m, k, n):
        return _kernel_s(2.0 * m * k * n, k * n * wbytes + 2.0 * m * (k + n), chip, peak, scale)

    per_layer = sum(kernel(tokens, k, n) for k, n in _layer_matrices(model, plan))
    total = layers * per_layer
    if model.moe:
        e, h = model.moe, model.hidden
        fe, mats = e.expert_ffn_hidden, layer_shapes(model).ffn_mats
        split = plan.ep if plan.ep > 1 else plan.tp
        local = e.experts / split
        pooled = tokens * (max(plan.ep // plan.tp, 1) if plan.ep > 1 else 1)  # an EP group pools its attention replicas' tokens
        touched = local * (1.0 - (1.0 - e.top_k / e.experts) ** pooled)
        per_expert = pooled * e.top_k / e.experts / np.maximum(1.0 - (1.0 - e.top_k / e.experts) ** pooled, 1e-12)
        width = fe / (1 if plan.ep > 1 else plan.tp)
        routed = touched * (kernel(per_expert, h, (mats - 1) * width) + kernel(per_expert, width, h))
        shared = kernel(tokens, h, (mats - 1) * fe * e.shared_experts / plan.tp) + kernel(
            tokens, fe * e.shared_experts / plan.tp, h) if e.shared_experts else 0.0
        dense_ffn = kernel(tokens, h, (mats - 1) * model.ffn_hidden / plan.tp) + kernel(tokens, model.ffn_hidden / plan.tp, h)
        moe_layers = model.moe_layers / plan.pp
        total = total + moe_layers * (routed + shared) + (layers - moe_layers) * dense_ffn
    logits = kernel(tokens, model.hidden, model.vocab / plan.tp) / plan.pp
    return total + logits


def _active_matmul_params(model: Model) -> float:
    return sum(matmul_flops_per_token(model).values()) / 2.0


def prefill_s(model: Model, chip: Chip, plan: ServePlan, tokens, seq_len) -> np.ndarray:
    """Seconds to prefill ``tokens`` prompt tokens (requests of ``seq_len``) on one replica."""
    gemm = _weight_kernels_s(model, chip, plan, tokens)
    attention = tokens * attention_core_flops_per_token(model, seq_len) / (plan.tp * plan.pp)
    # the engine's fused attention kernel runs in the model's compute precision (FP8 FMHA for fp8 models)
    attn = attention / (chip.peak(WEIGHT_FORMATS[plan.precision][1] if plan.precision != "int4" else "bf16")
                        * engine_profile(plan.engine)["attention_efficiency"])
    comm = 2 * model.layers / plan.pp * collective_s("all_reduce", tokens * model.hidden * 2.0, plan.tp, 1, chip)
    return plan.pp * (gemm + attn + comm)


def decode_step_s(model: Model, chip: Chip, plan: ServePlan, batch, context) -> np.ndarray:
    """Seconds for one decode step of ``batch`` sequences at mean ``context`` tokens on one replica:
    the weight kernels, then attention reading each sequence's KV cache, the TP (and EP) collectives
    and the kernel launches — in sequence, as the step runs them."""
    batch = np.maximum(np.asarray(batch, dtype=float), 1.0)
    rc = replica_costs(model, chip, plan)
    gemm = _weight_kernels_s(model, chip, plan, batch)
    attn_flops = batch * attention_core_flops_per_token(model, 2 * context) / (plan.tp * plan.pp)
    attention = _kernel_s(attn_flops, batch * context * rc.kv_bytes_per_token, chip, "bf16",
                          engine_profile(plan.engine)["kernel_scale"])
    layers = model.layers / plan.pp
    comm = 2 * layers * collective_s("all_reduce", batch * model.hidden * 2.0, plan.tp, 1, chip)
    if model.moe and plan.ep > 1:
        tokens = batch * model.moe.top_k * model.hidden * 2.0
        comm = comm + 2 * model.moe_layers / plan.pp * collective_s("all_to_all", tokens, plan.ep, plan.tp, chip)
    launches = layers * DECODE_KERNELS_PER_LAYER * chip.efficiency.kernel_overhead_s
    return plan.pp * (gemm + attention + comm + launches)


@dataclass(frozen=True, kw_only=True)
class ServeResult:
    """One serving configuration; ``to_dict`` is the ``inference --json`` object."""

    model: Model
    chip: Chip
    plan: ServePlan
    devices: int
    input_len: int
    output_len: int
    concurrency: int
    ttft_s: float
    tpot_s: float
    output_tokens_per_s: float
    input_tokens_per_s: float
    max_concurrency: int
    memory: dict
    fits: bool
    usd_per_million_output_tokens: float | None
    extra: dict = field(default_factory=dict)

    @property
    def memory_per_device_bytes(self) -> float:
        return float(sum(self.memory.values()))

    def to_dict(self) -> dict:
        return {
            "model": self.model.name, "chip": self.chip.name, "devices": self.devices,
            "input_len": self.input_len, "output_len": self.output_len, "concurrency": self.concurrency,
            "ttft_s": self.ttft_s, "tpot_s": self.tpot_s,
            "output_tokens_per_s": self.output_tokens_per_s,
            "output_tokens_per_s_per_device": self.output_tokens_per_s / self.devices,
            "input_tokens_per_s": self.input_tokens_per_s,
            "max_concurrency": self.max_concurrency,
            "memory_per_device_bytes": self.memory_per_device_bytes, "memory": dict(self.memory),
            "fits": self.fits, "usd_per_million_output_tokens": self.usd_per_million_output_tokens,
            "plan": self.plan.to_dict(), **self.extra,
        }


def max_concurrency(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int,
                    memory_margin: float = 0.0) -> int:
    """Sequences of this length whose KV cache fits, over all replicas."""
    rc = replica_costs(model, chip, plan, memory_margin)
    per_seq = rc.kv_bytes_per_token * (input_len + output_len)
    return max(int(rc.free_bytes // per_seq), 0) * plan.dp


def closed_loop(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int, concurrency):
    """(ttft_s, tpot_s, output_tokens_per_s) for ``concurrency`` sequences in flight (arrays broadcast)."""
    n = np.maximum(np.asarray(concurrency, dtype=float), 1.0)
    per_replica = np.maximum(n / plan.dp, 1.0)
    context = input_len + output_len / 2
    step = decode_step_s(model, chip, plan, per_replica, context)
    prefill_one = prefill_s(model, chip, plan, float(input_len), input_len)
    # pipeline stages prefill different requests at once: the decode batch waits one stage's share per prompt
    tpot = step + per_replica * prefill_one / plan.pp / output_len
    ttft = prefill_one + step / 2
    return ttft, tpot, n / tpot


def open_loop(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int, request_rate: float,
              capacity: int, requests: int = 2000, seed: int = 0) -> dict:
    """Seeded discrete-event simulation of continuous batching under Poisson arrivals (one replica's
    share of the rate). Each iteration admits waiting requests while their KV fits, prefills them
    together, then runs one decode step for every running sequence."""
    rng = np.random.default_rng(seed)
    rate = request_rate / plan.dp
    arrivals = np.cumsum(rng.exponential(1.0 / rate, requests))
    cap = max(capacity // plan.dp, 1)
    context = input_len + output_len / 2
    sizes = np.arange(1, cap + 1, dtype=float)     # every batch size, priced once
    decode_by_n = np.concatenate([[0.0], decode_step_s(model, chip, plan, sizes, context)])
    prefill_by_k = np.concatenate([[0.0], prefill_s(model, chip, plan, sizes * input_len, input_len)])
    now, head = 0.0, 0
    running: list[list[float]] = []  # [tokens left, arrival, first-token time]
    ttft, finish_times = [], []
    while head < requests or running:
        if not running and head < requests and arrivals[head] > now:
            now = arrivals[head]
        admitted = []
        while head < requests and arrivals[head] <= now and len(running) + len(admitted) < cap:
            admitted.append(arrivals[head])
            head += 1
        if admitted:
            now += float(prefill_by_k[len(admitted)])
            for arrival in admitted:
                ttft.append(now - arrival)
                running.append([output_len - 1, arrival, now])
        if running:
            now += float(decode_by_n[len(running)])
            for r in running:
                r[0] -= 1
            if any(r[0] <= 0 for r in running):
                finish_times += [(r[1], now, r[2]) for r in running if r[0] <= 0]
                running = [r for r in running if r[0] > 0]
    finish = np.array(finish_times)
    tpot = (finish[:, 1] - finish[:, 2]) / max(output_len - 1, 1)
    span = finish[:, 1].max() - arrivals[0]
    return {"ttft_s_p50": float(np.median(ttft)), "ttft_s_p90": float(np.percentile(ttft, 90)),
            "tpot_s_p50": float(np.median(tpot)), "tpot_s_p90": float(np.percentile(tpot, 90)),
            "output_tokens_per_s": float(requests * output_len / span * plan.dp), "requests": requests, "seed": seed}


def serve(model: Model, chip: Chip, plan: ServePlan, devices: int, input_len: int, output_len: int,
          concurrency: int | None = None, request_rate: float | None = None, memory_margin: float = 0.0,
          usd_per_device_hour: float | None = None, seed: int = 0) -> ServeResult:
    """Estimate one serving configuration (closed loop at ``concurrency`` or open loop at ``request_rate``)."""
    check_plan(model, chip, plan, devices)
    chip.require("hbm_bytes", "hbm_bytes_per_s")
    rc = replica_costs(model, chip, plan, memory_margin)
    if rc.free_bytes <= 0:
        raise DoesNotFit(f"does not fit: the weights need {rc.weight_bytes / 2**30:.1f} GiB per device, "
                         f"{chip.name} has {chip.hbm_bytes * (1 - memory_margin) / 2**30:.1f} GiB; raise tp/pp or quantise")
    cap = max_concurrency(model, chip, plan, input_len, output_len, memory_margin)
    if cap < 1:
        raise DoesNotFit(f"does not fit: one sequence of {input_len + output_len} tokens needs "
                         f"{rc.kv_bytes_per_token * (input_len + output_len) / 2**30:.2f} GiB of KV cache per device, "
                         f"{max(rc.free_bytes, 0) / 2**30:.2f} GiB is free")
    extra = {}
    if request_rate is not None:
        sim = open_loop(model, chip, plan, input_len, output_len, request_rate, cap, seed=seed)
        ttft, tpot, out_tps = sim["ttft_s_p50"], sim["tpot_s_p50"], sim["output_tokens_per_s"]
        n = int(round(request_rate * (ttft + tpot * output_len)))  # Little's law
        extra["queueing"] = sim
    else:
        n = concurrency if concurrency is not None else cap
        if n > cap:
            raise DoesNotFit(f"--concurrency {n} exceeds memory: at most {cap} sequences of {input_len}+{output_len} "
                             f"tokens fit their KV cache on {devices} x {chip.name}")
        ttft, tpot, out_tps = (float(x) for x in closed_loop(model, chip, plan, input_len, output_len, n))
    kv = rc.kv_bytes_per_token * (input_len + output_len) * min(n, cap) / plan.dp
    memory = {"weights_bytes": rc.weight_bytes, "kv_cache_bytes": kv,
              "activations_bytes": ACTIVATION_WORKSPACE_TOKENS * model.hidden * 2 * 8 / plan.tp,
              "reserve_bytes": chip.efficiency.reserve_bytes}
    price = usd_per_device_hour if usd_per_device_hour is not None else chip.usd_per_hour
    usd = None if price is None else devices * price / 3600 / out_tps * 1e6
    return ServeResult(model=model, chip=chip, plan=plan, devices=devices, input_len=input_len,
                       output_len=output_len, concurrency=int(n), ttft_s=float(ttft), tpot_s=float(tpot),
                       output_tokens_per_s=float(out_tps), input_tokens_per_s=float(out_tps) * input_len / output_len,
                       max_concurrency=cap, memory=memory, fits=True, usd_per_million_output_tokens=usd, extra=extra)


def disaggregated(model: Model, prefill: tuple[Chip, ServePlan, int], decode: tuple[Chip, ServePlan, int],
                  input_len: int, output_len: int, concurrency: int | None, link_bytes_per_s: float) -> dict:
    """Prefill on one pool, decode on another: the KV cache of each prompt crosses ``link_bytes_per_s``.
    Throughput is the smaller of what the prefill pool can feed and what the decode pool can drain."""
    p_chip, p_plan, p_devices = prefill
    d_chip, d_plan, d_devices = decode
    for chip, plan, devices in (prefill, decode):
        check_plan(model, chip, plan, devices)
    cap = max_concurrency(model, d_chip, d_plan, input_len, output_len)
    if cap < 1:
        raise DoesNotFit(f"does not fit: the decode pool ({d_devices} x {d_chip.name}) holds no {input_len + output_len}-token sequence")
    n = min(concurrency or cap, cap)
    t_prefill = float(prefill_s(model, p_chip, p_plan, float(input_len), input_len))
    transfer = kv_bytes_per_token(model, d_plan.kv_precision) * input_len / link_bytes_per_s
    prefill_rps = p_plan.dp / t_prefill                     # requests per second the prefill pool sustains
    step = float(decode_step_s(model, d_chip, d_plan, max(n / d_plan.dp, 1), input_len + output_len / 2))
    decode_rps = n / (step * output_len)
    rps = min(prefill_rps, decode_rps)
    return {"ttft_s": t_prefill + transfer, "tpot_s": step, "output_tokens_per_s": rps * output_len,
            "input_tokens_per_s": rps * input_len, "kv_transfer_s": transfer, "bound": "prefill" if prefill_rps < decode_rps else "decode",
            "max_concurrency": cap, "concurrency": n,
            "prefill": {"chip": p_chip.name, "devices": p_devices, "plan": p_plan.to_dict(), "requests_per_s": prefill_rps},
            "decode": {"chip": d_chip.name, "devices": d_devices, "plan": d_plan.to_dict(), "requests_per_s": decode_rps}}


def search_slo(model: Model, chip: Chip, input_len: int, output_len: int, slo_ttft_s: float, slo_tpot_s: float,
               precision: str = "bf16", kv_precision: str = "bf16", max_devices: int = 64,
               usd_per_device_hour: float | None = None) -> list[ServeResult]:
    """Per device count and tp, the highest concurrency meeting both SLOs; cheapest per output token first."""
    price = usd_per_device_hour if usd_per_device_hour is not None else chip.usd_per_hour
    found = []
    tps = [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= max(chip.scale_up_domain, 1) and t <= max_devices and model.heads % t == 0]
    for tp in tps:
        plan = ServePlan(tp=tp, precision=precision, kv_precision=kv_precision)
        try:
            check_plan(model, chip, plan, tp)
        except BadInput:
            continue
        if replica_costs(model, chip, plan).free_bytes <= 0:
            continue
        cap = max_concurrency(model, chip, plan, input_len, output_len)
        if cap < 1:
            continue
        n = np.unique(np.clip(np.geomspace(1, cap, 200).astype(int), 1, cap))
        ttft, tpot, tps_out = closed_loop(model, chip, plan, input_len, output_len, n)
        ok = (ttft <= slo_ttft_s) & (tpot <= slo_tpot_s)
        if not ok.any():
            continue
        best = int(n[ok][np.argmax(tps_out[ok])])
        found.append(serve(model, chip, plan, tp, input_len, output_len, concurrency=best,
                           usd_per_device_hour=price))
    if not found:
        raise DoesNotFit(f"no configuration of {model.name} on {chip.name} (tp up to {max(tps, default=1)}) meets "
                         f"TTFT <= {slo_ttft_s:g} s and TPOT <= {slo_tpot_s * 1e3:g} ms")
    key = (lambda r: r.usd_per_million_output_tokens) if price is not None else (lambda r: -r.output_tokens_per_s / r.devices)
    return sorted(found, key=key)
