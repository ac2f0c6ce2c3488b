"""Per chip, the cheapest serving configuration meeting a TTFT/TPOT SLO; and the devices a demand needs.

Each chip is searched at the best precision it runs (:data:`~xpuplan.specs.serving.SEARCH_PRECISIONS`: FP8 where
it has FP8 math, else bf16) unless the precision is pinned. A chip whose scale-up link is unknown is planned inside
one device; one whose domain is unknown (1 in the catalog) inside itself too, with a note, never a traceback.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..cost.serve_memory import max_concurrency, replica_costs
from ..errors import BadInput, DoesNotFit
from ..plan import ServePlan, check_serve_plan, tp_candidates
from ..results import ServeResult
from ..specs import ROOFLINE, Chip, Model, ServeEngine
from ..specs.serving import SEARCH_PRECISIONS, WEIGHT_FORMATS
from .estimate import closed_loop, serve
from .load import slo_rate

MAX_SEARCH_DEVICES = 64
"""largest replica the SLO search tries, devices"""


def chip_precisions(chip: Chip, precision: str | None) -> list[str]:
    """Precisions to search on ``chip``: the pinned one, else the best it supports."""
    if precision is not None:
        return [precision]
    runs = [p for p in SEARCH_PRECISIONS if WEIGHT_FORMATS[p][2] is None or chip.peak_flops_per_s.get(WEIGHT_FORMATS[p][2])]
    return runs[:1]


def replica_sizes(model: Model, chip: Chip, max_devices: int) -> tuple[list[int], list[str]]:
    """tp degrees to try, and notes on what limited them (unknown scale-up link or domain)."""
    if chip.scale_up_bytes_per_s is None:
        return [1], [f"{chip.name}: scale-up bandwidth unknown in the catalog; planned inside one device"]
    domain = max(int(chip.scale_up_domain or 1), 1)
    notes = [] if domain > 1 else [f"{chip.name}: scale-up domain unknown (1 in the catalog); planned inside one device"]
    return tp_candidates(model, min(domain, max_devices)), notes


def search_slo(model: Model, chip: Chip, input_len: int, output_len: int, slo_ttft_s: float, slo_tpot_s: float,
               precision: str | None = "bf16", kv_precision: str | None = "bf16", max_devices: int = MAX_SEARCH_DEVICES,
               usd_per_device_hour: float | None = None, engine: ServeEngine = ROOFLINE,
               percentile: str = "mean") -> list[ServeResult]:
    """Per tp (and precision), the highest load meeting both SLOs; cheapest per output token first.
    ``precision=None``: the chip's best; ``kv_precision=None``: FP8 with FP8 weights, else bf16. ``percentile``
    ``mean``: the SLOs bound the mean TTFT and TPOT of a closed loop (the highest concurrency that meets them);
    ``p50``/``p90``/``p99``: they bound that percentile under Poisson arrivals (the highest request rate that
    meets them, :func:`~xpuplan.serving.load.slo_rate`)."""
    engine.check_runs_on(chip)  # one line: the engine's platforms do not include this chip's vendor
    price = usd_per_device_hour if usd_per_device_hour is not None else chip.usd_per_hour
    found, refused = [], []
    tps, notes = replica_sizes(model, chip, max_devices)
    for prec in chip_precisions(chip, precision):
        kv = kv_precision or ("fp8" if prec in ("fp8", "fp4") else "bf16")
        for tp in tps:
            plan = ServePlan(tp=tp, precision=prec, kv_precision=kv, engine=engine.for_chip(chip))
            try:
                r = _best_at(model, chip, plan, input_len, output_len, slo_ttft_s, slo_tpot_s, price, percentile)
            except BadInput as exc:  # a figure the chip's catalog entry lacks: the chip's reason, not a crash
                refused.append(str(exc))
                continue
            if r is None:
                continue
            if notes or precision is None:
                extra = dict(r.extra, notes=list(r.extra.get("notes", [])) + notes)
                if precision is None:
                    extra["precision_chosen"] = f"{prec} (the best {chip.name} supports; pin with --precision)"
                r = dataclasses.replace(r, extra=extra)
            found.append(r)
    if not found:
        why = f"; {refused[0]}" if refused else ""
        raise DoesNotFit(f"no configuration of {model.name} on {chip.name} (tp up to {max(tps, default=1)}, "
                         f"{'/'.join(chip_precisions(chip, precision))}) meets {percentile} TTFT <= {slo_ttft_s:g} s "
                         f"and TPOT <= {slo_tpot_s * 1e3:g} ms{why}" + (f" ({notes[0]})" if notes else ""))
    key = (lambda r: r.usd_per_million_output_tokens) if price is not None else (lambda r: -r.output_tokens_per_s / r.devices)
    return sorted(found, key=key)


def _best_at(model, chip, plan, input_len, output_len, slo_ttft_s, slo_tpot_s, price,
             percentile: str = "mean") -> ServeResult | None:
    """The highest-throughput load of one plan meeting both SLOs (at ``percentile``), or None."""
    check_serve_plan(model, chip, plan, plan.tp)
    chip.require("hbm_bytes", "hbm_bytes_per_s")
    if replica_costs(model, chip, plan).free_bytes <= 0:
        return None
    cap = max_concurrency(model, chip, plan, input_len, output_len)
    if cap < 1:
        return None
    if percentile != "mean":
        found = slo_rate(model, chip, plan, input_len, output_len, cap, slo_ttft_s, slo_tpot_s, int(percentile[1:]))
        if not found["met"]:
            return None
        r = serve(model, chip, plan, plan.tp, input_len, output_len, request_rate=found["request_rate"],
                  usd_per_device_hour=price)
        return dataclasses.replace(r, extra=dict(r.extra, slo_percentile=percentile))
    top = min(cap, plan.engine.max_batch)
    n = np.unique(np.clip(np.geomspace(1, top, 60).astype(int), 1, top))
    ttft, tpot, tps_out = closed_loop(model, chip, plan, input_len, output_len, n)
    ok = (ttft <= slo_ttft_s) & (tpot <= slo_tpot_s)
    if not ok.any():
        return None
    best = int(n[ok][np.argmax(tps_out[ok])])
    r = serve(model, chip, plan, plan.tp, input_len, output_len, concurrency=best, usd_per_device_hour=price,
              simulate_load=False)
    note = (f"TTFT is the closed form's (clients at random phases, as steady traffic arrives); a benchmark's {best} "
            f"clients started together wait behind their round's prompts: `xpuplan inference --concurrency {best}` "
            f"prices that")
    return dataclasses.replace(r, extra=dict(r.extra, notes=list(r.extra.get("notes", [])) + [note]))


def for_demand(result: ServeResult, requests_per_s: float) -> ServeResult:
    """``result`` with the devices (whole replicas) that serve ``requests_per_s`` at its operating point, and their
    price per hour (or why there is none)."""
    per_replica = result.output_tokens_per_s / result.output_len
    replicas = math.ceil(requests_per_s / per_replica)
    devices = replicas * result.devices
    price = None if result.usd_per_million_output_tokens is None else \
        result.usd_per_million_output_tokens * result.output_tokens_per_s / 1e6 * 3600 / result.devices
    demand = {"requests_per_s": requests_per_s, "replicas": replicas, "devices": devices,
              "requests_per_s_per_replica": per_replica,
              "usd_per_hour": None if price is None else devices * price}
    if price is None:
        demand["note"] = f"{result.chip.name} has no catalog price: give --usd-per-device-hour"
    return dataclasses.replace(result, extra=dict(result.extra, demand=demand))
