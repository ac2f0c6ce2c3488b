"""Serving validation: predict published serving runs (data/validation/inference) and report the error."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..catalog import load_chip, load_engine, load_model, model_from_dict, names
from ..cost.serve import decode_step_s
from ..cost.serve_memory import max_concurrency, replica_costs
from ..errors import BadInput
from ..plan import resolve_serve_plan
from ..serving import closed_loop, rounds
from ..serving.inputs import length_ratio
from ..serving.load import simulate, slo_rate
from ..specs.serving import AUTO_ENGINE, ENGINE_ALIASES, Speculative, engine_name_for
from .train import DATA_DIR, load_runs

INFERENCE_DIR = DATA_DIR / "inference"
INFERENCE_TARGET_MEDIAN = 0.15
SERVER_PERCENTILE = 99
"""the latency percentile a server scenario's bounds apply to unless the run says (MLPerf Inference's Server and
Interactive scenarios bound p99 TTFT and p99 TPOT)"""
INFERENCE_METRICS = ("output_tokens_per_s", "output_tokens_per_s_per_device", "input_tokens_per_s_per_device",
                     "total_tokens_per_s", "tpot_s", "ttft_s", "kv_cache_bytes_per_device")
"""``kv_cache_bytes_per_device``: the KV cache an engine allocates on each device at startup (vLLM's "Available KV
cache memory"), priced as the memory the engine may fill less the weights and what it holds back"""


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeCheck:
    """One published serving result against its prediction."""

    id: str
    source: str
    role: str
    chip: str
    devices: int
    scenario: str
    metric: str
    reported: float
    predicted: float
    setup: str = ""
    """runs of one setup at several concurrencies (for the rank correlation of TTFT vs concurrency)"""
    concurrency: int | None = None

    @property
    def error(self) -> float:
        return self.predicted / self.reported - 1.0


def _run_plan(run: dict, model, chip, devices: int):
    """The serving plan a published run ran: its degrees, precisions and engine with its settings."""
    plan_in = run.get("plan") or {}
    return resolve_serve_plan(model, chip, devices, plan_in.get("tp"), plan_in.get("pp"), plan_in.get("dp"),
                              plan_in.get("ep"), run.get("precision", "bf16"), run.get("kv_precision") or "bf16",
                              engine_of(run))


def _predict_serving(run: dict, where: str) -> float:
    """The run's reported metric as xpuplan predicts it, under the run's scenario."""
    spec = run["model"]
    model = model_from_dict(spec, f"{where}: model") if isinstance(spec, dict) else load_model(spec)
    chip = load_chip(run["chip"])
    if run.get("scenario") == "decode":
        return _predict_decode_pool(run, model, chip)
    if run["reported"]["metric"] == "kv_cache_bytes_per_device":
        return _kv_cache_bytes(run, model, chip)
    devices, i, o = int(run["devices"]), int(run["input_len"]), int(run["output_len"])
    plan = _run_plan(run, model, chip, devices)
    cap = max_concurrency(model, chip, plan, i, o)
    if cap < 1:
        raise BadInput(f"{where}: {run['id']}: does not fit in our memory model", "run")
    scenario = run.get("scenario", "offline")
    slo = run.get("slo") or {}
    if scenario == "server" and (slo.get("ttft_s") or slo.get("tpot_s")):
        # Poisson arrivals at the highest rate whose tail latencies meet the bounds (MLPerf's Server rule: p99)
        sim = slo_rate(model, chip, plan, i, o, cap, slo.get("ttft_s"), slo.get("tpot_s"),
                       int(slo.get("percentile", SERVER_PERCENTILE)))
        return _metric(run["reported"]["metric"], sim["output_tokens_per_s"], sim["tpot_s_p50"], sim["ttft_s_p50"],
                       devices, i, o)
    sim, spread = None, _length_ratio(run)
    if run.get("burst"):  # a benchmark's --num-prompts N sent at once: the run's own count over its whole length
        sim = simulate(model, chip, plan, i, o, cap, burst=int(run["burst"]), length_ratio=spread)
    elif scenario == "concurrency" and run.get("concurrency") and run.get("requests"):
        # a closed loop with the benchmark's request count: every request counted, the first round included
        sim = simulate(model, chip, plan, i, o, cap, concurrency=int(run["concurrency"]),
                       requests=max(-(-int(run["requests"]) // plan.dp), 1), whole_run=True, length_ratio=spread)
    elif scenario == "concurrency" and run.get("concurrency"):
        # the benchmark's closed loop: its clients start together (beyond the KV cache the rest wait for admission)
        sim = rounds(model, chip, plan, i, o, cap, int(run["concurrency"]))
    if sim is not None:
        return _metric(run["reported"]["metric"], sim["output_tokens_per_s"], sim["tpot_s_mean"], sim["ttft_s_mean"],
                       devices, i, o)
    n = np.unique(np.clip(np.geomspace(1, cap, 400).astype(int), 1, cap))
    ttft, tpot, out = closed_loop(model, chip, plan, i, o, n)
    k = int(np.argmax(out))
    return _metric(run["reported"]["metric"], out[k], tpot[k], ttft[k], devices, i, o)


def _length_ratio(run: dict) -> float:
    """The run's ``length_range_ratio`` (its random dataset's --random-range-ratio r in [0, 1]: every length drawn
    between r and 1 times the nominal, input_len and output_len being the means), 1.0 where lengths are fixed."""
    return length_ratio(run.get("length_range_ratio"), f"{run.get('id')}: length_range_ratio")


def _metric(metric: str, out: float, tpot: float, ttft: float, devices: int, i: int, o: int) -> float:
    """The reported metric from a prediction's output tokens/s, TPOT and TTFT."""
    return {
        "output_tokens_per_s": out, "output_tokens_per_s_per_device": out / devices,
        "input_tokens_per_s_per_device": out * i / o / devices, "total_tokens_per_s": out * (i + o) / o,
        "tpot_s": tpot, "ttft_s": ttft,
    }[metric]


def serving_engine(run: dict) -> str:
    """The run's serving-engine profile: its framework when catalog/serving has one, else its chip vendor's own."""
    name = ENGINE_ALIASES.get(run.get("framework") or "", run.get("framework") or "")
    return name if name in names("serving") else engine_name_for(load_chip(run["chip"]), AUTO_ENGINE)


ENGINE_SETTINGS = ("max_batched_tokens", "max_batch", "async_scheduling", "graph_max_batch", "memory_utilization",
                   "sampler_bytes_per_logit")
"""what a run may set on its engine (``engine_settings``), as its command line did"""

def engine_of(run: dict):
    """The run's engine profile, with the settings it ran with (``engine_settings: {max_batched_tokens, max_batch}``),
    without its HTTP front end where the run was measured by an offline harness (``server: none``: trtllm-bench,
    MLPerf's LoadGen, the Python ``LLM`` API), and with its speculative decoding (``speculative: {method,
    draft_tokens, accept_rate}``, or ``tokens_per_step`` where the source publishes its mean acceptance length)."""
    engine = load_engine(serving_engine(run))
    server = run.get("server", "http")
    if server not in ("http", "none"):
        raise BadInput(f"{run.get('id')}: server must be http (measured through the engine's API server, the "
                       f"default) or none (an offline harness), not {server!r}", "server")
    if server == "none":
        engine = engine.offline()
    knobs = dict(run.get("engine_settings") or {})  # what the run set on its command line (--max-num-batched-tokens ...)
    unknown = sorted(set(knobs) - set(ENGINE_SETTINGS))
    if unknown:
        raise BadInput(f"{run.get('id')}: engine_settings takes {', '.join(ENGINE_SETTINGS[:-1])} and "
                       f"{ENGINE_SETTINGS[-1]}, not {', '.join(unknown)}", "engine_settings")
    if "sampler_bytes_per_logit" in knobs:  # the sampler the install's profile runs (vLLM 0.9-0.11.0: FlashInfer's
        # where the image ships it, PyTorch's sort where not); the profile checks the figure (bytes in [0, 1000))
        engine = dataclasses.replace(engine, sampler_bytes_per_logit=knobs.pop("sampler_bytes_per_logit"))
    if "memory_utilization" in knobs:  # vLLM's --gpu-memory-utilization (the engine checks it is in (0, 1])
        share = knobs.pop("memory_utilization")
        if isinstance(share, bool) or not isinstance(share, (int, float)):
            raise BadInput(f"{run.get('id')}: engine_settings.memory_utilization must be a number in (0, 1]",
                           "engine_settings")
        engine = dataclasses.replace(engine, memory_utilization=float(share))
    if "graph_max_batch" in knobs:  # the decode graphs the run captured (TensorRT-LLM's cuda_graph_config), all chips
        engine = dataclasses.replace(engine, graph_max_batch=knobs.pop("graph_max_batch"), graph_max_batch_chips=())
    if not isinstance(knobs.get("async_scheduling", False), bool):
        raise BadInput(f"{run.get('id')}: engine_settings.async_scheduling must be true or false", "engine_settings")
    if "async_scheduling" in knobs:  # vLLM's --async-scheduling / --no-async-scheduling
        engine = dataclasses.replace(engine, async_scheduling=knobs.pop("async_scheduling"))
    if knobs:  # the run's own settings win on every device (the small-device defaults included)
        engine = dataclasses.replace(engine, **knobs, small_device_bytes=None, small_device_names=(),
                                     large_device_bytes=None, max_batch_chips=())
    spec = dict(run.get("speculative") or {})
    if not spec:
        return engine
    if "tokens_per_step" in spec:
        spec = Speculative.from_tokens_per_step(spec["method"], spec.get("draft_tokens", 1), spec["tokens_per_step"])
    else:
        spec = Speculative(**spec)
    return dataclasses.replace(engine, speculative=spec)


def _kv_cache_bytes(run: dict, model, chip) -> float:
    """The KV cache each device of a replica gets: what the engine may fill of the device (its
    ``memory_utilization``, or the run's ``engine_settings``) less the weights and the memory held back, times the
    share the engine gives the cache (``kv_free_fraction``)."""
    devices = int(run["devices"])
    plan = _run_plan(run, model, chip, devices)
    rc = replica_costs(model, chip, plan, 1.0 - plan.engine.memory_utilization)
    return rc.free_bytes * plan.engine.kv_free_fraction


def _predict_decode_pool(run: dict, model, chip) -> float:
    """A disaggregated decode pool: output tokens/s per device at the mean context ``input_len`` and the
    largest batch whose step stays within the run's TPOT."""
    devices, context = int(run["devices"]), int(run["input_len"])
    plan = _run_plan(run, model, chip, devices)
    cap = max_concurrency(model, chip, plan, context, 1) // plan.dp
    batch = np.unique(np.clip(np.geomspace(1, max(cap, 1), 400).astype(int), 1, max(cap, 1)))
    step = decode_step_s(model, chip, plan, batch, context)
    ok = step <= (run.get("slo") or {}).get("tpot_s", np.inf)
    k = int(np.flatnonzero(ok)[-1]) if ok.any() else 0
    return float(batch[k] / step[k] * plan.dp / devices)


def run_inference_validation(data: str | Path | None = None, role: str | None = None) -> list[ServeCheck]:
    path = Path(data) if data else INFERENCE_DIR
    checks = []
    for run, where in load_runs(path):
        if role is not None and run.get("role", "main") != role:
            continue
        decode_pool = run.get("scenario") == "decode" and run.get("input_len") is not None
        memory = (run.get("reported") or {}).get("metric") == "kv_cache_bytes_per_device"  # needs no lengths
        if not (decode_pool or memory) and (run.get("input_len") is None or run.get("output_len") is None):
            continue  # the source does not publish its request lengths: nothing to predict honestly
        metric = run["reported"]["metric"]
        if metric not in INFERENCE_METRICS:
            raise BadInput(f"{where}: reported.metric must be one of {', '.join(INFERENCE_METRICS)}", "metric")
        checks.append(ServeCheck(id=run["id"], source=where, role=run.get("role", "main"), chip=run["chip"],
                                 devices=int(run["devices"]), scenario=run.get("scenario", "offline"), metric=metric,
                                 reported=float(run["reported"]["value"]), predicted=float(_predict_serving(run, where)),
                                 setup=run.get("setup", ""), concurrency=run.get("concurrency")))
    return checks


def inference_summary(checks: list[ServeCheck], role: str | None = "main") -> dict:
    picked = [c for c in checks if role is None or c.role == role]
    out = {}
    for kind, metrics in (("throughput", ("output_tokens_per_s", "output_tokens_per_s_per_device",
                                          "input_tokens_per_s_per_device", "total_tokens_per_s")),
                          ("tpot", ("tpot_s",)), ("ttft", ("ttft_s",)),
                          ("kv_cache", ("kv_cache_bytes_per_device",)), ("all", INFERENCE_METRICS)):
        e = np.array([abs(c.error) for c in picked if c.metric in metrics])
        out[kind] = {"runs": int(e.size), "median_abs_error": float(np.median(e)) if e.size else None}
    return out


def by_source(checks: list[ServeCheck]) -> dict:
    """Median |error| per publisher's file (all roles). Nothing in the serving model is fitted on any run, so this is
    also the leave-one-publisher-out error issue 22 asks for: leaving a publisher out changes no figure."""
    out = {}
    for source in sorted({c.source for c in checks}):
        e = np.array([abs(c.error) for c in checks if c.source == source])
        out[source] = {"runs": int(e.size), "median_abs_error": float(np.median(e))}
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x)).astype(float)


def ttft_rank_correlation(checks: list[ServeCheck]) -> dict:
    """Per setup with TTFT at three or more concurrencies (all roles): Spearman's rank correlation between predicted
    and reported TTFT, so that TTFT rises with load as measured."""
    out = {}
    for setup in sorted({c.setup for c in checks if c.setup and c.metric == "ttft_s"}):
        rows = sorted((c for c in checks if c.setup == setup and c.metric == "ttft_s"), key=lambda c: c.concurrency or 0)
        if len(rows) >= 3:
            pred, rep = _ranks(np.array([c.predicted for c in rows])), _ranks(np.array([c.reported for c in rows]))
            out[setup] = float(np.corrcoef(pred, rep)[0, 1])
    return out
