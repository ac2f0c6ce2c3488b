"""Other fleets for the same workloads: the single-chip-kind baseline and ``--what-if`` changes.

Baseline: for each candidate chip kind (``--baseline CHIP``, else every NVIDIA chip kind in the fleet, else every
chip kind), one pool of that chip at its price in the fleet (or the catalog's), as many devices as the whole fleet
has and within the same site power, budget, deadlines and SLOs; the cheapest feasible one is the baseline and
``saving_fraction = 1 - usd_total / baseline usd_total``.

What-if, one change per ``--what-if`` (names are pool or chip names; a chip not in the fleet is added as a pool at
its catalog price):

* ``replace 30% of h800 with ascend-910b`` / ``replace 512 of h800 with ascend-910b`` (device for device)
* ``add 1024 ascend-910b`` · ``remove 25% of h800`` · ``remove h800``
* ``price ascend-910b 1.2`` (USD per device-hour)
"""

from __future__ import annotations

import dataclasses
import re

from .. import catalog
from ..errors import BadInput, DoesNotFit, UnknownName
from .outcome import Outcome, evaluate
from .problem import with_pools
from .specs import FleetPool, FleetProblem

MAX_WHAT_IFS = 8
_AMOUNT = r"(\d+(?:\.\d+)?%|\d+)"
_GRAMMAR = (
    ("replace", re.compile(rf"^replace\s+{_AMOUNT}\s+of\s+(\S+)\s+(?:with|by)\s+(\S+)$", re.I)),
    ("add", re.compile(rf"^add\s+{_AMOUNT}\s+(?:of\s+)?(\S+)$", re.I)),
    ("remove", re.compile(rf"^remove\s+(?:{_AMOUNT}\s+of\s+)?(\S+)$", re.I)),
    ("price", re.compile(r"^price\s+(\S+)\s+(?:at\s+)?\$?(\d+(?:\.\d+)?)(?:\s*(?:usd)?(?:/h|/hour|\s+per\s+hour)?)?$", re.I)),
)
EXAMPLES = "'replace 30% of h800 with ascend-910b', 'add 1024 ascend-910b', 'remove 25% of h800', 'price h800 2.1'"


# ------------------------------------------------------------------------------------------------ baseline

def baseline_candidates(problem: FleetProblem, chip: str | None) -> list[str]:
    if chip:
        return [chip]
    kinds = list(dict.fromkeys(p.chip_name for p in problem.pools))
    nvidia = [c for c in kinds if next(p for p in problem.pools if p.chip_name == c).vendor.lower() == "nvidia"]
    return nvidia or kinds


def _pool_of(problem: FleetProblem, chip: str, devices: int, files: bool, what: str) -> FleetPool:
    """A pool of ``chip``: a copy of the fleet's pool of that chip (or pool name), else the catalog chip at its
    catalog price."""
    found = next((p for p in problem.pools if chip in (p.name, p.chip_name)), None)
    if found is not None:  # its name kept, so workloads that name the pool may still use it
        return dataclasses.replace(found, devices=devices)
    try:
        spec = catalog.load_chip(chip, files=files)
    except UnknownName as exc:
        raise BadInput(f"{what}: {exc}", "chip") from None
    if spec.usd_per_hour is None:
        raise BadInput(f"{what}: {spec.name} has no catalog price; add a pool of it with usd_per_device_hour to the "
                       "fleet file", "chip")
    return FleetPool(name=spec.name, chip=spec, chip_name=spec.name, vendor=spec.vendor, devices=devices,
                     rentable=True, usd_per_device_hour=spec.usd_per_hour, price_source="catalog rent",
                     tdp_watts=spec.tdp_watts)


def baseline(problem: FleetProblem, chip: str | None, files: bool, time_limit_s: float) -> dict:
    """The cheapest single-chip-kind fleet meeting the same constraints, and every candidate's result."""
    size = sum(p.devices for p in problem.pools)
    tried, best = [], None
    for name in baseline_candidates(problem, chip):
        pool = _pool_of(problem, name, size, files, f"--baseline {name}")
        try:
            outcome = evaluate(with_pools(problem, (pool,)), time_limit_s)
        except (BadInput, DoesNotFit) as exc:
            tried.append({"chip": pool.chip_name, "usd_total": None, "reason": str(exc)})
            continue
        tried.append({"chip": pool.chip_name, "usd_total": outcome.usd_total, "usd_per_hour": outcome.usd_per_hour})
        if best is None or outcome.usd_total < best.usd_total:
            best = outcome
    if best is None:
        return {"fleet": None, "usd_total": None, "usd_per_hour": None, "chip": None, "candidates": tried}
    peak = {name: info["peak_devices"] for name, info in best.pools.items()}
    return {"fleet": [{"chip": p.chip_name, "devices": peak[p.name], "usd_per_device_hour": p.usd_per_device_hour}
                      for p in best.problem.pools],
            "chip": best.problem.pools[0].chip_name, "usd_total": best.usd_total, "usd_per_hour": best.usd_per_hour,
            "makespan_s": best.makespan_s, "allocation": best.rows, "candidates": tried}


# ------------------------------------------------------------------------------------------------ what-if

def _amount(text: str | None, of: int) -> int:
    if text is None:
        return of
    return int(round(of * float(text[:-1]) / 100)) if text.endswith("%") else int(text)


def apply_what_if(problem: FleetProblem, text: str, files: bool) -> FleetProblem:
    """The fleet after one ``--what-if`` change."""
    what = f"--what-if {text!r}"
    phrase = " ".join(str(text).split())
    for verb, pattern in _GRAMMAR:
        match = pattern.match(phrase)
        if match:
            break
    else:
        raise BadInput(f"{what}: cannot read it; write e.g. {EXAMPLES}", "what_if")
    pools = list(problem.pools)
    if verb == "price":
        name, price = match.group(1), float(match.group(2))
        if not 0 < price <= 1000:
            raise BadInput(f"{what}: a price must be in (0, 1000] USD per device-hour", "what_if")
        hits = _matching(pools, name, what)
        return with_pools(problem, tuple(dataclasses.replace(p, usd_per_device_hour=price, price_source="what-if")
                                         if p in hits else p for p in pools))
    if verb == "add":
        amount, name = match.group(1), match.group(2)
        current = [p for p in pools if name in (p.name, p.chip_name)]
        count = _amount(amount, sum(p.devices for p in current)) if amount.endswith("%") else int(amount)
        return with_pools(problem, tuple(_grow(pools, problem, name, count, files, what)))
    amount, source = match.group(1), match.group(2)
    hits = _matching(pools, source, what)
    count = _amount(amount, sum(p.devices for p in hits))
    if count <= 0 or count > sum(p.devices for p in hits):
        raise BadInput(f"{what}: {count:,} devices is not a part of the {sum(p.devices for p in hits):,} of "
                       f"{source}", "what_if")
    left, taken = [], count
    for p in pools:
        if p in hits and taken:
            cut = min(taken, p.devices)
            taken -= cut
            if p.devices > cut:
                left.append(dataclasses.replace(p, devices=p.devices - cut))
        else:
            left.append(p)
    if verb == "replace":
        left = _grow(left, problem, match.group(3), count, files, what)
    if not left:
        raise BadInput(f"{what}: leaves no pool", "what_if")
    return with_pools(problem, tuple(left))


def _matching(pools: list[FleetPool], name: str, what: str) -> list[FleetPool]:
    hits = [p for p in pools if name in (p.name, p.chip_name)]
    if not hits:
        known = sorted({p.name for p in pools} | {p.chip_name for p in pools})
        raise BadInput(f"{what}: no pool or chip {name!r} in the fleet; the fleet has {', '.join(known)}", "what_if")
    return hits


def _grow(pools: list[FleetPool], problem: FleetProblem, name: str, count: int, files: bool, what: str) -> list:
    if count <= 0:
        raise BadInput(f"{what}: the count must be positive", "what_if")
    for i, p in enumerate(pools):
        if name in (p.name, p.chip_name):
            return pools[:i] + [dataclasses.replace(p, devices=p.devices + count)] + pools[i + 1:]
    return pools + [_pool_of(problem, name, count, files, what)]


def what_ifs(problem: FleetProblem, texts: list[str], main: Outcome, files: bool, time_limit_s: float) -> list[dict]:
    """Each variant solved, against the main answer."""
    if len(texts) > MAX_WHAT_IFS:
        raise BadInput(f"--what-if: at most {MAX_WHAT_IFS}, got {len(texts)}", "what_if")
    variants = [(text, apply_what_if(problem, text, files)) for text in texts]  # every text read before solving
    out = []
    for text, variant in variants:
        try:
            outcome = evaluate(variant, time_limit_s)
        except (BadInput, DoesNotFit) as exc:
            out.append({"what_if": text, "feasible": False, "reason": str(exc)})
            continue
        out.append({"what_if": text, "feasible": True, "usd_total": outcome.usd_total,
                    "usd_per_hour": outcome.usd_per_hour, "makespan_s": outcome.makespan_s,
                    "change_usd": outcome.usd_total - main.usd_total,
                    "pools": {name: {"devices": info["devices"], "peak_devices": info["peak_devices"],
                                     "usd": info["usd"]} for name, info in outcome.pools.items()},
                    "allocation": [{k: r[k] for k in ("workload", "pool", "devices", "start_s", "finish_s", "usd")}
                                   for r in outcome.rows]})
    return out
