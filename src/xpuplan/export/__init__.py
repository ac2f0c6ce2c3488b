"""Launch files that realise a plan: Megatron-LM and MindSpeed-LLM argument files, a torchtitan TOML job file, a
DeepSpeed JSON config with its Megatron-DeepSpeed flags, and vLLM and SGLang server command lines.

* :mod:`.launch` — the facts a launch file states, from a result or from its ``--json`` object
* :mod:`.megatron` — ``megatron``, ``mindspeed``
* :mod:`.torchtitan` — ``torchtitan``
* :mod:`.deepspeed` — ``deepspeed``
* :mod:`.serving` — ``vllm``, ``sglang``
* :mod:`.text` — writing and reading flag files

Each output names the framework version whose flag list it follows, in a comment line and as ``version``; a plan a
format cannot express (torchtitan has no ZeRO-1, DeepSpeed's pipeline no interleaving, ...) is one BadInput line
naming it. :func:`plan_from_export` reads an exported file back into the plan's degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import BadInput, DoesNotFit
from ..flags.export import SERVING_ROWS
from . import deepspeed, megatron, serving, torchtitan
from .launch import ServeLaunch, TrainLaunch, from_result, pick_entry, serve_from_json, train_from_json

TRAINING_FORMATS = ("megatron", "mindspeed", "torchtitan", "deepspeed")
SERVING_FORMATS = ("vllm", "sglang")
FORMATS = TRAINING_FORMATS + SERVING_FORMATS
VERSIONS = {**megatron.VERSIONS, "torchtitan": torchtitan.VERSION, "deepspeed": deepspeed.VERSION, **serving.VERSIONS}
SOURCES = {**megatron.SOURCES, "torchtitan": torchtitan.SOURCE, "deepspeed": deepspeed.SOURCE, **serving.SOURCES}
SERVING_ONLY = SERVING_ROWS
"""export options that only a serving plan takes (the options table's serving rows of export)"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Exported:
    """One launch file."""

    format: str
    version: str
    """the framework release whose flag list the file follows"""
    text: str
    """the file: flags, a TOML job file, or a JSON config"""
    filename: str
    """a name for it"""
    launcher: str = ""
    """deepspeed: the Megatron-DeepSpeed flags file that names the config"""
    plan: dict = field(default_factory=dict)
    """the degrees realised"""

    def to_dict(self) -> dict:
        out = {"format": self.format, "version": self.version, "source": SOURCES[self.format],
               "filename": self.filename, "text": self.text, "plan": dict(self.plan)}
        if self.launcher:
            out["launcher"] = self.launcher
        return out


def _header(fmt: str, launch) -> list[str]:
    return [f"{VERSIONS[fmt]}: flag names from {SOURCES[fmt]}",
            f"written by xpuplan export --format {fmt} for {launch.model_name} on {launch.devices} devices"]


def render(fmt: str, launch: TrainLaunch | ServeLaunch, config_file: str | None = None) -> Exported:
    """The launch file of ``fmt`` for one plan."""
    serving_plan = isinstance(launch, ServeLaunch)
    if serving_plan != (fmt in SERVING_FORMATS):
        kind, formats = ("serving", SERVING_FORMATS) if serving_plan else ("training", TRAINING_FORMATS)
        raise BadInput(f"--format {fmt} writes {'training' if serving_plan else 'serving'} launch files; this is a "
                       f"{kind} plan: use --format {', '.join(formats[:-1])} or {formats[-1]}", "format")
    header, launcher = _header(fmt, launch), ""
    if fmt in ("megatron", "mindspeed"):
        text, name = megatron.render(fmt, launch, header), f"{fmt}.args"
    elif fmt == "torchtitan":
        text, name = torchtitan.render(launch, header), "torchtitan.toml"
    elif fmt == "deepspeed":
        name = config_file or deepspeed.CONFIG_FILE
        text, launcher = deepspeed.render(launch, header, name)
    else:
        text, name = serving.render(fmt, launch, header), f"{fmt}.sh"
    if serving_plan:
        plan = {"tp": launch.tp, "pp": launch.pp, "dp": launch.dp, "ep": launch.ep, "precision": launch.precision,
                "kv_precision": launch.kv_precision}
    else:
        plan = launch.plan.to_dict()
    return Exported(format=fmt, version=VERSIONS[fmt], text=text, filename=name, launcher=launcher, plan=plan)


def _flag_args(fmt: str, flags: dict) -> tuple[str, dict]:
    """The command (train or inference) that prices the plan, and its options out of the export options."""
    given = {k: v for k, v in flags.items() if v is not None and v != [] and v is not False}
    if fmt in SERVING_FORMATS:
        train_only = sorted(set(given) - set(SERVING_ONLY) - {"model", "chip", "devices", "override", "tp", "pp",
                                                                "dp", "ep", "precision", "memory_margin"})
        if train_only:
            raise BadInput(f"--{train_only[0].replace('_', '-')} is a training option; --format {fmt} exports a "
                           "serving plan", train_only[0])
        return "inference", {**given, "chip": given.get("chip"), "engine": fmt}
    serve_only = sorted(set(given) & set(SERVING_ONLY))
    if serve_only:
        raise BadInput(f"--{serve_only[0].replace('_', '-')} is a serving option; --format {fmt} exports a training "
                       "plan", serve_only[0])
    if given.get("precision") not in (None, "bf16", "fp16", "fp8"):
        raise BadInput(f"--precision {given['precision']} is a serving format; a training plan takes bf16, fp16 or "
                       "fp8", "precision")
    return "train", given


def _read(path: str) -> Any:
    from ..catalog.files import read_yaml  # JSON is YAML: the same size and nesting limits, one-line errors

    return read_yaml(Path(path))


def export(fmt: str, *, run: Callable[..., Any], files: bool = True, source: str | None = None, pick: int | None = 1,
           out: str | None = None, **flags) -> Exported:
    """The launch file of ``fmt`` for the plan the flags describe (``train`` options for a training format,
    ``inference`` options for a serving one, priced by ``run(command, args, files=files)``), or for the result in the
    ``--json`` file ``source`` (entry ``pick`` of a list). ``out`` names the file it will be written to (DeepSpeed's
    flags point at it)."""
    from .. import catalog

    if fmt not in FORMATS:
        raise BadInput(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}", "format")
    if source is not None:
        given = sorted(k for k, v in flags.items() if v is not None and v != [] and v is not False)
        if given:
            raise BadInput(f"--from takes the whole plan from {source}; leave out --{given[0].replace('_', '-')}",
                           given[0])
        data = pick_entry(_read(source), pick or 1, source)
        if data.get("fits") is False:
            raise DoesNotFit(f"{source}: the plan does not fit in memory (fits: false); export one that fits")
        load_model = lambda name: catalog.load_model(name, files=files)  # noqa: E731
        if "ttft_s" in data or "kv_precision" in data["plan"]:
            launch = serve_from_json(data, source, load_model, catalog.load_engine)
        else:
            launch = train_from_json(data, source, load_model)
    else:
        missing = [k for k in ("model", "chip", "devices") if flags.get(k) in (None, [], "")]
        if missing:
            raise BadInput(f"export needs --model, --chip and --devices (or --from FILE); --{missing[0]} is missing",
                           missing[0])
        result = run(*_flag_args(fmt, flags), files=files)
        if not getattr(result, "fits", True):
            reason = result.not_fit_reason() if hasattr(result, "not_fit_reason") else \
                "does not fit: the weights and KV cache exceed the devices' memory"
            raise DoesNotFit(reason)
        launch = from_result(result)
    return render(fmt, launch, Path(out).name if out and fmt == "deepspeed" else None)


def plan_from_export(fmt: str, text: str, *, launcher: str = "", devices: int | None = None,
                     layers: int | None = None) -> dict:
    """The plan an exported file states, read back: degrees, micro and global batch, recompute, ZeRO stage,
    precision. ``devices`` gives Megatron's dp (its world size comes from the launcher); ``layers`` torchtitan's
    virtual stages; ``launcher`` is DeepSpeed's flags file beside its JSON ``text``."""
    if fmt in ("megatron", "mindspeed"):
        return megatron.read(text, devices)
    if fmt == "torchtitan":
        return torchtitan.read(text, layers)
    if fmt == "deepspeed":
        return deepspeed.read(text, launcher)
    if fmt in SERVING_FORMATS:
        return serving.read(fmt, text)
    raise BadInput(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}", "format")
