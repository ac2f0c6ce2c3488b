"""Serving: continuous batching over one replica's costs — TTFT, TPOT, throughput, $/1M tokens, SLO search.

The per-iteration costs (prefill, decode step, KV memory) are :mod:`xpuplan.cost.serve`'s; this module decides how
requests share them. Closed loop (``concurrency``): N sequences decode together; each request's prefill interrupts
the batch once, so per cycle of O decode steps N prefills run: TPOT = T_d(N) + N · T_p / (pp · O) (pipeline stages
prefill different prompts at once) and throughput = N · O / (O · TPOT). Open loop (``request_rate``): a seeded
discrete-event simulation of continuous batching (admission limited by KV memory) gives TTFT with queueing. Paged
KV is assumed (no fragmentation beyond the runtime reserve); speculative decoding is out of scope.
"""

from __future__ import annotations

import numpy as np

from .cost.serve import (decode_step_s, kv_bytes_per_token, kv_tokens, max_concurrency, prefill_s, replica_costs,
                         workspace_bytes)
from .errors import BadInput, DoesNotFit
from .plan import ServePlan, check_serve_plan, tp_candidates
from .results import DisaggregatedResult, ServeResult
from .specs import ROOFLINE, Chip, Model, ServeEngine

MAX_SEARCH_DEVICES = 64
"""largest replica the SLO search tries, devices"""


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
    together, then runs one decode step for every running sequence.

    Decode steps between two events (an admission or a completion) all cost the same, so they are taken together:
    the work is bounded by the number of requests, not by their output lengths."""
    rng = np.random.default_rng(seed)
    rate = request_rate / plan.dp
    arrivals = np.cumsum(rng.exponential(1.0 / rate, requests))
    cap = min(max(capacity // plan.dp, 1), requests)   # never more running than requests
    context = input_len + output_len / 2
    sizes = np.arange(1, cap + 1, dtype=float)     # every batch size, priced once
    decode_by_n = np.concatenate([[0.0], decode_step_s(model, chip, plan, sizes, context)])
    prefill_by_k = np.concatenate([[0.0], prefill_s(model, chip, plan, sizes * input_len, input_len)])
    now, head = 0.0, 0
    left = np.zeros(0)        # decode steps left per running request
    since = np.zeros(0)       # arrival per running request
    first = np.zeros(0)       # first-token time per running request
    ttft, finished = [], []
    while head < requests or left.size:
        if not left.size and head < requests and arrivals[head] > now:
            now = arrivals[head]
        admit = int(min(np.searchsorted(arrivals, now, side="right") - head, cap - left.size))
        if admit > 0:
            now += float(prefill_by_k[admit])
            came = arrivals[head:head + admit]
            ttft.extend(now - came)
            left = np.concatenate([left, np.full(admit, output_len - 1.0)])
            since, first = np.concatenate([since, came]), np.concatenate([first, np.full(admit, now)])
            head += admit
        if left.size:
            step = float(decode_by_n[left.size])
            k = max(int(left.min()), 1)                # steps until the next completion
            if head < requests and left.size < cap:    # ... or until the next arrival can be admitted
                k = min(k, max(1, int(np.ceil((arrivals[head] - now) / step))))
            now += k * step
            left = left - k
            done = left <= 0
            if done.any():
                finished.append(np.stack([since[done], np.full(int(done.sum()), now), first[done]], axis=1))
                left, since, first = left[~done], since[~done], first[~done]
    finish = np.concatenate(finished)
    tpot = (finish[:, 1] - finish[:, 2]) / max(output_len - 1, 1)
    span = finish[:, 1].max() - arrivals[0]
    return {"ttft_s_p50": float(np.median(ttft)), "ttft_s_p90": float(np.percentile(ttft, 90)),
            "tpot_s_p50": float(np.median(tpot)), "tpot_s_p90": float(np.percentile(tpot, 90)),
            "output_tokens_per_s": float(requests * output_len / span * plan.dp), "requests": requests, "seed": seed}


def serve(model: Model, chip: Chip, plan: ServePlan, devices: int, input_len: int, output_len: int,
          concurrency: int | None = None, request_rate: float | None = None, memory_margin: float = 0.0,
          usd_per_device_hour: float | None = None, seed: int = 0) -> ServeResult:
    """Estimate one serving configuration (closed loop at ``concurrency`` or open loop at ``request_rate``)."""
    check_serve_plan(model, chip, plan, devices)
    chip.require("hbm_bytes", "hbm_bytes_per_s")
    rc = replica_costs(model, chip, plan, memory_margin)
    if rc.free_bytes <= 0:
        raise DoesNotFit(f"does not fit: the weights need {rc.weight_bytes / 2**30:.1f} GiB per device, "
                         f"{chip.name} has {chip.hbm_bytes * (1 - memory_margin) / 2**30:.1f} GiB; raise tp/pp or quantise")
    cap = max_concurrency(model, chip, plan, input_len, output_len, memory_margin)
    if cap < 1:
        raise DoesNotFit(f"does not fit: one sequence of {input_len + output_len} tokens needs "
                         f"{rc.kv_bytes_per_token * kv_tokens(model, input_len + output_len) / 2**30:.2f} GiB of KV cache per device, "
                         f"{max(rc.free_bytes, 0) / 2**30:.2f} GiB is free")
    notes = chip.stand_in_notes()
    extra = {"notes": notes} if notes else {}
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
    kv = rc.kv_bytes_per_token * kv_tokens(model, input_len + output_len) * min(n, cap) / plan.dp
    memory = {"weights_bytes": rc.weight_bytes, "kv_cache_bytes": kv, "activations_bytes": workspace_bytes(model, plan),
              "reserve_bytes": chip.efficiency.reserve_bytes}
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


def search_slo(model: Model, chip: Chip, input_len: int, output_len: int, slo_ttft_s: float, slo_tpot_s: float,
               precision: str = "bf16", kv_precision: str = "bf16", max_devices: int = MAX_SEARCH_DEVICES,
               usd_per_device_hour: float | None = None, engine: ServeEngine = ROOFLINE) -> list[ServeResult]:
    """Per device count and tp, the highest concurrency meeting both SLOs; cheapest per output token first."""
    price = usd_per_device_hour if usd_per_device_hour is not None else chip.usd_per_hour
    found = []
    tps = tp_candidates(model, min(chip.scale_up_domain, max_devices))
    for tp in tps:
        plan = ServePlan(tp=tp, precision=precision, kv_precision=kv_precision, engine=engine)
        try:
            check_serve_plan(model, chip, plan, tp)
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
