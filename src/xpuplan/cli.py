"""The ``xpuplan`` command line: options from :mod:`xpuplan.flags`, one call to :func:`xpuplan.api.run`, a table or
JSON from :mod:`xpuplan.report`.

Exit codes: 0 ok; 1 a bug; 2 bad input (one line on stderr); 3 the job does not fit.

The API and the reports load when a command runs, not for ``--help`` or ``--version``: the start stays fast
(benchmarks/bench_startup.py).
"""

from __future__ import annotations

import json
import sys
import warnings

import typer

from . import flags

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Plan training of large models on mixed accelerator fleets.")


def _version(value: bool) -> None:
    """``--version``: the installed package's version (its metadata), then exit."""
    if value:
        from importlib.metadata import version

        typer.echo(f"xpuplan {version('xpuplan')}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """Plan training of large models on mixed accelerator fleets."""


HELP = {
    "train": "Estimate step time, MFU, memory, run time with failures, and cost of one job under one plan.",
    "compare": "The same job and plan on several chips, side by side.",
    "plan": "Search every valid parallel plan and show the best ones, and why the best wins.",
    "inference": "Serving estimate: TTFT, TPOT, throughput, memory and $/1M tokens; or an SLO search across chips.",
    "catalog": "List the bundled catalog with its figures, sources and confidence.",
    "rl": "One step of RL post-training (GRPO/PPO): rollouts, log-prob passes, update, weight sync.",
    "fleet": "Place training runs and services on a mixed fleet at least cost (MILP), against a one-chip-kind fleet.",
    "export": "Write the launch flags or config file that realise a plan: Megatron-LM, MindSpeed-LLM, torchtitan, "
              "DeepSpeed, vLLM or SGLang.",
    "validate": "Predict every published run in data/validation and report the error.",
    "web": "Serve the HTTP API and the web page with plots (needs the web extra).",
    "probe": "Measure a device with PyTorch and write a chip profile YAML (then use --chip FILE).",
    "sweep": "Run a grid of train/plan/inference/rl points in local processes or on Ray; one Parquet row per point.",
    "scenarios": "Answer the seed questions (TeleChat3 on 910B vs H800, DeepSeek-V3's GPU-hours, 1T on six chips, ...) "
                 "as a Markdown page with its commands, anchors and plots.",
    "schema": "Print the JSON Schema of a chip, model or job file (for an editor's YAML language server).",
}


def _estimate(command: str):
    def handle(args: dict) -> None:
        from . import api, report

        as_json, plot, write_rows = args.pop("json", False), args.pop("plot", None), _tables(args)
        if plot is not None:
            _check_plot(plot, args)
        result = api.run(command, args)
        unfit = command == "train" and not result.fits
        write_rows(report.as_json(result))
        if as_json:  # one JSON document: a job that does not fit carries the error keys beside its estimate
            out = report.as_json(result)
            if unfit:
                out = out | {"error": result.not_fit_reason(), "field": None, "exit_code": 3}
            typer.echo(report.to_json(out))
        else:
            for table, width in report.tables(command, result, args):
                report.print_table(table, min_width=width)
        if plot and isinstance(result, list):
            from .report.plots import scaling_plot
            scaling_plot(sorted(result, key=lambda r: r.devices), plot)
            typer.echo(f"plot written to {plot}", err=True)
        if unfit:
            raise api.DoesNotFit(result.not_fit_reason(), printed=as_json)
    return handle


def _check_plot(path: str, args: dict) -> None:
    """--plot needs a range of device counts and a folder to write into: said before any work starts."""
    from pathlib import Path

    from . import api

    if args.get("pools") or ".." not in str(args.get("devices") or ""):
        raise api.BadInput("--plot draws the best plan per device count: give --devices as a range (1024..16384)",
                           "plot")
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise api.BadInput(f"--plot {path}: folder {folder} does not exist; create it or write elsewhere", "plot")


def _fleet(args: dict) -> None:
    """Allocation, costs and baseline as tables or JSON; the plot only once the plan is made (bad input writes
    nothing)."""
    from pathlib import Path

    from . import api, report

    as_json, plot, write_rows = args.pop("json", False), args.pop("plot", None), _tables(args)
    if plot is not None and not Path(plot).expanduser().resolve().parent.is_dir():
        raise api.BadInput(f"--plot {plot}: its folder does not exist; create it or write elsewhere", "plot")
    result = api.run("fleet", args)
    write_rows(report.as_json(result))
    if as_json:
        typer.echo(report.to_json(report.as_json(result)))
    else:
        for table, width in report.tables("fleet", result, args):
            report.print_table(table, min_width=width)
    if plot:
        from .report.fleet import fleet_plot
        fleet_plot(result, plot)
        typer.echo(f"plot written to {plot}", err=True)


def _catalog(args: dict) -> None:
    from . import api, report
    from .report.catalog import catalog_rows, catalog_table
    write_rows = _tables(args)
    rows = catalog_rows(args["kind"], api.run("catalog", args))
    write_rows(rows)
    if args["json"]:
        typer.echo(report.to_json(rows))
    else:
        report.print_table(catalog_table(args["kind"], rows), min_width=150)


def _validate(args: dict) -> None:
    from . import api, report
    from .report.validation import inference_json, inference_markdown, validation_markdown, validation_table

    write_rows = _tables(args)
    if args["cv"]:
        from rich.console import Console

        from .report.validation import cv_json, cv_markdown
        with Console(stderr=True).status("leave-one-source-out") as status:
            result = api.validate(data=args["data"], cv=True, progress=lambda line: status.update(line))
        write_rows(cv_json(result))
        typer.echo(report.to_json(cv_json(result)) if args["json"] else cv_markdown(result))
        return
    result = api.validate(data=args["data"], role=args["role"], inference=args["inference"])
    write_rows(inference_json(result) if args["inference"] else result.to_dict())
    if args["inference"]:
        if args["json"]:
            typer.echo(report.to_json(inference_json(result)))
        else:
            typer.echo(inference_markdown(result))
    elif args["json"]:
        typer.echo(report.to_json(result.to_dict()))
    elif args["markdown"]:
        typer.echo(validation_markdown(result))
    else:
        report.print_table(validation_table(result), min_width=190)


def _tables(args: dict):
    """--csv/--parquet (popped from ``args``, their folders checked before any work): a function writing a result's
    ``--json`` object as rows."""
    paths = {"csv": args.pop("csv", None), "parquet": args.pop("parquet", None)}
    if not any(paths.values()):
        return lambda obj: None
    from .report import frames
    frames.check_targets(paths)

    def write(obj) -> None:
        for path in frames.write(obj, **paths):
            typer.echo(f"rows written to {path}", err=True)
    return write


def _export(args: dict) -> None:
    """The launch file on stdout or in --out, or it and its facts as JSON; DeepSpeed's Megatron-DeepSpeed flags go
    beside its JSON config (to stderr when the config goes to stdout)."""
    from pathlib import Path

    from . import api, report

    as_json, out = args.pop("json", False), args.get("out")
    if out is not None and not Path(out).expanduser().resolve().parent.is_dir():
        raise api.BadInput(f"--out {out}: its folder does not exist; create it or write elsewhere", "out")
    done = api.run("export", args)
    if out is not None:
        Path(out).expanduser().write_text(done.text)
        typer.echo(f"{done.version}: {done.format} launch file written to {out}", err=True)
    if as_json:
        typer.echo(report.to_json(done.to_dict()))
    elif out is None:
        typer.echo(done.text, nl=False)
    if done.launcher and not as_json:
        typer.echo(done.launcher, nl=False, err=out is None)


def _web(args: dict) -> None:
    from . import api

    try:
        import uvicorn

        from .web.app import app as web_app
    except ImportError:
        raise api.BadInput("xpuplan web needs FastAPI and uvicorn: pip install 'xpuplan[web]'", "web") from None
    if not 0 < args["port"] < 65536:
        raise api.BadInput(f"--port must be in 1..65535, got {args['port']}", "port")
    uvicorn.run(web_app, host=args["host"], port=args["port"], log_level="warning")


def _probe(args: dict) -> None:
    from rich.console import Console

    from . import api

    with Console(stderr=True).status(f"probing {args['device']}") as status:
        profile = api.probe(progress=lambda line: status.update(line), **args)
    from .report.probe import probe_lines
    for line in probe_lines(profile, args["out"]):
        typer.echo(line)


def _sweep(args: dict) -> None:
    """Every point of SPEC.yaml, rows to --out (resumed when it exists), a progress bar, then one summary line (or
    the summary as JSON)."""
    from .sweep import run as run_sweep

    try:
        _, done = run_sweep(args["spec"], out=args["out"], ray=args["ray"], workers=args["workers"], progress=True)
    except KeyboardInterrupt:
        typer.echo(f"xpuplan: interrupted; the points done are in {args['out']}; run again to resume", err=True)
        raise typer.Exit(130) from None
    if args["json"]:
        typer.echo(json.dumps(done))
        return
    typer.echo(f"{done['points']} points: {done['ok']} ok, {done['does_not_fit']} do not fit, {done['bad_input']} bad "
               f"input, {done['error']} errors; ran {done['ran']}, {done['skipped']} already in {done['out']} "
               f"({done['seconds']:.1f} s)")


def _scenarios(args: dict) -> None:
    """Write the scenarios page (and its plots); one line per section on stderr while it runs, then where it went
    (or the headline numbers as JSON)."""
    import time

    from .scenarios import run as run_scenarios

    start = time.perf_counter()
    done = run_scenarios(args["out"], progress=lambda name: typer.echo(f"scenarios: {name}", err=True))
    seconds = time.perf_counter() - start
    if args["json"]:
        typer.echo(json.dumps({**done, "seconds": seconds}, indent=2, default=str))
        return
    typer.echo(f"wrote {done['out']} and {done['plots']} ({len(done['sections'])} scenarios, {seconds:.0f} s)")


def _schema(args: dict) -> None:
    """The JSON Schema on stdout (``xpuplan schema model > model.schema.json``)."""
    from . import api

    typer.echo(json.dumps(api.schema(args["kind"], args["command"]), indent=2))


HANDLERS = {"train": _estimate("train"), "compare": _estimate("compare"), "plan": _estimate("plan"),
            "inference": _estimate("inference"), "rl": _estimate("rl"), "fleet": _fleet, "export": _export,
            "catalog": _catalog,
            "validate": _validate, "web": _web, "probe": _probe, "sweep": _sweep, "scenarios": _scenarios,
            "schema": _schema}
for _command in flags.COMMANDS:
    app.command(_command, help=HELP[_command])(flags.typer_command(_command, HANDLERS[_command]))


def _is_usage_error(exc: Exception) -> bool:
    """The CLI parser's own errors (click's UsageError family, vendored or not) carry these two attributes."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def _given_value(opts: list[str], args: list[str]) -> str | None:
    """The last value ``args`` give one of the flags ``opts`` (``--flag value`` or ``--flag=value``)."""
    value = None
    for i, arg in enumerate(args):
        flag, eq, rest = arg.partition("=")
        if flag in opts:
            value = rest if eq else (args[i + 1] if i + 1 < len(args) else None)
    return value


def _usage_hint(exc: Exception, args: list[str]) -> tuple[str, str | None]:
    """For a parser error on one option: the option's name (the JSON ``field``) and, where the option takes one of a
    fixed set of values, the closest of them to the value given (`` did you mean bf16-moments?``)."""
    import difflib

    param = getattr(exc, "param", None)
    name = getattr(param, "name", None)
    if not name or not args or args[0] not in flags.COMMANDS:
        return "", None
    choices = next((o.choices for o in flags.options(args[0]) if o.name == name and o.choices), None)
    given = _given_value(list(getattr(param, "opts", None) or []), args) if choices else None
    close = difflib.get_close_matches(given, choices, n=1, cutoff=0.5) if given else []
    return (f" Did you mean {close[0]}?" if close else ""), name


def _fail(line: str, code: int, argv: list[str], error: str, field: str | None = None,
          json_object: bool = True) -> None:
    """Exit with ``code`` after one line on stderr; under ``--json`` stdout also gets the error as a JSON object
    (``{"error", "field", "exit_code"}``), so a script reading stdout never meets a bare traceback or nothing
    (``json_object`` False: the command's own JSON already carries those keys)."""
    typer.echo(line, err=True)
    if json_object and "--json" in argv:
        typer.echo(json.dumps({"error": error, "field": field, "exit_code": code}))
    sys.exit(code)


def _notes(shown):
    """A ``warnings.showwarning`` that prints xpuplan's own warnings (a Hugging Face config field the model schema
    cannot hold, ...) as one ``xpuplan: note:`` line on stderr, and passes any other warning to ``shown``."""
    def show(message, category, *rest) -> None:
        if category.__module__.startswith("xpuplan."):
            typer.echo(f"xpuplan: note: {message}", err=True)
        else:
            shown(message, category, *rest)
    return show


def _with_job_file(args: list[str]) -> list[str]:
    """``--config FILE`` on any command: the file's options go before the command line's, which override them."""
    path = flags.jobs.config_path(args[1:]) if args and args[0] in flags.COMMANDS else None
    if path is None:
        return args
    from pathlib import Path

    from . import api

    return args[:1] + flags.jobs.with_job_file(args[0], args[1:], api.read_job_file(Path(path)), path)


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns expected errors into one line and an exit code."""
    command = typer.main.get_command(app)
    args = list(argv if argv is not None else sys.argv[1:])
    try:
        args = _with_job_file(args)
        with warnings.catch_warnings():
            warnings.showwarning = _notes(warnings.showwarning)
            command.main(args=args, prog_name="xpuplan", standalone_mode=False)
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception as exc:
        if _is_usage_error(exc):
            if type(exc).__name__ == "NoArgsIsHelpError":
                typer.echo(exc.format_message())
                sys.exit(0)
            hint, field = _usage_hint(exc, args)
            message = " ".join(exc.format_message().split()) + hint
            _fail(f"xpuplan: error: {message} (see `xpuplan {' '.join(args[:1])} --help`)", 2, args, message, field)
        from . import api  # loaded already by the command that raised

        if isinstance(exc, api.BadInput):
            _fail(f"xpuplan: error: {exc}", 2, args, str(exc), exc.field)
        if isinstance(exc, api.DoesNotFit):
            _fail(f"xpuplan: {exc}", 3, args, str(exc), json_object=not exc.printed)
        raise


if __name__ == "__main__":
    main()
