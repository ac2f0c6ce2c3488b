"""The Python API: one function per command, names in, results out.

Each function turns names (catalog ids, or file paths where files are allowed) into specs through the catalog,
human quantities ("15T", "90d") into canonical units, and makes one domain call. :func:`run` takes a command's
options by their table names (:mod:`xpuplan.flags`): the CLI and the HTTP API both call it, so the same fields give
the same answer. Everything returned is a result of :mod:`xpuplan.results`, in canonical units.
"""

from __future__ import annotations

from . import catalog as _catalog
from .economics import COST_KEYS
from .devices import parse_devices
from .catalog.files import read_yaml as read_job_file  # noqa: F401  (--config job.yaml, read by the CLI)
from .catalog.kernels import kernel_entry
from .catalog.schema import schema  # noqa: F401  (xpuplan schema, GET /api/schema/{kind})
from .errors import BadInput, DoesNotFit, UnknownName, XpuplanError
from .export import export as _export
from .flags import RUN_OPTION_NAMES, check, options
from .fleet import plan_fleet as _plan_fleet  # loaded first: the name xpuplan.fleet stays the function below
from .plan import ParallelPlan, resolve_plan, resolve_serve_plan
from .results import DisaggregatedResult, HeteroResult, PlanResult, ServeResult, TrainResult
from .specs import PLAN_MEMORY_MARGIN, Chip, Framework, Model, Pool, ServeEngine
from .training import MAX_DEVICES, RunOptions, check_job_for_model, estimate, make_job, run_options as _run_options, \
    train as _train
from .units import UnitError, parse_quantity

__all__ = ["BadInput", "DoesNotFit", "DisaggregatedResult", "HeteroResult", "ParallelPlan", "PlanResult", "RunOptions",
           "ServeResult", "TrainResult", "UnknownName", "XpuplanError", "catalog", "compare", "estimate", "fleet",
           "hetero", "inference", "inference_search", "make_job", "parse_devices", "plan", "plan_range", "probe",
           "resolve_plan", "run", "run_options", "train", "validate"]


# ---------------------------------------------------------------------------------------------- names -> specs

def _model(model: str | Model, files: bool = True) -> Model:
    return model if isinstance(model, Model) else _catalog.load_model(model, files=files)


def _chip(chip: str | Chip, files: bool = True) -> Chip:
    return chip if isinstance(chip, Chip) else _catalog.load_chip(chip, files=files)


def _framework(framework: str | Framework, files: bool = True) -> Framework:
    return framework if isinstance(framework, Framework) else _catalog.load_framework(framework, files=files)


def _quantity(value, kind: str, name: str) -> float:
    try:
        return parse_quantity(value, kind)
    except UnitError as exc:
        raise BadInput(f"--{name.replace('_', '-')}: {exc}", name) from None


def run_options(*, costs: str | None = None, **flags) -> RunOptions:
    """Reliability and cost flags (human units allowed) into RunOptions; ``costs`` names a YAML file of cost
    settings, which the flags override."""
    from .catalog.overrides import price_list

    settings = price_list(_catalog.load_cost_settings(costs, set(COST_KEYS)), costs)[0] if costs else None
    return _run_options(cost_settings=settings, **flags)


# ------------------------------------------------------------------------------------------------------ training

def train(*, model: str | Model, chip: str | Chip, devices: int, framework: str | Framework = "megatron",
          run: RunOptions | None = None, files: bool = True, **job_and_plan) -> TrainResult:
    """Estimate one training job under one parallel plan (degrees left out are filled in); see
    :func:`xpuplan.training.train` for the fields."""
    return _train(model=_model(model, files), chip=_chip(chip, files), devices=devices,
                  framework=_framework(framework, files), run=run, **job_and_plan)


def compare(*, chips: list[str | Chip], files: bool = True, **kwargs) -> list[TrainResult]:
    """The same job and plan on several chips, side by side."""
    if not chips:
        raise BadInput("give at least one --chip", "chips")
    return [train(chip=c, files=files, **kwargs) for c in chips]


def _plan_inputs(model, chip, *, seq_len=4096, global_batch=None, global_batch_tokens=None, tokens=None,
                 precision: str = "bf16", allow_cross_domain_tp: bool = False, usd_per_device_hour=None,
                 framework="megatron", memory_margin: float = PLAN_MEMORY_MARGIN, files: bool = True, **job_options):
    from .search import SearchSpace

    if precision not in ("bf16", "fp16", "fp8"):
        raise BadInput(f"--precision must be bf16, fp16 or fp8, got {precision!r}", "precision")
    if usd_per_device_hour is not None and not 0 < usd_per_device_hour < 1000:
        raise BadInput(f"--usd-per-device-hour must be in (0, 1000), got {usd_per_device_hour}", "usd_per_device_hour")
    model, chip, framework = _model(model, files), _chip(chip, files), _framework(framework, files)
    pinned = any(job_options.get(k) is not None for k in ("ep_dedup", "ep_overlap", "cuda_graphs"))
    job = make_job(seq_len=seq_len, global_batch=global_batch, global_batch_tokens=global_batch_tokens,
                   tokens=tokens, framework=framework, memory_margin=memory_margin, precision=precision, **job_options)
    check_job_for_model(model, job)
    price = usd_per_device_hour if usd_per_device_hour is not None else chip.usd_per_hour
    space = SearchSpace(allow_cross_domain_tp=allow_cross_domain_tp, precision=precision,
                        moe_options=() if pinned else framework.moe_options)  # the options it implements, unpinned
    return model, chip, job, space, price


def plan(*, model: str | Model, chip: str | Chip, devices: int, top: int = 5, objective: str = "time",
         run: RunOptions | None = None, **kwargs) -> PlanResult:
    """Search every valid plan for one device count and return the best ``top`` as full estimates."""
    from .search import best_plans

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise BadInput(f"--top must be a whole number >= 1, got {top}", "top")
    model, chip, job, space, price = _plan_inputs(model, chip, **kwargs)
    return best_plans(model, chip, job, devices, space, objective, price, run if run is not None else RunOptions(), top)


def plan_range(*, model: str | Model, chip: str | Chip, counts: list[int], objective: str = "time", deadline=None,
               top: int = 5, run: RunOptions | None = None, **kwargs) -> list[TrainResult]:
    """Best plan at each device count, ordered by the objective (fastest, cheapest, or fewest devices in time).

    ``objective="devices"`` returns, first, the smallest count whose best plan finishes by ``deadline``.
    """
    from .search import best_per_count

    deadline_s = None
    if objective == "devices":
        if deadline is None or kwargs.get("tokens") is None:
            raise BadInput("--objective devices needs --deadline (e.g. 90d) and --tokens", "deadline")
        deadline_s = _quantity(deadline, "seconds", "deadline")
        if deadline_s <= 0:
            raise BadInput(f"--deadline must be > 0, got {deadline}", "deadline")
    model, chip, job, space, price = _plan_inputs(model, chip, **kwargs)
    return best_per_count(model, chip, job, counts, space, objective, price,
                          run if run is not None else RunOptions(), deadline_s)


def hetero(*, pools: list[str], model: str | Model, inter_pool_bandwidth=None, seq_len: int = 4096,
           global_batch=None, global_batch_tokens=None, tokens=None, precision: str = "bf16",
           framework: str | Framework = "megatron", memory_margin: float = PLAN_MEMORY_MARGIN,
           allow_cross_domain_tp: bool = False, files: bool = True, **job_options) -> HeteroResult:
    """Plan one job over exactly two pools (``CHIP:COUNT`` each) and compare with each pool alone."""
    from .hetero import hetero_plan

    if len(pools) != 2:
        raise BadInput(f"give exactly two --pool CHIP:COUNT, got {len(pools)}", "pool")
    parsed = [p if isinstance(p, Pool) else _pool(p, files) for p in pools]
    job = make_job(seq_len=seq_len, global_batch=global_batch, global_batch_tokens=global_batch_tokens, tokens=tokens,
                   framework=_framework(framework, files), memory_margin=memory_margin, precision=precision,
                   **job_options)
    if inter_pool_bandwidth is not None:
        link = _quantity(inter_pool_bandwidth, "bytes_per_s", "inter_pool_bandwidth")
        if not link > 0:
            raise BadInput("--inter-pool-bandwidth must be > 0", "inter_pool_bandwidth")
    else:
        outs = [p.chip.scale_out_bytes_per_s for p in parsed if p.chip.scale_out_bytes_per_s]
        if not outs:
            raise BadInput("neither pool's chip has a published NIC bandwidth; give --inter-pool-bandwidth",
                           "inter_pool_bandwidth")
        link = min(outs)
    if precision not in ("bf16", "fp16", "fp8"):
        raise BadInput(f"--precision must be bf16, fp16 or fp8, got {precision!r}", "precision")
    model = _model(model, files)
    check_job_for_model(model, job)
    return hetero_plan(model, job, (parsed[0], parsed[1]), link, precision, allow_cross_domain_tp)


def _pool(text: str, files: bool = True, adjust=None) -> Pool:
    """``CHIP:COUNT`` -> a Pool (its chip through ``adjust``: the ``--override``s and prices)."""
    name, _, count = str(text).partition(":")
    if not name or not count.isdigit() or not 0 < int(count) <= MAX_DEVICES:
        raise BadInput(f"--pool must be CHIP:COUNT (e.g. h800:512), got {text!r}", "pool")
    chip = _chip(name, files)
    return Pool(chip=adjust(chip) if adjust else chip, devices=int(count))


def _override_chips(args: dict, overrides, files: bool, prices: dict | None = None, named=()) -> None:
    """``--override KEY=VALUE`` and per-chip prices (chip id -> override texts; ``*``: any other chip) on every chip a
    command names (its pools' too), in place; a chip of ``named`` the command does not name is one BadInput line."""
    from .catalog.overrides import override_chip
    overrides = [overrides] if isinstance(overrides, str) else list(overrides or [])
    prices, seen = prices or {}, set()

    def adjust(chip: Chip) -> Chip:
        seen.add(chip.name)
        changes = overrides + prices.get(chip.name, prices.get("*", []))
        return override_chip(chip, changes) if changes else chip
    for key in ("chip", "prefill_chip", "decode_chip", "rollout_chip"):
        if args.get(key) is not None:
            args[key] = adjust(_chip(args[key], files))
    if args.get("chips"):
        args["chips"] = [adjust(_chip(c, files)) for c in args["chips"]]
    if args.get("pools"):
        args["pools"] = [p if isinstance(p, Pool) else _pool(p, files, adjust) for p in args["pools"]]
    unknown = sorted(set(named) - seen)
    if unknown:
        raise BadInput(f"--usd-per-device-hour {unknown[0]}=...: this command has no chip {unknown[0]!r} (its chips: "
                       f"{', '.join(sorted(seen)) or 'none'})", "usd_per_device_hour")


def _chip_prices(args: dict, files: bool) -> tuple[dict, set]:
    """``--usd-per-device-hour`` and a ``--costs`` file's price lists -> (chip id -> price overrides, ``*`` for every
    chip not named; the chip ids the flag names), leaving in ``args`` the one price for every chip, if any."""
    from .catalog.overrides import chip_prices, price_list, price_overrides
    uniform, named = chip_prices(args.get("usd_per_device_hour"))
    listed = price_list(_catalog.load_cost_settings(args["costs"], set(COST_KEYS)), args["costs"])[1] \
        if files and args.get("costs") else {}
    if "usd_per_device_hour" in args:
        args["usd_per_device_hour"] = None if named else uniform
    return price_overrides(uniform, named, listed), set(named)


# ------------------------------------------------------------------------------------------------------ serving

def _engine(engine: str, speculative=None, accept_rate=None, draft_tokens=None):
    """The engine profile each chip gets (``auto``: its vendor's own; ``name@version``: that release's)."""
    from .serving.inputs import engine_profiles as profiles

    return profiles(engine, speculative, accept_rate, draft_tokens, _catalog.load_engine, _catalog.names("serving"))


def inference(*, model: str | Model, chip: str | Chip, devices: int | None = None, input_len: int = 1024,
              output_len: int = 1024, tp: int | None = None, pp: int | None = None, dp: int | None = None,
              ep: int | None = None, precision: str | None = None, kv_precision: str | None = None,
              concurrency: int | None = None, request_rate: float | None = None, memory_margin: float = 0.0,
              usd_per_device_hour: float | None = None, seed: int = 0, prefill_devices: int | None = None,
              decode_devices: int | None = None, prefill_chip: str | None = None, decode_chip: str | None = None,
              engine: str = "auto", speculative: str | None = None, accept_rate: float | None = None,
              draft_tokens: int | None = None, demand: str | None = None, prefill_tp: int | None = None,
              prefill_ep: int | None = None, decode_tp: int | None = None, decode_ep: int | None = None,
              length_range_ratio: float | None = None, attention_dp: int | None = None,
              files: bool = True) -> ServeResult | DisaggregatedResult:
    """Estimate serving: one configuration, or a disaggregated prefill/decode pair (:func:`xpuplan.serving.inputs.estimate`)."""
    from .serving.inputs import estimate

    return estimate(_model(model, files), _chip(chip, files), lambda name: _chip(name, files),
                    _engine(engine, speculative, accept_rate, draft_tokens), devices=devices, input_len=input_len,
                    output_len=output_len, tp=tp, pp=pp, dp=dp, ep=ep, precision=precision, kv_precision=kv_precision,
                    concurrency=concurrency, request_rate=request_rate, memory_margin=memory_margin,
                    usd_per_device_hour=usd_per_device_hour, seed=seed, prefill_devices=prefill_devices,
                    decode_devices=decode_devices, prefill_chip=prefill_chip, decode_chip=decode_chip, demand=demand,
                    pools=dict(prefill_tp=prefill_tp, prefill_ep=prefill_ep, decode_tp=decode_tp, decode_ep=decode_ep),
                    length_range_ratio=length_range_ratio, attention_dp=attention_dp)


def inference_search(*, model: str | Model, chips: list[str | Chip], input_len: int, output_len: int, slo_ttft,
                     slo_tpot, precision: str | None = None, kv_precision: str | None = None,
                     usd_per_device_hour: float | None = None, engine: str = "auto", speculative: str | None = None,
                     accept_rate: float | None = None, draft_tokens: int | None = None, demand: str | None = None,
                     slo_percentile: str = "mean", files: bool = True) -> list:
    """The cheapest configuration per chip that meets both SLOs (each chip at its best precision unless pinned),
    chips side by side (best first); a chip with none is listed last as the reason (an exception)."""
    from .serving.inputs import search

    return search(_model(model, files), [_chip(c, files) for c in chips],
                  _engine(engine, speculative, accept_rate, draft_tokens), input_len=input_len, output_len=output_len,
                  slo_ttft_s=_quantity(slo_ttft, "seconds", "slo_ttft"), slo_tpot_s=_quantity(slo_tpot, "seconds", "slo_tpot"),
                  precision=precision, kv_precision=kv_precision, usd_per_device_hour=usd_per_device_hour, demand=demand,
                  slo_percentile=slo_percentile)


# -------------------------------------------------------------------------------------------- catalog, validate

def catalog(kind: str) -> list:
    """Every catalog entry of one kind as specs (chips, systems, models, frameworks, serving), or kernel tables."""
    if kind not in _catalog.KINDS:
        raise BadInput(f"catalog kind must be one of {', '.join(_catalog.KINDS)}, got {kind!r}", "kind")
    load = {"chips": _catalog.load_chip, "systems": _catalog.load_system, "models": _catalog.load_model,
            "frameworks": _catalog.load_framework, "serving": _catalog.load_engine,
            "kernels": kernel_entry}[kind]
    return [load(name) for name in _catalog.names(kind)]


def validate(*, data: str | None = None, role: str | None = None, inference: bool = False, cv: bool = False,
             progress=None):
    """Predict every published run (training, or serving with ``inference``) and collect the errors; with ``cv``,
    the leave-one-source-out predictions of the training runs (a refit per source)."""
    from .validate import run_inference_validation, run_validation

    if cv:
        if inference:
            raise BadInput("--cv covers the training runs; leave out --inference", "cv")
        from .validate.calibrate import leave_one_source_out
        return leave_one_source_out(data, progress=progress)
    return run_inference_validation(data, role=role) if inference else run_validation(data, role=role)


def probe(*, device: str, out: str, quick: bool = False, like: str | None = None, kernels: str | None = None,
          progress=None) -> dict:
    """Measure a device with PyTorch and write a chip profile YAML (and kernel tables to ``kernels``); returns the
    profile."""
    from .probe import run_probe

    return run_probe(device, out, quick=quick, like=like, kernels=kernels, progress=progress)


def rl(*, model: str | Model, chip: str | Chip, devices: int, rollout_chip: str | Chip | None = None,
       reward_model: str | Model | None = None, framework: str | Framework = "megatron", engine: str = "vllm",
       speculative: str | None = None, accept_rate: float | None = None, draft_tokens: int | None = None,
       files: bool = True, search: bool = False, objective: str = "time", **step_options):
    """One RL step (:func:`xpuplan.rl.step`), colocated or with the rollouts on ``rollout_devices`` x ``rollout_chip``,
    generating with vLLM as NeMo RL, verl and OpenRLHF do (``speculative``: drafting, as ``inference`` takes it);
    ``search``: :func:`xpuplan.rl_search.search`."""
    from .rl import step as rl_step  # (xpuplan.rl the attribute is this function)
    from .rl_search import search as rl_search

    chip = _chip(chip, files)
    resolved = dict(model=_model(model, files), chip=chip, devices=devices, framework=_framework(framework, files),
                    rollout_chip=None if rollout_chip is None else _chip(rollout_chip, files),
                    reward_model=None if reward_model is None else _model(reward_model, files),
                    engine=_engine(engine, speculative, accept_rate, draft_tokens)(chip), **step_options)
    return rl_search(objective=objective, **resolved) if search else rl_step(**resolved)


def fleet(*, fleet, workloads, files: bool = True, **options):
    """Place runs and services on a mixed fleet (:func:`xpuplan.fleet.plan_fleet`); FLEET and WORKLOADS are YAML files
    or the mappings themselves (``files=False``: mappings only)."""
    return _plan_fleet(fleet, workloads, files=files, **options)


# --------------------------------------------------------------------------------------------- one door

def run(command: str, args: dict, *, files: bool = True):
    """One command from its options by table name (:mod:`xpuplan.flags`), as the CLI and the HTTP API call it.

    ``files=False`` (the HTTP API) takes catalog ids only: no file named in ``args`` is ever opened.
    """
    check(command, args)
    if command == "export":  # priced by the plan's own command, then written as a launch file
        return _export(args.pop("format"), run=run, files=files, **args)
    args = dict(args)
    for option in options(command, http=True):  # not given (or None): the table's default, as the CLI would
        if args.get(option.name) is None and option.default_for(command) is not None:
            default = option.default_for(command)
            args[option.name] = list(default) if isinstance(default, list) else default
    if command in ("compare", "inference"):  # --chip repeats: one name or a list of them
        chips = args.pop("chip")
        args["chips"] = [chips] if isinstance(chips, str) else list(chips)
    overrides, (prices, named) = args.pop("override", None), _chip_prices(args, files)
    if overrides or prices:
        _override_chips(args, overrides, files, prices, named)
    if command in ("train", "compare", "plan"):
        args["dp_overlap"] = not args.pop("no_dp_overlap", False)
        run_flags = {k: args.pop(k) for k in RUN_OPTION_NAMES if k in args}
        if run_flags:
            if not files:
                run_flags.pop("costs", None)
            args["run"] = run_options(**run_flags)
            if command == "plan":  # the price also ranks plans under --objective cost
                args["usd_per_device_hour"] = run_flags.get("usd_per_device_hour")
    if command in ("train", "compare", "rl", "fleet"):
        return {"train": train, "compare": compare, "rl": rl, "fleet": fleet}[command](files=files, **args)
    if command == "plan":
        return _plan_command(args, files)
    if command == "inference":
        return _inference_command(args, files)
    if command == "catalog":
        return catalog(args["kind"])
    raise BadInput(f"unknown command {command!r}", "command")


def _plan_command(args: dict, files: bool):
    pools = args.pop("pools", None) or []
    run, top, objective, deadline = args.pop("run", None), args.pop("top", 5), args.pop("objective", "time"), \
        args.pop("deadline", None)
    if pools:
        for key in ("chip", "devices", "usd_per_device_hour"):
            args.pop(key, None)
        return hetero(pools=pools, files=files, **args)
    if args.get("chip") is None or args.get("devices") is None:
        raise BadInput("plan needs --chip and --devices (or two --pool CHIP:COUNT)", "chip")
    args.pop("inter_pool_bandwidth", None)
    counts = parse_devices(args.pop("devices"))
    if len(counts) == 1 and objective != "devices":
        return plan(devices=counts[0], top=top, objective=objective, run=run, files=files, **args)
    return plan_range(counts=counts, objective=objective, deadline=deadline, top=top, run=run, files=files, **args)


def _inference_command(args: dict, files: bool):
    from .serving.inputs import search_options

    chips = args.pop("chips")
    if args.pop("search", False):
        return inference_search(chips=chips, files=files, **search_options(args))
    if len(chips) != 1:
        raise BadInput("give one --chip (several only with --search)", "chip")
    for key in ("slo_ttft", "slo_tpot", "slo_percentile"):  # (flags.check refuses an SLO without --search)
        args.pop(key, None)
    return inference(chip=chips[0], files=files, **args)


def search_size(*, model: str | Model, chip: str | Chip, counts: list[int], seq_len: int = 4096, global_batch=None,
                global_batch_tokens=None, framework: str | Framework = "megatron", allow_cross_domain_tp: bool = False,
                files: bool = True) -> int:
    """Plans a search over ``counts`` would enumerate (cheap: no pricing), to refuse an oversized one early."""
    from .search import SearchSpace, candidate_count

    model, chip = _model(model, files), _chip(chip, files)
    job = make_job(seq_len=seq_len, global_batch=global_batch, global_batch_tokens=global_batch_tokens,
                   framework=_framework(framework, files))
    space = SearchSpace(allow_cross_domain_tp=allow_cross_domain_tp)
    return sum(candidate_count(model, job, n, chip, space) for n in counts)
