"""The ``xpuplan`` command line: parse flags, call the API once, print a table or JSON.

Exit codes: 0 ok; 1 a bug; 2 bad input (one line on stderr); 3 the job does not fit.
"""

from __future__ import annotations

import dataclasses
import sys
from enum import Enum
from typing import Optional

import typer

from . import api
from .errors import BadInput, DoesNotFit
from .report import compare_table, inference_compare_table, inference_table, plan_table, print_table, scaling_plot, scaling_table, to_json, train_table, why_table
from .specs import PLAN_MEMORY_MARGIN

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Plan training of large models on mixed accelerator fleets.")


class Recompute(str, Enum):
    none = "none"
    selective = "selective"
    full = "full"


class Precision(str, Enum):
    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"


class Kind(str, Enum):
    chips = "chips"
    systems = "systems"
    models = "models"
    frameworks = "frameworks"


# Shared flag definitions (train and compare take the same job and plan flags).
MODEL = typer.Option(..., "--model", help="catalog model id or a model YAML file")
DEVICES = typer.Option(..., "--devices", help="number of devices")
SEQ_LEN = typer.Option(4096, "--seq-len", help="tokens per sequence")
GLOBAL_BATCH = typer.Option(None, "--global-batch", help="sequences per optimizer step")
GLOBAL_BATCH_TOKENS = typer.Option(None, "--global-batch-tokens", help="tokens per optimizer step, e.g. 16M")
TOKENS = typer.Option(None, "--tokens", help="token budget of the run, e.g. 15T")
MICRO_BATCH = typer.Option(None, "--micro-batch", help="sequences per micro-batch (default 1)")
TP = typer.Option(None, "--tp", help="tensor parallel (with sequence parallel)")
PP = typer.Option(None, "--pp", help="pipeline stages")
CP = typer.Option(None, "--cp", help="context parallel")
EP = typer.Option(None, "--ep", help="expert parallel (carved from dp*cp; from tp*dp*cp with --etp 1)")
ETP = typer.Option(None, "--etp", help="expert tensor parallel (default: tp); 1 keeps experts whole and folds tp into the expert groups")
VPP = typer.Option(None, "--vpp", help="virtual pipeline stages per device")
ZERO = typer.Option(None, "--zero", help="0, 1 (distributed optimizer, default), 2, 3 (FSDP)")
RECOMPUTE = typer.Option(None, "--recompute", help="activation recompute (default selective)")
PRECISION = typer.Option(None, "--precision", help="GEMM precision (default bf16)")
FRAMEWORK = typer.Option("megatron", "--framework",
                         help="training framework profile: megatron, mindspeed, torch, torch-compile, llm-foundry, deepspeed, xla, ... (see `xpuplan catalog frameworks`)")


FAILURE_RATE = typer.Option(None, "--failure-rate", help="failures per device-day (default: the chip's catalog rate)")
CKPT_BW = typer.Option("100GB/s", "--checkpoint-bandwidth", help="aggregate checkpoint write bandwidth")
ASYNC_CKPT = typer.Option(False, "--async-checkpoint", help="block only for the device-to-host copy")
CKPT_INTERVAL = typer.Option(None, "--checkpoint-interval", help="training time between checkpoints, e.g. 30min (default: optimal)")
RESTART_TIME = typer.Option(None, "--restart-time", help="detection + reschedule + reload, e.g. 5min (overrides --restart-tier)")
RESTART_TIER = typer.Option("automated", "--restart-tier", help="manual (2 h), automated (15 min), advanced (3 min), in-memory (45 s)")
SPARES = typer.Option(None, "--spares", help="spare devices standing by (default: enough; the report gives the P99 need)")
TRIALS = typer.Option(2000, "--trials", help="Monte Carlo trials for the P10/P50/P90 run time")
SEED = typer.Option(0, "--seed", help="Monte Carlo seed")
COSTS = typer.Option(None, "--costs", help="YAML file of cost settings (the flags below override it)")
USD_HOUR = typer.Option(None, "--usd-per-device-hour", help="rental price (default: the chip's catalog price)")
OWNERSHIP = typer.Option(False, "--ownership", help="price owned hardware: depreciation + energy")
PURCHASE = typer.Option(None, "--purchase-usd", help="purchase price per device (default: catalog)")
DEPRECIATION = typer.Option(None, "--depreciation-years", help="straight-line depreciation, years (default 4)")
RESIDUAL = typer.Option(None, "--residual-fraction", help="value left after depreciation (default 0.2)")
POWER_PRICE = typer.Option(None, "--power-usd-per-kwh", help="electricity price (default 0.08)")
PUE = typer.Option(None, "--pue", help="site power usage effectiveness (default 1.3)")
POWER_UTIL = typer.Option(None, "--power-utilisation", help="fraction of TDP drawn while training (default 0.8)")
RUN_FLAGS = ("failure_rate", "checkpoint_bandwidth", "async_checkpoint", "checkpoint_interval", "restart_time",
             "restart_tier", "spares", "trials", "seed", "costs", "usd_per_device_hour", "ownership", "purchase_usd",
             "depreciation_years", "residual_fraction", "power_usd_per_kwh", "pue", "power_utilisation")


def _split_run(args: dict) -> dict:
    """Move the reliability and cost flags out of ``args`` into a parsed ``run`` entry."""
    flags = {k: args.pop(k) for k in RUN_FLAGS if k in args}
    args["run"] = api.run_options(**flags)
    return args


def _enum_values(**values) -> dict:
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items()}


EP_OVERLAP = typer.Option(0.0, "--ep-overlap", help="share of the EP all-to-all that hides behind another "
                          "micro-batch's compute (0..1; never more than that compute)")
EP_DEDUP = typer.Option(False, "--ep-dedup", help="expert dispatch sends a token once per remote node and fans out "
                        "inside it (DeepEP, HybridEP)")


@app.command()
def train(
    model: str = MODEL,
    chip: str = typer.Option(..., "--chip", help="catalog chip id or a chip YAML file (e.g. from `xpuplan probe`)"),
    devices: int = DEVICES,
    seq_len: int = SEQ_LEN,
    global_batch: Optional[int] = GLOBAL_BATCH,
    global_batch_tokens: Optional[str] = GLOBAL_BATCH_TOKENS,
    tokens: Optional[str] = TOKENS,
    micro_batch: Optional[int] = MICRO_BATCH,
    tp: Optional[int] = TP,
    pp: Optional[int] = PP,
    dp: Optional[int] = typer.Option(None, "--dp", help="data parallel (default: devices / (tp*pp*cp))"),
    cp: Optional[int] = CP,
    ep: Optional[int] = EP,
    etp: Optional[int] = ETP,
    vpp: Optional[int] = VPP,
    zero: Optional[int] = ZERO,
    recompute: Optional[Recompute] = RECOMPUTE,
    precision: Optional[Precision] = PRECISION,
    tp_overlap: float = typer.Option(0.0, "--tp-overlap", help="fraction of TP communication hidden (0..1)"),
    no_dp_overlap: bool = typer.Option(False, "--no-dp-overlap", help="do not overlap DP communication with compute"),
    ep_overlap: float = EP_OVERLAP,
    ep_dedup: bool = EP_DEDUP,
    memory_margin: float = typer.Option(0.0, "--memory-margin", help="fraction of device memory kept free"),
    framework: str = FRAMEWORK,
    failure_rate: Optional[str] = FAILURE_RATE,
    checkpoint_bandwidth: str = CKPT_BW,
    async_checkpoint: bool = ASYNC_CKPT,
    checkpoint_interval: Optional[str] = CKPT_INTERVAL,
    restart_time: Optional[str] = RESTART_TIME,
    restart_tier: str = RESTART_TIER,
    spares: Optional[int] = SPARES,
    trials: int = TRIALS,
    seed: int = SEED,
    costs: Optional[str] = COSTS,
    usd_per_device_hour: Optional[float] = USD_HOUR,
    ownership: bool = OWNERSHIP,
    purchase_usd: Optional[float] = PURCHASE,
    depreciation_years: Optional[float] = DEPRECIATION,
    residual_fraction: Optional[float] = RESIDUAL,
    power_usd_per_kwh: Optional[float] = POWER_PRICE,
    pue: Optional[float] = PUE,
    power_utilisation: Optional[float] = POWER_UTIL,
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Estimate step time, MFU, memory, run time with failures, and cost of one job under one plan."""
    args = _enum_values(**locals())
    args.pop("as_json")
    args["dp_overlap"] = not args.pop("no_dp_overlap")
    result = api.train(**_split_run(args))
    if as_json:
        typer.echo(to_json(result.to_dict()))
    else:
        print_table(train_table(result))
    if not result.fits:
        raise DoesNotFit(result.not_fit_reason())


@app.command()
def compare(
    model: str = MODEL,
    chips: list[str] = typer.Option(..., "--chip", help="chip id or file; repeat to compare"),
    devices: int = DEVICES,
    seq_len: int = SEQ_LEN,
    global_batch: Optional[int] = GLOBAL_BATCH,
    global_batch_tokens: Optional[str] = GLOBAL_BATCH_TOKENS,
    tokens: Optional[str] = TOKENS,
    micro_batch: Optional[int] = MICRO_BATCH,
    tp: Optional[int] = TP,
    pp: Optional[int] = PP,
    cp: Optional[int] = CP,
    ep: Optional[int] = EP,
    etp: Optional[int] = ETP,
    vpp: Optional[int] = VPP,
    zero: Optional[int] = ZERO,
    recompute: Optional[Recompute] = RECOMPUTE,
    precision: Optional[Precision] = PRECISION,
    framework: str = FRAMEWORK,
    as_json: bool = typer.Option(False, "--json", help="print a list of train --json objects"),
) -> None:
    """The same job and plan on several chips, side by side."""
    args = _enum_values(**locals())
    args.pop("as_json")
    results = [api.train(chip=c, **{k: v for k, v in args.items() if k != "chips"}) for c in chips]
    if as_json:
        typer.echo(to_json([r.to_dict() for r in results]))
    else:
        print_table(compare_table(results))


class Objective(str, Enum):
    time = "time"
    cost = "cost"
    devices = "devices"


@app.command("plan")
def plan_cmd(
    model: str = MODEL,
    chip: Optional[str] = typer.Option(None, "--chip", help="catalog chip id or chip YAML file"),
    devices: Optional[str] = typer.Option(None, "--devices", help="a count (1024) or a range (1024..16384)"),
    pools: list[str] = typer.Option([], "--pool", help="CHIP:COUNT; give two to plan one job over two chip kinds"),
    seq_len: int = SEQ_LEN,
    global_batch: Optional[int] = GLOBAL_BATCH,
    global_batch_tokens: Optional[str] = GLOBAL_BATCH_TOKENS,
    tokens: Optional[str] = TOKENS,
    top: int = typer.Option(5, "--top", help="how many plans to show"),
    objective: Objective = typer.Option(Objective.time, "--objective", help="time, cost, or devices (fewest meeting --deadline)"),
    deadline: Optional[str] = typer.Option(None, "--deadline", help="with --objective devices: e.g. 90d, 2000h"),
    precision: Precision = typer.Option(Precision.bf16, "--precision", help="GEMM precision of every plan"),
    allow_cross_domain_tp: bool = typer.Option(False, "--allow-cross-domain-tp", help="let tp*ep span scale-up domains"),
    memory_margin: float = typer.Option(PLAN_MEMORY_MARGIN, "--memory-margin", help="fraction of device memory kept free"),
    usd_per_device_hour: Optional[float] = USD_HOUR,
    failure_rate: Optional[str] = FAILURE_RATE,
    checkpoint_bandwidth: str = CKPT_BW,
    async_checkpoint: bool = ASYNC_CKPT,
    restart_tier: str = RESTART_TIER,
    trials: int = typer.Option(500, "--trials", help="Monte Carlo trials per shown plan"),
    seed: int = SEED,
    costs: Optional[str] = COSTS,
    ownership: bool = OWNERSHIP,
    inter_pool_bandwidth: Optional[str] = typer.Option(None, "--inter-pool-bandwidth", help="per-device link between pools, e.g. 100Gbps"),
    framework: str = FRAMEWORK,
    ep_overlap: float = EP_OVERLAP,
    ep_dedup: bool = EP_DEDUP,
    plot: Optional[str] = typer.Option(None, "--plot", help="with a --devices range: write tokens/s and MFU vs devices to this HTML file"),
    as_json: bool = typer.Option(False, "--json", help="a list of train --json objects, best first"),
) -> None:
    """Search every valid parallel plan and show the best ones, and why the best wins."""
    common = dict(model=model, seq_len=seq_len, global_batch=global_batch, global_batch_tokens=global_batch_tokens,
                  tokens=tokens, precision=precision.value, framework=framework, memory_margin=memory_margin,
                  ep_overlap=ep_overlap, ep_dedup=ep_dedup)
    if pools:
        from .hetero import hetero_plan, hetero_tables
        result = hetero_plan(pools=pools, inter_pool_bandwidth=inter_pool_bandwidth,
                             allow_cross_domain_tp=allow_cross_domain_tp, **common)
        if as_json:
            typer.echo(to_json(result.to_dict()))
        else:
            for table in hetero_tables(result):
                print_table(table, min_width=130)
        return
    if chip is None or devices is None:
        raise BadInput("plan needs --chip and --devices (or two --pool CHIP:COUNT)", "chip")
    counts = api.parse_devices(devices)
    run = api.run_options(failure_rate=failure_rate, checkpoint_bandwidth=checkpoint_bandwidth,
                          async_checkpoint=async_checkpoint, restart_tier=restart_tier, trials=trials, seed=seed,
                          costs=costs, usd_per_device_hour=usd_per_device_hour, ownership=ownership)
    kwargs = dict(chip=chip, allow_cross_domain_tp=allow_cross_domain_tp, usd_per_device_hour=usd_per_device_hour,
                  run=run, **common)
    if len(counts) == 1 and objective != Objective.devices:
        result = api.plan(devices=counts[0], top=top, objective=objective.value, **kwargs)
        if as_json:
            typer.echo(to_json(result.to_list()))
            return
        title = (f"best {len(result.plans)} of {result.fitting:,} fitting plans ({result.valid:,} valid, "
                 f"{result.enumerated:,} enumerated) for {result.plans[0].model.name} on {counts[0]} x "
                 f"{result.plans[0].chip.name}, by {objective.value}")
        print_table(plan_table(result.plans, title), min_width=150)
        if len(result.plans) > 1:
            print_table(why_table(result.plans[0], result.plans[1]))
        return
    best = api.plan_range(counts=counts, objective=objective.value, deadline=deadline, top=top, **kwargs)
    if as_json:
        typer.echo(to_json([r.to_dict() for r in best]))
        return
    print_table(scaling_table(best), min_width=130)
    if plot:
        scaling_plot(sorted(best, key=lambda r: r.devices), plot)
        typer.echo(f"plot written to {plot}")


@app.command("inference")
def inference_cmd(
    model: str = MODEL,
    chips: list[str] = typer.Option(..., "--chip", help="chip id or file (repeat with --search to compare chips)"),
    devices: Optional[int] = typer.Option(None, "--devices", help="devices serving (all replicas)"),
    input_len: int = typer.Option(1024, "--input-len", help="prompt tokens per request"),
    output_len: int = typer.Option(1024, "--output-len", help="generated tokens per request"),
    tp: Optional[int] = TP,
    pp: Optional[int] = PP,
    dp: Optional[int] = typer.Option(None, "--dp", help="replicas (default: devices / (tp*pp))"),
    ep: Optional[int] = EP,
    precision: str = typer.Option("bf16", "--precision", help="weights/activations: bf16, fp8, int8, int4 (weight-only), fp4"),
    kv_precision: Optional[str] = typer.Option(None, "--kv-precision", help="KV cache: bf16, fp8, int8 (default follows --precision)"),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="closed loop: sequences in flight (default: as many as fit)"),
    request_rate: Optional[float] = typer.Option(None, "--request-rate", help="open loop: Poisson arrivals per second"),
    seed: int = SEED,
    prefill_devices: Optional[int] = typer.Option(None, "--prefill-devices", help="disaggregated: devices of the prefill pool"),
    decode_devices: Optional[int] = typer.Option(None, "--decode-devices", help="disaggregated: devices of the decode pool"),
    prefill_chip: Optional[str] = typer.Option(None, "--prefill-chip", help="disaggregated: chip of the prefill pool"),
    decode_chip: Optional[str] = typer.Option(None, "--decode-chip", help="disaggregated: chip of the decode pool"),
    search: bool = typer.Option(False, "--search", help="cheapest configuration per chip meeting --slo-ttft/--slo-tpot"),
    slo_ttft: Optional[str] = typer.Option(None, "--slo-ttft", help="e.g. 2s"),
    slo_tpot: Optional[str] = typer.Option(None, "--slo-tpot", help="e.g. 50ms"),
    usd_per_device_hour: Optional[float] = USD_HOUR,
    engine: str = typer.Option("trt-llm", "--engine", help="serving-engine profile: trt-llm, vllm (calibrated) or roofline (ideal)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Serving estimate: TTFT, TPOT, throughput, memory and $/1M tokens; or an SLO search across chips."""
    if search:
        if slo_ttft is None or slo_tpot is None:
            raise BadInput("--search needs --slo-ttft and --slo-tpot", "slo_ttft")
        results = api.inference_search(model=model, chips=chips, input_len=input_len, output_len=output_len,
                                       slo_ttft=slo_ttft, slo_tpot=slo_tpot, precision=precision,
                                       kv_precision=kv_precision, usd_per_device_hour=usd_per_device_hour)
        if as_json:
            typer.echo(to_json([r.to_dict() if not isinstance(r, Exception) else {"error": str(r)} for r in results]))
        else:
            print_table(inference_compare_table(results, f"TTFT <= {slo_ttft}, TPOT <= {slo_tpot}"), min_width=120)
        return
    if len(chips) != 1:
        raise BadInput("give one --chip (several only with --search)", "chip")
    result = api.inference(model=model, chip=chips[0], devices=devices, input_len=input_len, output_len=output_len,
                           tp=tp, pp=pp, dp=dp, ep=ep, precision=precision, kv_precision=kv_precision,
                           concurrency=concurrency, request_rate=request_rate, seed=seed,
                           usd_per_device_hour=usd_per_device_hour, prefill_devices=prefill_devices,
                           decode_devices=decode_devices, prefill_chip=prefill_chip, decode_chip=decode_chip,
                           engine=engine)
    if isinstance(result, dict):  # disaggregated
        typer.echo(to_json(result))
        return
    if as_json:
        typer.echo(to_json(result.to_dict()))
    else:
        print_table(inference_table(result))


@app.command("catalog")
def catalog_cmd(kind: Kind = typer.Argument(..., help="chips, systems or models"),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """List the bundled catalog with its figures, sources and confidence."""
    from .catalog_view import catalog_rows, catalog_table
    rows = catalog_rows(kind.value)
    if as_json:
        typer.echo(to_json(rows))
    else:
        print_table(catalog_table(kind.value, rows), min_width=150)


@app.command()
def validate(data: Optional[str] = typer.Option(None, "--data", help="a validation YAML file or folder"),
             as_json: bool = typer.Option(False, "--json"),
             markdown: bool = typer.Option(False, "--markdown", help="print a Markdown table (for reports)"),
             role: Optional[str] = typer.Option(None, "--role", help="only runs of this role: main or holdout"),
             inference: bool = typer.Option(False, "--inference", help="serving runs (data/validation/inference) instead")) -> None:
    """Predict every published run in data/validation and report the error."""
    if inference:
        from .validate import inference_markdown, inference_summary, run_inference_validation
        checks = run_inference_validation(data, role=role)
        if as_json:
            typer.echo(to_json({"summary": {"main": inference_summary(checks, "main"),
                                            "holdout": inference_summary(checks, "holdout")},
                                "runs": [dataclasses.asdict(c) | {"error": c.error} for c in checks]}))
        else:
            typer.echo(inference_markdown(checks))
        return
    from .validate import run_validation, validation_markdown, validation_table
    report = run_validation(data, role=role)
    if as_json:
        typer.echo(to_json(report.to_dict()))
    elif markdown:
        typer.echo(validation_markdown(report))
    else:
        print_table(validation_table(report), min_width=190)


@app.command()
def web(host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
        port: int = typer.Option(8000, "--port", help="port to listen on")) -> None:
    """Serve the HTTP API and the web page with plots (needs the web extra)."""
    try:
        import uvicorn

        from .web.app import app as web_app
    except ImportError:
        raise BadInput("xpuplan web needs FastAPI and uvicorn: pip install 'xpuplan[web]'", "web") from None
    if not 0 < port < 65536:
        raise BadInput(f"--port must be in 1..65535, got {port}", "port")
    uvicorn.run(web_app, host=host, port=port, log_level="warning")


@app.command()
def probe(device: str = typer.Option(..., "--device", help="device kind: cuda, npu, musa, mlu, xpu or cpu"),
          out: str = typer.Option(..., "--out", help="chip profile YAML to write (its stem names the chip)"),
          quick: bool = typer.Option(False, "--quick", help="small shapes and few steps (a cpu probe takes seconds)"),
          like: Optional[str] = typer.Option(None, "--like", help="catalog chip whose links, power and price to copy")) -> None:
    """Measure a device with PyTorch and write a chip profile YAML (then use --chip FILE)."""
    from rich.console import Console

    from .probe import run_probe

    with Console(stderr=True).status(f"probing {device}") as status:
        profile = run_probe(device, out, quick=quick, like=like, progress=lambda line: status.update(line))
    eff, step = profile["efficiency"], profile["measured"]["train_step"]
    peaks = ", ".join(f"{k} {v}" for k, v in profile["peak_flops"].items())
    typer.echo(f"{profile['name']}: {profile['measured']['device_name']}")
    typer.echo(f"  peak (measured GEMM)  {peaks}")
    typer.echo(f"  memory bandwidth      {profile['hbm']['bandwidth']}")
    typer.echo(f"  GEMM fit              gemm_max {eff['gemm_max']:.3f}, gemm_half_flops {eff['gemm_half_flops']:.3g} FLOP")
    typer.echo(f"  attention fwd / bwd   {eff['attention_fwd']:.3f} / {eff['attention_bwd']:.3f} of the peak")
    typer.echo(f"  train step            {step['params'] / 1e6:.1f}M params, {step['tokens_per_s']:.4g} tokens/s, "
               f"MFU {step['mfu']:.1%}; xpuplan predicts {step['predicted_step_s']:.4g} s vs "
               f"{step['measured_step_s']:.4g} s measured ({step['error']:+.1%})")
    typer.echo(f"wrote {out}; use it with: xpuplan train --chip {out} ...")


def _is_usage_error(exc: Exception) -> bool:
    """The CLI parser's own errors (click's UsageError family, vendored or not) carry these two attributes."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns expected errors into one line and an exit code."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="xpuplan", standalone_mode=False)
    except BadInput as exc:
        typer.echo(f"xpuplan: error: {exc}", err=True)
        sys.exit(2)
    except DoesNotFit as exc:
        typer.echo(f"xpuplan: {exc}", err=True)
        sys.exit(3)
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message())
            sys.exit(0)
        message = " ".join(exc.format_message().split())
        typer.echo(f"xpuplan: error: {message} (see `xpuplan {' '.join((argv or sys.argv[1:])[:1])} --help`)", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
