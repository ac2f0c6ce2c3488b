"""WORKLOADS.yaml into specs: training runs (``pretrain``, ``sft``, ``lora``, ``qlora``, ``dpo``, ``rl``) and
services (``serve``).

::

    horizon: 180d
    workloads:
      - {name: foundation, kind: pretrain, model: llama3-70b, tokens: 2T, seq_len: 4096,
         global_batch_tokens: 4M, deadline: 30d, chips: [h800]}
      - {name: sft, kind: sft, model: llama3-8b, tokens: 20B, global_batch: 128, deadline: 20d}
      - {name: chat, kind: serve, model: llama3-8b, rate: 200, input_len: [512, 2048], output_len: [256],
         distribution: [[0.7], [0.3]], slo: {ttft: 2s, tpot: 50ms}}
      - {name: arena, kind: serve, model: llama2-7b, rate: 30, distribution: [[0.2, 0.1], [0.5, 0.2]],
         measured: {a10g: [[2, 1], [5, 2]], a100-sxm-80gb: [[20, 20], [40, 20]]}}

``chips`` lists the chips (or pool names) a workload may use (default: every pool); ``devices`` the counts a run
may take (``512``, ``[256, 512]`` or ``256..2048``). ``measured`` overrides the estimator on a chip: requests/s per
device per bucket for a service (Mélange's profiles), tokens/s per device for a run.
"""

from __future__ import annotations

import difflib
from typing import Any

from .. import catalog
from ..errors import BadInput
from ..flags.serving import SLO_PERCENTILES
from ..specs.serving import AUTO_ENGINE
from .inputs import keys, listed, mapping, number, parse_horizon, resolve, text, whole
from .specs import SERVE_KIND, TRAIN_KINDS, FleetPool, ServeWorkload, TrainWorkload, allowed_pools

MAX_WORKLOADS = 128
MAX_BUCKETS = 64
MAX_WINDOWS = 48
MAX_COUNTS = 12
COMMON = {"name", "kind", "model", "chips", "notes", "source", "sources"}
TRAIN_KEYS = COMMON | {"tokens", "deadline", "devices", "seq_len", "global_batch", "global_batch_tokens", "framework",
                       "precision", "lora_rank", "lora_targets", "mean_seq_len", "packed", "reference", "measured"}
RL_KEYS = COMMON | {"steps", "deadline", "devices", "framework", "precision", "engine", "measured", "algorithm",
                    "rollouts_per_step", "train_global_batch", "prompt_len", "response_len", "max_seq_len",
                    "off_policy_steps", "samples_per_prompt"}
SERVE_KEYS = COMMON | {"rate", "profile", "input_len", "output_len", "distribution", "slo", "precision",
                       "kv_precision", "engine", "measured", "slice_factor", "replica_devices"}
WORKLOADS_KEYS = {"workloads", "horizon", "name", "notes", "sources"}


def measured_chips(data: Any) -> set[str]:
    """Chip names any workload gives a measured table for (read leniently: the full parse checks them)."""
    found = set()
    for item in (data.get("workloads") if isinstance(data, dict) else None) or []:
        tables = item.get("measured") if isinstance(item, dict) else None
        if isinstance(tables, dict):
            found |= {str(k) for k in tables}
    return found


def parse_workloads(data: dict, where: str, pools: tuple[FleetPool, ...], files: bool):
    """(training, serving, horizon_s or None) from a WORKLOADS mapping."""
    keys(data, WORKLOADS_KEYS, where, ("workloads",))
    raw = data["workloads"]
    if not isinstance(raw, list) or not raw:
        raise BadInput(f"{where}: workloads must be a non-empty list", "workloads")
    if len(raw) > MAX_WORKLOADS:
        raise BadInput(f"{where}: at most {MAX_WORKLOADS} workloads, got {len(raw)}", "workloads")
    training, serving, names = [], [], []
    for i, item in enumerate(raw):
        at = f"{where}: workloads[{i}]"
        item = mapping(item, at, "workloads")
        kind = text(item, "kind", at, default="")
        if kind not in TRAIN_KINDS + (SERVE_KIND,):
            close = difflib.get_close_matches(kind or "", TRAIN_KINDS + (SERVE_KIND,), n=1)
            raise BadInput(f"{at}.kind: must be one of {', '.join(TRAIN_KINDS + (SERVE_KIND,))}, got {kind!r}"
                           + (f"; did you mean {close[0]!r}?" if close else ""), "kind")
        name = text(item, "name", at, default=f"{kind}-{i}")
        if name in names:
            raise BadInput(f"{at}.name: {name!r} names two workloads; give each a distinct name", "name")
        names.append(name)
        at = f"{where}: workloads[{i}] ({name})"
        if kind == SERVE_KIND:
            serving.append(_service(item, at, name, pools, files))
        else:
            training.append(_run(item, at, name, kind, pools, files))
    return tuple(training), tuple(serving), parse_horizon(data.get("horizon"), f"{where}: horizon")


def _chips(item: dict, at: str, pools: tuple[FleetPool, ...]) -> tuple[str, ...]:
    """The chips (or pool names) a workload's ``chips`` field allows, each checked against the fleet."""
    wanted = tuple(text({"chips": c}, "chips", at) for c in listed(item, "chips", at))
    known = sorted({p.chip_name for p in pools} | {p.name for p in pools})
    for name in wanted:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
            raise BadInput(f"{at}.chips: no pool of {name!r} in the fleet" + (f"; did you mean {', '.join(close)}?"
                           if close else f"; the fleet has {', '.join(known)}"), "chips")
    return wanted


def _measured(item: dict, at: str, kind: str) -> dict:
    tables = mapping(item.get("measured") or {}, f"{at}.measured", "measured")
    if len(tables) > 64:
        raise BadInput(f"{at}.measured: at most 64 chips", "measured")
    return {str(k): v for k, v in tables.items()}


def _counts(item: dict, at: str) -> tuple[int, ...] | None:
    value = item.get("devices")
    if value is None:
        return None
    if isinstance(value, str) and ".." in value:
        low, _, high = value.partition("..")
        if not (low.strip().isdigit() and high.strip().isdigit()) or not 0 < int(low) <= int(high) <= 10_000_000:
            raise BadInput(f"{at}.devices: a range is written 256..2048, got {value!r}", "devices")
        low, high = int(low), int(high)
        counts = sorted({low, high} | {1 << k for k in range(low.bit_length(), high.bit_length()) if low < 1 << k < high})
    else:
        counts = [whole({"devices": v}, "devices", at) for v in listed(item, "devices", at, MAX_COUNTS)]
    if len(counts) > MAX_COUNTS:
        raise BadInput(f"{at}.devices: at most {MAX_COUNTS} device counts, got {len(counts)}; narrow the range",
                       "devices")
    return tuple(sorted(set(counts)))


def _run(item: dict, at: str, name: str, kind: str, pools, files: bool) -> TrainWorkload:
    rl = kind == "rl"
    keys(item, RL_KEYS if rl else TRAIN_KEYS, at, ("model", "steps" if rl else "tokens"))
    model = resolve("model", text(item, "model", at), at, "model", files)
    measured = _measured(item, at, kind)
    if rl and measured:
        raise BadInput(f"{at}.measured: measured tables are for services and pre-training/fine-tuning runs; an rl "
                       "run is priced by rl's step model", "measured")
    for chip, rate in measured.items():
        number({chip: rate}, chip, f"{at}.measured", unit=" tokens/s per device")
    work = number(item, "steps", at, high=1e8, unit=" steps") if rl else \
        number(item, "tokens", at, high=1e21, unit=" tokens (e.g. 2T)")
    deadline = number(item, "deadline", at, kind="seconds", high=20 * 365 * 86400.0, unit=" seconds (e.g. 30d)")
    framework = item.get("framework", "megatron")
    try:
        framework = catalog.load_framework(str(framework), files=files)
    except BadInput as exc:
        raise BadInput(f"{at}.framework: {exc}", "framework") from None
    precision = text(item, "precision", at, default="bf16")
    if precision not in ("bf16", "fp16", "fp8"):
        raise BadInput(f"{at}.precision: must be bf16, fp16 or fp8, got {precision!r}", "precision")
    job, options = {"framework": framework}, {}
    if rl:
        for key in ("rollouts_per_step", "train_global_batch", "prompt_len", "response_len", "max_seq_len",
                    "samples_per_prompt"):
            if item.get(key) is not None:
                options[key] = whole(item, key, at)
        if item.get("off_policy_steps") is not None:
            options["off_policy_steps"] = whole(item, "off_policy_steps", at, low=0, high=1000)
        options["algorithm"] = text(item, "algorithm", at, default="grpo")
        engine = text(item, "engine", at, default="vllm")  # NeMo RL, verl and OpenRLHF generate with vLLM
        if engine not in catalog.names("serving"):
            raise BadInput(f"{at}.engine: must be one of {', '.join(catalog.names('serving'))}", "engine")
        options["engine"] = catalog.load_engine(engine)
    else:
        job["task"] = kind
        for key in ("seq_len", "global_batch", "lora_rank", "mean_seq_len"):
            if item.get(key) is not None:
                job[key] = whole(item, key, at, high=1 << 30)
        for key in ("global_batch_tokens", "lora_targets", "reference"):
            if item.get(key) is not None:
                job[key] = text(item, key, at)
        if item.get("packed") is not None:
            if not isinstance(item["packed"], bool):
                raise BadInput(f"{at}.packed: must be true or false", "packed")
            job["packed"] = item["packed"]
    chips = _chips(item, at, pools)
    return TrainWorkload(name=name, kind=kind, model=model, work=work, deadline_s=deadline, chips=chips,
                         pools=allowed_pools(chips, measured, pools), counts=_counts(item, at), job=job, rl=options,
                         precision=precision, measured=measured, where=at)


def _lengths(item: dict, key: str, at: str) -> tuple[int, ...]:
    return tuple(whole({key: v}, key, at, high=10_000_000) for v in listed(item, key, at, MAX_BUCKETS))


def _matrix(value: Any, at: str, field: str, shape: tuple[int, int] | None, what: str) -> tuple[tuple[float, ...], ...]:
    rows = value if isinstance(value, list) else [value]
    if rows and not isinstance(rows[0], list):
        rows = [rows] if shape is None or shape[0] == 1 else [[v] for v in rows]
    out = []
    for row in rows:
        if not isinstance(row, list):
            raise BadInput(f"{at}.{field}: expected rows of {what} (a list of lists)", field)
        out.append(tuple(number({"x": v}, "x", f"{at}.{field}", low=0.0, strict=False, high=1e9) for v in row))
    if not out or not out[0] or any(len(r) != len(out[0]) for r in out) or len(out) * len(out[0]) > MAX_BUCKETS:
        raise BadInput(f"{at}.{field}: expected a rectangular table of {what} (at most {MAX_BUCKETS} cells)", field)
    if shape is not None and (len(out), len(out[0])) != shape:
        raise BadInput(f"{at}.{field}: has {len(out)}x{len(out[0])} cells; the buckets are {shape[0]}x{shape[1]} "
                       "(rows: input lengths, columns: output lengths)", field)
    return tuple(out)


def _service(item: dict, at: str, name: str, pools, files: bool) -> ServeWorkload:
    keys(item, SERVE_KEYS, at, ("model", "rate"))
    rate = number(item, "rate", at, strict=False, high=1e9, unit=" requests/s")
    inputs, outputs = _lengths(item, "input_len", at), _lengths(item, "output_len", at)
    shape = (len(inputs), len(outputs)) if inputs and outputs else None
    if (inputs or outputs) and not shape:
        raise BadInput(f"{at}: give both input_len and output_len (one per bucket row / column)", "input_len")
    if item.get("distribution") is not None:
        dist = _matrix(item["distribution"], at, "distribution", shape, "request shares")
    elif shape is None or shape == (1, 1):
        dist = ((1.0,),)
    else:
        raise BadInput(f"{at}.distribution: {shape[0]}x{shape[1]} buckets need a distribution of request shares",
                       "distribution")
    total = sum(sum(r) for r in dist)
    if abs(total - 1.0) > 1e-6:
        raise BadInput(f"{at}.distribution: the shares must sum to 1, got {total:g}", "distribution")
    dims = (len(dist), len(dist[0]))
    measured = {chip: _matrix(table, f"{at}.measured", chip, dims, "requests/s per device")
                for chip, table in _measured(item, at, SERVE_KIND).items()}
    chips = _chips(item, at, pools)
    allowed = allowed_pools(chips, measured, pools)
    estimated = [p for p in pools if p.name in allowed and p.chip_name not in measured]
    model_name = text(item, "model", at)
    model = resolve("model", model_name, at, "model", files) if estimated or model_name in catalog.names("models") \
        else None
    slo = mapping(item.get("slo") or {}, f"{at}.slo", "slo")
    keys(slo, {"ttft", "tpot", "percentile"}, f"{at}.slo")
    percentile = text(slo, "percentile", f"{at}.slo", default="mean")
    if percentile not in SLO_PERCENTILES:
        raise BadInput(f"{at}.slo.percentile: must be one of {', '.join(SLO_PERCENTILES)}, got {percentile!r}",
                       "percentile")
    ttft = number(slo, "ttft", f"{at}.slo", kind="seconds", high=3600.0, unit=" seconds")
    tpot = number(slo, "tpot", f"{at}.slo", kind="seconds", high=60.0, unit=" seconds")
    if estimated and (ttft is None or tpot is None or not shape):
        missing = "slo: {ttft, tpot}" if ttft is None or tpot is None else "input_len and output_len"
        raise BadInput(f"{at}: pool {estimated[0].name} has no measured table, so the estimator prices it and needs "
                       f"{missing}", "slo" if missing.startswith("slo") else "input_len")
    profile = tuple(number({"x": v}, "x", f"{at}.profile", low=0.0, strict=False, high=1e3)
                    for v in listed(item, "profile", at, MAX_WINDOWS)) or (1.0,)
    precision = text(item, "precision", at, default="bf16")
    engine = text(item, "engine", at, default=AUTO_ENGINE)  # each pool's vendor's own engine
    if engine != AUTO_ENGINE and engine not in catalog.names("serving"):
        raise BadInput(f"{at}.engine: must be auto or one of {', '.join(catalog.names('serving'))}, got {engine!r}",
                       "engine")
    kv = text(item, "kv_precision", at, default="fp8" if precision in ("fp8", "fp4") else "bf16")
    return ServeWorkload(
        name=name, model=model, model_name=model_name, rate=rate, profile=profile, input_lens=inputs,
        output_lens=outputs, distribution=dist, slo_ttft_s=ttft, slo_tpot_s=tpot, slo_percentile=percentile,
        precision=precision,
        kv_precision=kv, engine=None if engine == AUTO_ENGINE else catalog.load_engine(engine), measured=measured,
        slice_factor=whole(item, "slice_factor", at, high=16, default=1), pools=allowed, chips=chips, where=at,
        replica_devices=whole(item, "replica_devices", at, high=1024, default=None))
