"""How fast each workload runs on each pool: xpuplan's own estimators at their best plan, tabulated for the MILP.

* a training run (pre-training, a ``train --task`` fine-tuning job): per device count, the best plan's tokens/s
  (:func:`xpuplan.search.best_plans`, by time), its failure-free time W = tokens / rate, and the wall time with
  failures and checkpoints from the reliability model (Daly's expected time at the optimal interval, with the
  pool's failure rate and restart time): T = W / goodput. Cost = devices x price x T.
* an RL run: one step of :func:`xpuplan.rl.step` (colocated rollouts and training) times the steps, the same way.
* a service: per request bucket, the highest throughput of one replica that meets both SLOs
  (:func:`xpuplan.serving.search_slo`), as requests/s; one replica size (tp) per pool, the one needing the fewest
  devices for the service's mix.

A measured table in WORKLOADS replaces the estimator on its chip (tokens/s per device for a run, linear in the
devices; requests/s per device per bucket for a service, as Mélange takes its profiles). Estimator calls are cached:
the same (model, chip, job, devices) is priced once per process, however many pools, variants and baselines ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cost.flops import total_params
from ..errors import BadInput, DoesNotFit
from ..reliability import (RESTART_TIERS_S, STORAGE_BYTES_PER_S_PER_DEVICE, ReliabilityInputs,
                           checkpoint_bytes, reliability)
from ..units import DAY, HOUR
from .specs import FleetPool, ServeWorkload, TrainWorkload

DEFAULT_COUNTS = 6
"""device counts tried per pool when a run names none: the largest powers of two the pool holds"""
CACHE_LIMIT = 20_000
_cache: dict = {}


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainOption:
    """One way to run a training workload: a pool and a device count, priced."""

    workload: str
    pool: str
    devices: int
    tokens_per_s: float
    """failure-free throughput (rl: tokens trained on per second)"""
    work_s: float
    """failure-free time of the whole run"""
    wall_s: float
    """expected wall time with failures, restarts and checkpoints"""
    goodput: float
    usd: float
    plan: dict
    source: str
    """estimated or measured"""


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeRate:
    """What one replica of a service sustains on a pool, per request bucket."""

    workload: str
    pool: str
    devices_per_replica: int
    requests_per_s: tuple[float, ...]
    """per replica, per bucket (row-major); 0 where no configuration meets the SLO"""
    plan: dict
    source: str


def _cached(key, compute, keep=None):
    """``compute()`` once per ``key`` (a refusal is remembered too); ``keep`` is held with the answer so an
    ``id()`` in the key cannot be reused by another object while the entry lives."""
    if key not in _cache:
        if len(_cache) > CACHE_LIMIT:
            _cache.clear()
        try:
            _cache[key] = (keep, compute())
        except (BadInput, DoesNotFit) as exc:
            _cache[key] = (keep, exc)
    value = _cache[key][1]
    if isinstance(value, Exception):
        raise value
    return value


# ---------------------------------------------------------------------------------------------- training

def default_counts(size: int) -> list[int]:
    """The largest ``DEFAULT_COUNTS`` powers of two a pool of ``size`` holds, and the whole pool."""
    powers = [1 << k for k in range(size.bit_length()) if 1 << k <= size]
    return sorted(set(powers[-DEFAULT_COUNTS:]) | {size})


def _best_rate(w: TrainWorkload, pool: FleetPool, devices: int) -> tuple[float, dict]:
    """Failure-free tokens/s and the plan, from the estimator at its best plan for ``devices``."""
    chip, framework = pool.chip, w.job["framework"]
    if w.kind == "rl":
        from ..rl import step

        key = ("rl", w.model, chip.name, id(chip), devices, framework, w.precision, tuple(sorted(w.rl.items())))
        r = _cached(key, lambda: step(model=w.model, chip=chip, devices=devices, framework=framework,
                                      precision=w.precision, **w.rl), chip)
        return r.tokens_per_step / r.step_time_s, {"algorithm": r.algorithm, "step_time_s": r.step_time_s,
                                                   **r.to_dict()["plan"]}
    from ..search import SearchSpace, best_plans
    from ..training import RunOptions, make_job

    job = make_job(**w.job)
    space = SearchSpace(precision=w.precision, moe_options=framework.moe_options)
    key = ("train", w.model, chip.name, id(chip), devices, job, w.precision)
    best = _cached(key, lambda: best_plans(w.model, chip, job, devices, space, "time", None, RunOptions(),
                                                       1).plans[0], chip)
    return best.tokens_per_s, {**best.plan.to_dict(), "mfu": best.mfu, "step_time_s": best.step_time_s}


def _wall_s(w: TrainWorkload, pool: FleetPool, devices: int, work_s: float) -> tuple[float, float]:
    """(wall time, goodput) of ``work_s`` of failure-free training with the pool's failures and restarts."""
    chip = pool.chip
    rate = pool.failures_per_device_day if pool.failures_per_device_day is not None else \
        (chip.failures_per_device_day if chip is not None else None)
    if rate is None:
        return work_s, 1.0
    domains = -(-devices // max(chip.scale_up_domain, 1)) if chip is not None and chip.domain_failures_per_day else 0
    inputs = ReliabilityInputs(
        devices=devices, failures_per_device_day=rate,
        checkpoint_bytes=checkpoint_bytes(total_params(w.model), w.job.get("optimizer_state")
                                          or w.job["framework"].optimizer_state),
        checkpoint_bytes_per_s=STORAGE_BYTES_PER_S_PER_DEVICE * devices,
        restart_s=pool.restart_s if pool.restart_s is not None else RESTART_TIERS_S["automated"],
        async_checkpoint=bool(w.job["framework"].async_checkpoint), domains=domains,
        domain_failures_per_day=(chip.domain_failures_per_day or 0.0) if chip is not None else 0.0)
    rel = reliability(inputs, work_s, trials=1)
    return rel.total_time_s, rel.goodput


def train_options(w: TrainWorkload, pools: tuple[FleetPool, ...], horizon_s: float) -> list[TrainOption]:
    """Every (pool, device count) the workload can run on, priced; refuses a deadline no option meets."""
    options, reasons = [], []
    for pool in pools:
        if pool.name not in w.pools:
            continue
        counts = [n for n in (w.counts or default_counts(pool.devices)) if n <= pool.devices]
        if not counts:
            reasons.append(f"{pool.name} holds {pool.devices:,} devices, fewer than the {min(w.counts):,} asked")
        for n in counts:
            try:
                if pool.chip_name in w.measured:
                    per_device = float(w.measured[pool.chip_name])
                    rate, plan, source = per_device * n, {"tokens_per_s_per_device": per_device}, "measured"
                else:
                    (rate, plan), source = _best_rate(w, pool, n), "estimated"
            except (BadInput, DoesNotFit) as exc:
                reasons.append(f"{n:,} x {pool.name}: {exc}")
                continue
            work_s = w.work * plan["step_time_s"] if w.kind == "rl" else w.work / rate
            wall_s, goodput = _wall_s(w, pool, n, work_s)
            options.append(TrainOption(workload=w.name, pool=pool.name, devices=n, tokens_per_s=rate, work_s=work_s,
                                       wall_s=wall_s, goodput=goodput, usd=n * pool.usd_per_device_hour * wall_s / HOUR,
                                       plan=plan, source=source))
    if not options:
        detail = "; ".join(reasons[-2:]) or "no pool is allowed"
        raise DoesNotFit(f"{w.where}: {w.kind} {w.name} ({w.model.name}) fits no allowed pool: {detail}")
    limit = min(w.deadline_s or horizon_s, horizon_s)
    if min(o.wall_s for o in options) > limit:
        fastest = min(options, key=lambda o: o.wall_s)
        what = "the deadline is" if w.deadline_s is not None and w.deadline_s <= horizon_s else "the horizon is"
        raise BadInput(f"{w.where}.{'deadline' if what.startswith('the d') else 'horizon'}: {w.kind} {w.name} needs "
                       f"at least {fastest.wall_s / DAY:,.1f} days ({fastest.devices:,} x {fastest.pool}, best plan, "
                       f"failures included); {what} {limit / DAY:,.1f} days",
                       "deadline" if what.startswith("the d") else "horizon")
    return options


# ---------------------------------------------------------------------------------------------- serving

def serving_engine(w: ServeWorkload, chip) -> "ServeEngine":
    """The workload's engine on a pool's chip: its own (its vendor plugin there, ``VENDOR_PLUGINS``), or the chip
    vendor's (``engine: auto``, the default)."""
    from .. import catalog
    from ..specs.serving import AUTO_ENGINE, engine_name_for

    if w.engine is None:
        return catalog.load_engine(engine_name_for(chip, AUTO_ENGINE))
    plugin = engine_name_for(chip, w.engine.name)
    return w.engine if plugin == w.engine.name else catalog.load_engine(plugin)


def _bucket_rates(w: ServeWorkload, pool: FleetPool, bucket: int) -> dict[int, float]:
    """tp -> requests/s of one replica meeting both SLOs, for one bucket (empty when none meets them)."""
    from ..serving import search_slo

    chip = pool.chip
    in_len, out_len = w.bucket_lens(bucket)
    engine = serving_engine(w, chip)
    key = ("serve", w.model, chip.name, id(chip), in_len, out_len, w.slo_ttft_s, w.slo_tpot_s, w.precision,
           w.kv_precision, engine, w.replica_devices, w.slo_percentile)
    limit = {"percentile": w.slo_percentile} | ({} if w.replica_devices is None else {"max_devices": w.replica_devices})
    try:
        found = _cached(key, lambda: search_slo(w.model, chip, in_len, out_len, w.slo_ttft_s, w.slo_tpot_s,
                                                           w.precision, w.kv_precision, engine=engine, **limit), chip)
    except (BadInput, DoesNotFit):
        return {}
    rates: dict[int, float] = {}
    for r in found:
        rates[r.devices] = max(rates.get(r.devices, 0.0), r.output_tokens_per_s / out_len)
    return rates


def serve_rate(w: ServeWorkload, pool: FleetPool) -> ServeRate | None:
    """The pool's rate table for the service, or None where it can serve no bucket."""
    shares = w.shares
    if pool.chip_name in w.measured:
        table = tuple(x for row in w.measured[pool.chip_name] for x in row)
        if not any(table):
            return None
        return ServeRate(workload=w.name, pool=pool.name, devices_per_replica=1, requests_per_s=table,
                         plan={"source": "measured", "devices_per_replica": 1}, source="measured")
    per_bucket = [_bucket_rates(w, pool, b) if shares[b] > 0 else {} for b in range(len(shares))]
    sizes = sorted({tp for rates in per_bucket for tp in rates})
    if not sizes:
        return None

    def need(tp: int) -> tuple[int, float]:
        served = [b for b in range(len(shares)) if per_bucket[b].get(tp)]
        return -len(served), sum(shares[b] * tp / per_bucket[b][tp] for b in served)

    tp = min(sizes, key=need)
    table = tuple(per_bucket[b].get(tp, 0.0) for b in range(len(shares)))
    plan = {"tp": tp, "devices_per_replica": tp, "precision": w.precision, "kv_precision": w.kv_precision,
            "engine": serving_engine(w, pool.chip).name, "source": "estimated"}
    return ServeRate(workload=w.name, pool=pool.name, devices_per_replica=tp, requests_per_s=table, plan=plan,
                     source="estimated")


def serve_rates(w: ServeWorkload, pools: tuple[FleetPool, ...]) -> list[ServeRate]:
    """Every allowed pool's rate table; refuses a service with a bucket no pool can serve within the SLO."""
    rates = [r for p in pools if p.name in w.pools for r in [serve_rate(w, p)] if r is not None]
    for b, share in enumerate(w.shares):
        if share > 0 and w.rate > 0 and not any(r.requests_per_s[b] > 0 for r in rates):
            lens = f" ({w.bucket_lens(b)[0]} in / {w.bucket_lens(b)[1]} out tokens)" if w.input_lens else ""
            slo = (f"{w.slo_percentile} TTFT <= {w.slo_ttft_s:g} s and TPOT <= {w.slo_tpot_s * 1e3:g} ms"
                   if w.slo_ttft_s is not None and w.slo_tpot_s is not None else "its SLO")
            raise BadInput(f"{w.where}.slo: no allowed pool serves bucket {b}{lens} of {w.name} within {slo}; loosen "
                           "the SLO, allow other chips or give a measured table", "slo")
    return rates
