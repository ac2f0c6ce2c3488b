"""One serving configuration: memory, then TTFT, TPOT and throughput under load; and disaggregated prefill/decode.

The per-iteration cost is :mod:`xpuplan.cost.serve`'s; how requests share iterations is :mod:`.load`'s. Closed loop
(``concurrency``): the mean values come from the closed form and the percentiles from the simulation. Open loop
(``request_rate``): both from the simulation, the closed form's mean beside them. Paged KV is assumed (no
fragmentation beyond the runtime reserve).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..cost.comm import SERVED_CROSS_DOMAIN_CALL_S, spans_domains
from ..cost.serve import decode_step_s, iteration_s, prefill_s
from ..cost.serve_memory import engine_margin, held_back_bytes, kv_bytes_per_token, kv_tokens, max_concurrency, \
    profile_peak_bytes, replica_costs
from ..errors import DoesNotFit
from ..plan import ServePlan, check_serve_plan
from ..results import DisaggregatedResult, ServeResult
from ..specs import Chip, Model
from ..specs.serving import WEIGHT_ONLY
from .load import PERCENTILES, running_limit, simulate, steady_state

ADMISSION_QUEUE_FACTOR = 4
"""closed-loop concurrency accepted beyond what the KV cache holds (the rest wait for admission), as a multiple of it"""
SIMULATED_REQUESTS = 2000


def closed_loop(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int, concurrency):
    """(ttft_s, tpot_s, output_tokens_per_s) for ``concurrency`` sequences in flight (arrays broadcast), mean values
    of the steady state."""
    cap = max(max_concurrency(model, chip, plan, input_len, output_len), 1)
    s = steady_state(model, chip, plan, input_len, output_len, cap, concurrency=concurrency)
    return s["ttft_s"], s["tpot_s"], s["output_tokens_per_s"]


def open_loop(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int, request_rate: float,
              capacity: int, requests: int = SIMULATED_REQUESTS, seed: int = 0, length_ratio: float = 1.0) -> dict:
    """Seeded simulation under Poisson arrivals (each replica its share of the rate): percentiles and throughput."""
    return simulate(model, chip, plan, input_len, output_len, capacity, request_rate=request_rate,
                    requests=requests, seed=seed, length_ratio=length_ratio)


def rounds(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int, capacity: int,
           concurrency: int, seed: int = 0, length_ratio: float = 1.0) -> dict:
    """Seeded simulation of a closed loop as serving benchmarks run one: ``concurrency`` clients whose first
    requests go out together, each sending its next request when the last one ends (with equal lengths their rounds
    stay bunched; ``length_ratio`` < 1 draws each request's lengths, :func:`~.load.simulate`)."""
    return simulate(model, chip, plan, input_len, output_len, capacity, concurrency=concurrency,
                    requests=min(SIMULATED_REQUESTS, max(400, 6 * concurrency)), seed=seed, length_ratio=length_ratio)


def _load_keys(sim: dict) -> dict:
    """The percentile keys of ``inference --json`` from a simulation."""
    return {f"{m}_s_p{q}": sim[f"{m}_s_p{q}"] for m in ("ttft", "tpot") for q in PERCENTILES}


def kernel_notes(model: Model, chip: Chip) -> list[str]:
    """What the serving estimate's kernel speeds rest on, where that is less than a kernel table's measurements."""
    notes = []
    if chip.kernels is None:
        notes.append(f"{chip.name}: no kernel table measures its kernels; serving is priced at its efficiency profile "
                     f"({chip.efficiency.source})")
    if chip.host_time_factor != 1.0:
        notes.append(f"{chip.name}: its host CPU runs the engine's host work (scheduling, op launches, the API server) "
                     f"{chip.host_time_factor:g}x slower than the x86 hosts it was measured on (host_cpu.time_scale, "
                     f"{chip.figure_confidence('host_cpu.time_scale')} confidence)")
    if model.moe is not None:
        notes.append("MoE serving: on published MoE runs the predicted throughput is still fast (the costs beyond the "
                     "grouped GEMMs, routing and the hottest rank are not all named), and the KV cache is larger "
                     "than vLLM allocates (its startup logs: 1.2x for Qwen3-235B at tp 4, 1.5x for gpt-oss-120b on "
                     "one H100, 1.7x for DeepSeek-R1 at tp 8), so KV-bound results are optimistic; "
                     "benchmarks/results/validation-inference.md")
    return notes


def cross_domain_notes(chip: Chip, plan: ServePlan) -> list[str]:
    """Say so when a replica's tensor-parallel group spans scale-up domains: every layer's all-reduces then cross the
    network, at a cost fitted on one published run (``SERVED_CROSS_DOMAIN_CALL_S``; docs/serving.md)."""
    if not spans_domains(chip, plan.tp):
        return []
    domain = chip.scale_up_domain
    return [f"tensor parallelism {plan.tp} spans {-(-plan.tp // domain)} scale-up domains of {domain} {chip.name}: "
            f"every layer's all-reduces cross the network, each priced {SERVED_CROSS_DOMAIN_CALL_S * 1e6:.0f} us "
            f"more, a figure fitted on the one published run of this kind (DeepSeek-R1 at tp 16 on 2 x 8 H100, "
            f"SGLang) and checked on NeMo RL's Qwen3-235B rollouts (tp 16, vLLM); prefer tp within a domain and pp, "
            f"dp or ep across domains"]


FRONT_END_BOUND = 0.95
"""front-end utilisation from which ``inference`` says the API server, not the device, sets the pace"""


def front_end_notes(plan: ServePlan, load: dict) -> list[str]:
    """Say so when the replica's API server (one process streaming every token) is what bounds the load."""
    if float(np.max(load["front_end_utilisation"])) < FRONT_END_BOUND:
        return []
    rate = 1.0 / plan.engine.stream_token_s
    return [f"the API server bounds each replica at {rate:,.0f} output tokens/s ({plan.engine.stream_token_s * 1e6:.0f} us "
            f"a streamed token, one process): the device could go faster; run more API server processes "
            f"(vLLM --api-server-count, SGLang tokenizer workers), stream several tokens a chunk, or more replicas"]


GRAPH_FIXES = {"trt-llm": "cuda_graph_config max_batch_size (and enable_padding: true)",
               "vllm": "--max-cudagraph-capture-size", "sglang": "--cuda-graph-max-bs"}
"""how each engine captures larger decode graphs"""


def graph_notes(model: Model, chip: Chip, plan: ServePlan, decode_batch: float, input_len: int,
                output_len: int) -> list[str]:
    """Say so when decode batches outgrow the engine's captured graphs and its host's op launches outlast the
    device's work (TensorRT-LLM's PyTorch backend captures 128 sequences by default): a setting users often leave."""
    engine = plan.engine
    if decode_batch <= engine.graph_max_batch:
        return []
    context = input_len + output_len / 2
    eager = float(iteration_s(model, chip, plan, 0.0, decode_batch, input_len, context))
    graphed = dataclasses.replace(plan, engine=dataclasses.replace(engine, graph_max_batch=1 << 30))
    device = float(iteration_s(model, chip, graphed, 0.0, decode_batch, input_len, context))
    if eager <= 1.05 * device:
        return []
    fix = GRAPH_FIXES.get(engine.name.partition("@")[0], "the engine's CUDA-graph batch limit")
    return [f"decode batches of {decode_batch:.0f} outgrow {engine.name}'s CUDA graphs ({engine.graph_max_batch} "
            f"sequences by default): each iteration waits {eager * 1e3:.1f} ms for the host to launch its ops, "
            f"against {device * 1e3:.1f} ms of device work; capture larger graphs ({fix})"]


CHUNK_FIXES = {"trt-llm": "--max_num_tokens at least the prompt, or enable_chunked_prefill: true"}
"""how an engine that does not split prompts is set up for prompts longer than its token budget"""


def chunk_notes(plan: ServePlan, input_len: int) -> list[str]:
    """Say so when prompts are longer than the token budget of an engine that prefills each prompt whole: priced as
    one iteration each, as if the budget held them. TensorRT-LLM refuses such a request ("The sum of prompt length
    (...), query length (0) should not exceed max_num_tokens (...)", its PyTorch backend with enable_chunked_prefill
    off), a setting users meet with long prompts."""
    engine = plan.engine
    if engine.chunked_prefill or input_len <= engine.max_batched_tokens:
        return []
    fix = CHUNK_FIXES.get(engine.name.partition("@")[0], "a token budget at least the prompt")
    return [f"{engine.name} prefills each prompt whole and its token budget is {engine.max_batched_tokens:,} tokens: "
            f"{input_len:,}-token prompts are priced one iteration each, as if the budget held them; set {fix}"]


def weight_only_notes(chip: Chip, plan: ServePlan) -> list[str]:
    """Say so when a quantised checkpoint runs weight-only because the chip has no math for its format."""
    if plan.precision not in WEIGHT_ONLY.values():
        return []
    bits = 4 if plan.precision == "w4a16" else 8
    return [f"{chip.name} has no {bits}-bit math in the catalog: the {bits}-bit weights are dequantised in the kernel "
            f"and multiplied in bf16 ({plan.precision}, as vLLM's Marlin kernels run FP8 and MXFP4 checkpoints on "
            f"Ampere and Hopper)"]


def serve(model: Model, chip: Chip, plan: ServePlan, devices: int, input_len: int, output_len: int,
          concurrency: int | None = None, request_rate: float | None = None, memory_margin: float = 0.0,
          usd_per_device_hour: float | None = None, seed: int = 0, simulate_load: bool = True,
          length_ratio: float = 1.0) -> ServeResult:
    """Estimate one serving configuration (closed loop at ``concurrency`` or open loop at ``request_rate``)."""
    check_serve_plan(model, chip, plan, devices)
    chip.require("hbm_bytes", "hbm_bytes_per_s")
    rc = replica_costs(model, chip, plan, memory_margin)
    if rc.free_bytes <= 0:
        raise DoesNotFit(f"does not fit: the weights need {rc.weight_bytes / 2**30:.1f} GiB per device, "
                         f"{chip.name} has {chip.hbm_bytes * (1 - memory_margin) / 2**30:.1f} GiB; raise tp/pp or quantise")
    cap = max_concurrency(model, chip, plan, input_len, output_len, memory_margin)
    if cap < 1:
        share = 1.0 - engine_margin(plan, memory_margin)  # what max_concurrency gives the engine
        left = replica_costs(model, chip, plan, 1.0 - share).free_bytes
        raise DoesNotFit(f"does not fit: one sequence of {input_len + output_len} tokens needs "
                         f"{rc.kv_bytes_per_token * kv_tokens(model, input_len + output_len) / 2**30:.2f} GiB of KV "
                         f"cache per device, and {max(left, 0) / 2**30:.2f} GiB is left of the {share:.0%} of the "
                         f"device {plan.engine.name} fills once the weights ({rc.weight_bytes / 2**30:.1f} GiB) and "
                         f"what it holds back ({held_back_bytes(model, chip, plan) / 2**30:.1f} GiB: its runtime "
                         f"memory and its profile's peak) are placed; raise tp/pp, quantise, or use a larger device")
    notes = (list(chip.stand_in_notes()) + kernel_notes(model, chip) + weight_only_notes(chip, plan)
             + cross_domain_notes(chip, plan) + chunk_notes(plan, input_len))
    extra: dict = {"engine": plan.engine.name, "tokens_per_decode_step": plan.engine.tokens_per_step}
    if length_ratio != 1.0:  # the simulated requests' lengths are drawn (the closed form keeps the means)
        extra["length_range_ratio"] = length_ratio
    if request_rate is not None:
        sim = open_loop(model, chip, plan, input_len, output_len, request_rate, cap, seed=seed, length_ratio=length_ratio)
        mean = steady_state(model, chip, plan, input_len, output_len, cap, request_rate=request_rate)
        ttft, tpot, out_tps = sim["ttft_s_p50"], sim["tpot_s_p50"], sim["output_tokens_per_s"]
        n = int(round(request_rate * (sim["ttft_s_mean"] + sim["tpot_s_mean"] * output_len)))  # Little's law
        extra["queueing"] = sim
        extra["ttft_s_mean_closed_form"] = float(mean["ttft_s"])
        notes += front_end_notes(plan, mean)
        if float(mean["prefill_utilisation"]) >= 0.99 or float(mean["front_end_utilisation"]) >= 0.99 or n > cap:
            notes.append(f"{request_rate:g} requests/s is beyond what {devices} x {chip.name} sustains: the queue "
                         f"grows for as long as the load lasts ({sim['requests']} requests simulated)")
    else:
        n = concurrency if concurrency is not None else min(cap, plan.engine.max_batch * plan.dp)
        if n > ADMISSION_QUEUE_FACTOR * cap:
            raise DoesNotFit(f"--concurrency {n} exceeds memory: at most {cap} sequences of {input_len}+{output_len} "
                             f"tokens fit their KV cache on {devices} x {chip.name}")
        s = steady_state(model, chip, plan, input_len, output_len, cap, concurrency=n)
        ttft, tpot, out_tps = float(s["ttft_s"]), float(s["tpot_s"]), float(s["output_tokens_per_s"])
        extra["load"] = {k: float(v) for k, v in s.items()}
        notes += front_end_notes(plan, s)
        if simulate_load:  # n clients started together, as a benchmark at concurrency n runs: its means are the answer
            sim = rounds(model, chip, plan, input_len, output_len, cap, n, seed=seed, length_ratio=length_ratio)
            extra["queueing"] = sim
            extra["ttft_s_mean_closed_form"] = ttft
            ttft, tpot, out_tps = sim["ttft_s_mean"], sim["tpot_s_mean"], sim["output_tokens_per_s"]
        notes += graph_notes(model, chip, plan, min(n, running_limit(plan, cap) * plan.dp) / plan.dp, input_len,
                             output_len)
        if n > running_limit(plan, cap) * plan.dp:
            notes.append(f"{n} in flight but {running_limit(plan, cap) * plan.dp} run at once (KV cache or the "
                         f"engine's max batch): the rest wait {float(s['admission_wait_s']):.3g} s for admission")
    if "queueing" in extra:
        extra |= _load_keys(extra["queueing"])
    if notes:
        extra["notes"] = notes
    kv = rc.kv_bytes_per_token * kv_tokens(model, input_len + output_len) * min(n, cap) / plan.dp
    activations = profile_peak_bytes(model, plan)
    memory = {"weights_bytes": rc.weight_bytes, "kv_cache_bytes": kv, "activations_bytes": activations,
              "reserve_bytes": max(held_back_bytes(model, chip, plan) - activations, 0.0)}
    price = usd_per_device_hour if usd_per_device_hour is not None else chip.usd_per_hour
    usd = None if price is None else devices * price / 3600 / out_tps * 1e6
    return ServeResult(model=model, chip=chip, plan=plan, devices=devices, input_len=input_len,
                       output_len=output_len, concurrency=int(n), ttft_s=float(ttft), tpot_s=float(tpot),
                       output_tokens_per_s=float(out_tps), input_tokens_per_s=float(out_tps) * input_len / output_len,
                       max_concurrency=cap, memory=memory, fits=True, usd_per_million_output_tokens=usd, extra=extra)


def disaggregated(model: Model, prefill: tuple[Chip, ServePlan, int], decode: tuple[Chip, ServePlan, int],
                  input_len: int, output_len: int, concurrency: int | None, link_bytes_per_s: float) -> DisaggregatedResult:
    """Prefill on one pool, decode on another: the KV cache of each prompt crosses ``link_bytes_per_s``.
    Throughput is the smaller of what the prefill pool can feed and what the decode pool can drain."""
    p_chip, p_plan, p_devices = prefill
    d_chip, d_plan, d_devices = decode
    for chip, plan, devices in (prefill, decode):
        check_serve_plan(model, chip, plan, devices)
    cap = max_concurrency(model, d_chip, d_plan, input_len, output_len)
    if cap < 1:
        raise DoesNotFit(f"does not fit: the decode pool ({d_devices} x {d_chip.name}) holds no {input_len + output_len}-token sequence")
    n = min(concurrency or cap, cap)
    t_prefill = float(prefill_s(model, p_chip, p_plan, float(input_len), input_len))
    transfer = kv_bytes_per_token(model, d_plan.kv_precision) * kv_tokens(model, input_len) / link_bytes_per_s
    prefill_rps = p_plan.dp / t_prefill                     # requests per second the prefill pool sustains
    step = float(decode_step_s(model, d_chip, d_plan, max(n / d_plan.dp, 1), input_len + output_len / 2))
    decode_rps = n / (step * output_len)
    rps = min(prefill_rps, decode_rps)
    return DisaggregatedResult(
        model=model, prefill=prefill, decode=decode, ttft_s=t_prefill + transfer, tpot_s=step,
        output_tokens_per_s=rps * output_len, input_tokens_per_s=rps * input_len, kv_transfer_s=transfer,
        bound="prefill" if prefill_rps < decode_rps else "decode", max_concurrency=cap, concurrency=n,
        prefill_requests_per_s=prefill_rps, decode_requests_per_s=decode_rps)
