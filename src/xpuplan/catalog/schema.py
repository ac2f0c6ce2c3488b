"""The schemas of the files users write — a chip, a model, a job — as pydantic models, and their JSON Schemas.

One model per kind, shared by the catalog loader (every chip and model mapping passes :func:`check` before its spec
is built; the bundled catalog files, trusted like their faster YAML parser, are checked by tests/test_schema.py instead,
keeping pydantic's model building off the start of a plan), the CLI (``xpuplan schema chip|model|job``, JSON Schema for editors) and the HTTP API
(``GET /api/schema/{kind}``):

* **model**: every field of :class:`~xpuplan.specs.Model`; a field whose type is a dataclass (``moe``, ``encoder``)
  is a block of that dataclass's fields; plus the keys a model file may hold that are read and not priced
  (:data:`MODEL_FILE_ONLY`).
* **chip**: the chip file's layout (``hbm: {capacity, bandwidth}``, ...): each key sets a
  :class:`~xpuplan.specs.Chip` attribute (:data:`CHIP_FILE`), is for readers only (:data:`CHIP_FILE_ONLY`), and the
  attributes the loader derives are never written (:data:`CHIP_DERIVED`). The ``efficiency`` block is
  :class:`~xpuplan.specs.Efficiency`'s fields plus :data:`EFFICIENCY_FILE_ONLY`.
* **job**: one command's options by their table names (``--config job.yaml``), from
  :func:`xpuplan.flags.request_body`.

Types follow the dataclass annotations (``int``: a whole number, ``float``: a finite number, ``X | None``: may be
null); a figure with a unit is a number in its canonical unit or text with the unit (``80GiB``, ``400Gbps``);
``sources`` entries are text or a mapping (:data:`SOURCE_KEYS`). A field's description is its docstring in the
dataclass. pydantic loads on first use (never on the ``--help`` path); a refusal is one
:class:`~xpuplan.errors.BadInput` line in the loader's words (the unknown field with the allowed ones, the missing
field, ``field 'x' must be ..., got ...``): :mod:`.schema_errors`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import re
import sys
import types
import typing
from typing import Annotated, Any, Literal, Optional, Union

from ..errors import BadInput
from ..specs import Chip, Efficiency, Model, MoE
from ..specs.hardware import CONFIDENCES, DTYPES, FIGURES, SCALE_UP_TOPOLOGIES
from ..specs.model import BALANCING
from .figures import FIGURE_KEYS, FIGURE_PARTS
from .schema_errors import NUMERIC_PATTERN, QUANTITY_PATTERN, dated, integral, numeric, positive, quantity_check

KINDS = ("chip", "model", "job")
"""the kinds of file :func:`schema` describes"""

MODEL_FILE_ONLY = {
    "attention_bias": ("flag", "q/k/v projections carry biases (read, not priced: a bias adds no matmul FLOPs)"),
    "norm": ("text", "rmsnorm | layernorm (read, not priced)"),
    "parallel_block": ("flag", "attention and FFN side by side in one block, GPT-J and PaLM style (read, not priced)"),
    "mtp": ("any", "an older spelling, read and dropped: mtp_layers sets the multi-token prediction modules"),
}
"""model-file keys that set no Model field: read and dropped by the loader"""
MODEL_NOT_REQUIRED = {"kv_heads": " (default: heads)"}
"""Model fields without a dataclass default that a file may leave out, and what they default to"""
MODEL_OVERRIDES = (("kv_heads", "whole", False), ("head_dim", "whole", True), ("params_total", "numeric", True),
                   ("params_active", "numeric", True))
"""Model fields a file writes otherwise than their type: (name, leaf, may be null); null head_dim is hidden / heads,
the reported parameter counts may be numeric text (671e9, which YAML reads as text)"""

CHIP_FILE = {  # chip-file key -> the Chip attribute it sets (whose docstring describes it)
    "name": "name", "vendor": "vendor", "display_name": "display_name", "peak_flops": "peak_flops_per_s",
    "hbm.capacity": "hbm_bytes", "hbm.bandwidth": "hbm_bytes_per_s",
    "scale_up.name": "scale_up_name", "scale_up.bandwidth": "scale_up_bytes_per_s",
    "scale_up.domain": "scale_up_domain",
    "scale_up.topology": "scale_up_topology", "scale_out.bandwidth": "scale_out_bytes_per_s",
    "host_link.bandwidth": "host_link_bytes_per_s", "host_cpu.time_scale": "host_time_scale", "tdp": "tdp_watts",
    "price.purchase_usd": "purchase_usd", "price.usd_per_hour": "usd_per_hour", "price.date": "price_date",
    "price.note": "price_note", "failures_per_device_day": "failures_per_device_day",
    "domain_failures_per_day": "domain_failures_per_day", "confidence": "confidence",
    "field_confidence": "field_confidence", "notes": "notes", "sources": "sources", "efficiency": "efficiency",
    "measured": "measured",
}
"""every chip-file key that sets a Chip attribute (``FIGURES`` names the numeric ones and their units)"""
CHIP_FILE_ONLY = {
    "hbm.type": "memory technology (HBM3, HBM3e, LPDDR5X), for readers",
    "scale_up.notes": "how the scale-up figures were read, for readers",
    "scale_out.name": "the NIC (ConnectX-7, RoCE ports, ...), for readers",
    "scale_out.notes": "how the scale-out figures were read, for readers",
    "host_link.name": "the host link (PCIe Gen5 x16, NVLink-C2C), for readers",
    "host_link.notes": "how the host-link figure was read, for readers",
    "host_cpu.name": "the host CPU (Grace, Xeon, EPYC), for readers",
}
"""chip-file keys that set no Chip attribute"""
CHIP_DERIVED = {
    "kernels": "from the kernel table (catalog/kernels/*.yaml) whose chips list names the chip",
    "unpublished": "the figures a file leaves null",
    "figure_sources": "from the figures list of each source",
}
"""Chip attributes the loader derives: never written in a file"""
CHIP_REQUIRED = ("name", "peak_flops", "hbm")
CHIP_PARTS = {
    "peak_flops": "dense peak FLOP/s per device by dtype (a datasheet's 'with sparsity' figure halved); null: the chip "
                  "has the dtype, the figure is unpublished",
    "hbm": "device memory",
    "scale_up": "the scale-up link (NVLink, HCCS, ICI, ...): per device, per direction",
    "scale_out": "the scale-out network (NIC): per device, per direction",
    "host_link": "the device <-> host memory link (PCIe, NVLink-C2C), per direction",
    "host_cpu": "the host CPU the device is built with, where it is not an x86 server CPU: how much longer host work "
                "(an engine's scheduling, op launches) takes on it",
    "price": "price per device: purchase_usd and usd_per_hour with the date they were quoted, or a note that says "
             "'no public price: ...' and why",
}
EFFICIENCY_FILE_ONLY = {
    "reserve": ("reserve_bytes", "device memory taken by the runtime, communication buffers and fragmentation, with "
                "a unit (3GiB); sets reserve_bytes"),
    "kernels": ("text", "a kernel table (catalog/kernels/<name>.yaml) whose measured figures set the GEMM curve and "
                "attention fractions"),
    "chip": ("text", "the chip the profile describes (read, not used)"),
    "sources": ("sources", "where the fractions come from"),
}
"""keys of a chip file's ``efficiency:`` block that are no Efficiency field"""
SOURCE_KEYS = {
    "ref": "what the source is (a datasheet, paper, config file or log)",
    "url": "where to read it",
    "covers": "which figures it backs, and how it states them",
    "confidence": "high (a vendor figure), medium (reputable press) or low (an estimate or rumour: the reasoning in "
                  "notes)",
    "figures": "chip files: the figure keys it backs (peak_flops.bf16, hbm.capacity, ...) or whole parts (hbm, price)",
}
"""the keys of a ``sources`` entry written as a mapping"""
CHOICES = {(Chip, "confidence"): CONFIDENCES, (Chip, "scale_up_topology"): SCALE_UP_TOPOLOGIES,
           (MoE, "balancing"): BALANCING}
"""text fields whose values a spec constant lists"""
UNIT_NOTES = {
    "bytes": "a number of bytes, or text with a unit: 80GiB (GiB = 2^30 bytes) or 80GB (GB = 10^9 bytes); catalog "
             "chips write device memory in GiB, as DRAM is built",
    "bytes_per_s": "bytes/s, or text with a unit: 3.35TB/s, 450GB/s (bytes) or 400Gbps (bits, divided by 8)",
    "flops_per_s": "FLOP/s, or text with a unit: 989TFLOPS (dense: a 'with sparsity' figure halved)",
    "watts": "watts, or text with a unit: 700W",
}


# ------------------------------------------------------------------------------------------ leaves

@functools.cache
def _leaf(name: str):
    """The pydantic type of one kind of value a file holds (``whole``, ``number``, ``text``, a unit kind, ...)."""
    from pydantic import BeforeValidator, Field, PlainValidator, StrictBool, StrictFloat, StrictInt, StrictStr
    from pydantic import WithJsonSchema

    if name in UNIT_NOTES or name == "reserve_bytes":
        kind = "bytes" if name == "reserve_bytes" else name
        low = {"minimum": 0} if name == "reserve_bytes" else {"exclusiveMinimum": 0}
        json = {"anyOf": [{"type": "number", **low}, {"type": "string", "pattern": QUANTITY_PATTERN}]}
        return Annotated[Any, PlainValidator(quantity_check(kind, name != "reserve_bytes")), WithJsonSchema(json)]
    if name == "sources":
        return list[_source_item()]
    if name == "positive":
        return Annotated[Any, PlainValidator(positive), WithJsonSchema({"type": "number", "exclusiveMinimum": 0})]
    if name == "date":  # YAML reads an unquoted 2026-03-01 as a date; the loader writes it as text
        return Annotated[Any, PlainValidator(dated), WithJsonSchema({"type": "string"})]
    if name == "numeric":
        return Annotated[Any, PlainValidator(numeric), WithJsonSchema(
            {"anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMERIC_PATTERN}]})]
    return {"whole": Annotated[StrictInt, BeforeValidator(integral)],
            "number": Annotated[StrictFloat, Field(allow_inf_nan=False)],
            "text": StrictStr, "flag": StrictBool, "any": Any, "mapping": dict[StrictStr, Any]}[name]


def _source_item():
    """A ``sources`` entry: text, or a mapping of :data:`SOURCE_KEYS` (errors name the entry, not the union)."""
    from pydantic import Discriminator, Field, StrictStr, Tag

    figures = Field(None, description=SOURCE_KEYS["figures"],
                    json_schema_extra={"items": {"enum": list(FIGURE_KEYS + FIGURE_PARTS)}})
    kinds = {"ref": _leaf("text"), "url": _leaf("text"), "covers": _leaf("text"), "confidence": Literal[CONFIDENCES],
             "figures": list[StrictStr]}
    source = _block("Source", {k: (Optional[t], figures if k == "figures" else _field(SOURCE_KEYS[k]))
                               for k, t in kinds.items()}, "a source written as a mapping")
    return Annotated[Union[Annotated[StrictStr, Tag("<text>")], Annotated[source, Tag("<mapping>")]],
                     Discriminator(lambda v: "<text>" if isinstance(v, str) else "<mapping>")]


def _field(description: str, default: Any = None, factory: Any = None, required: bool = False):
    from pydantic import Field

    if required:
        return Field(..., description=description)
    if factory is not None:
        return Field(default_factory=factory, description=description)
    return Field(default, description=description)


def _block(name: str, fields: dict, description: str):
    """A pydantic model of a mapping that refuses unknown keys."""
    from pydantic import ConfigDict, create_model

    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=description, **fields)


# ---------------------------------------------------------------------------------- from dataclasses

_FIELD_DOC = re.compile(r'^    (\w+): [^\n]*\n    """(.*?)"""', re.M | re.S)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string under its annotation), read once from the class's own lines of source."""
    text = inspect.getsource(sys.modules[cls.__module__])
    start = re.search(rf"^class {cls.__name__}\b", text, re.M).start()
    end = re.compile(r"^\S", re.M).search(text, text.index("\n", start))  # the next top-level line ends it
    return {m[1]: " ".join(m[2].split()) for m in _FIELD_DOC.finditer(text[start:end.start() if end else None])}


def _file_type(hint: Any, owner: type, name: str, numbers: str, nullable: bool):
    """The file type of a dataclass field from its annotation; a type no rule covers is an error naming the field,
    so a new kind of field cannot slip past the schema."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if name == "sources":
        return _leaf("sources")
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            kind = _file_type(inner[0], owner, name, numbers, nullable)
            return Optional[kind] if nullable else kind
    elif hint is bool:
        return _leaf("flag")
    elif hint is int:
        return _leaf("whole")
    elif hint is float:
        return _leaf(numbers)
    elif hint is str:
        choices = CHOICES.get((owner, name))
        return Literal[choices] if choices else _leaf("text")
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[_file_type(args[0], owner, name, numbers, nullable)]
    elif origin is tuple:
        return tuple[tuple(_file_type(a, owner, name, numbers, nullable) for a in args)]
    elif origin is dict:
        key, value = (_file_type(a, owner, name, numbers, nullable) for a in args)
        return dict[key, value]
    elif hint is dict:
        return _leaf("mapping")
    elif origin is Literal:
        return hint
    elif dataclasses.is_dataclass(hint):
        return dataclass_model(hint)
    raise TypeError(f"{owner.__name__}.{name}: no file type for {hint!r}; teach xpuplan/catalog/schema.py")


@functools.cache
def dataclass_model(cls: type, numbers: str = "number", nullable: bool = True, extra: tuple = (),
                    overrides: tuple = ()):
    """The pydantic model of a dataclass written as a mapping: its fields (required where the dataclass has no
    default), each described by its docstring; ``extra`` adds file-only keys ((name, leaf, description), ...) and
    ``overrides`` retypes fields ((name, leaf, nullable), ...: never required)."""
    hints, docs, fields = typing.get_type_hints(cls), field_docs(cls), {}
    changed = {name: (leaf, null) for name, leaf, null in overrides}
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name in changed:
            leaf, null = changed[f.name]
            kind, required = Optional[_leaf(leaf)] if null else _leaf(leaf), False
        else:
            kind = _file_type(hints[f.name], cls, f.name, numbers, nullable)
        default = None if f.default is dataclasses.MISSING else f.default
        factory = None if f.default_factory is dataclasses.MISSING else f.default_factory
        suffix = MODEL_NOT_REQUIRED.get(f.name, "") if cls is Model else ""
        fields[f.name] = (kind, _field(docs.get(f.name, "") + suffix, default, factory, required))
    for name, leaf, description in extra:
        fields[name] = (Optional[_leaf(leaf)], _field(description))
    return _block(cls.__name__, fields, " ".join((cls.__doc__ or "").split()))


# ------------------------------------------------------------------------------------------- kinds

@functools.cache
def model_file():
    """The pydantic model of a model file."""
    return dataclass_model(Model, extra=tuple((k, leaf, text) for k, (leaf, text) in MODEL_FILE_ONLY.items()),
                           overrides=MODEL_OVERRIDES)


def _chip_leaf(key: str, attr: str, hints: dict):
    """The file type of one chip-file key: a figure by its unit (``FIGURES``), any other by the attribute's type."""
    if key == "peak_flops":
        doc = field_docs(Chip)["peak_flops_per_s"]
        return _block("PeakFlops", {d: (Optional[_leaf("flops_per_s")], _field(f"{d}: {doc}; "
                                        f"{UNIT_NOTES['flops_per_s']}")) for d in DTYPES}, CHIP_PARTS["peak_flops"])
    if key == "field_confidence":
        return Optional[dict[Literal[FIGURE_KEYS], Literal[CONFIDENCES]]]
    if key == "efficiency":
        extra = tuple((k, leaf, text) for k, (leaf, text) in EFFICIENCY_FILE_ONLY.items())
        return Optional[dataclass_model(Efficiency, numbers="numeric", nullable=False, extra=extra)]
    if key == "price.date":
        return Optional[_leaf("date")]
    if key in FIGURES:
        unit = FIGURES[key][1]
        if key.startswith("price."):
            return Optional[_leaf("positive")]
        if unit == "count":
            return Optional[_leaf("whole" if hints[attr] is int else "number")]
        return Optional[_leaf(unit)]
    kind = _file_type(hints[attr], Chip, attr, "number", True)
    return kind if key in CHIP_REQUIRED or key == "confidence" else Optional[kind]


@functools.cache
def chip_file():
    """The pydantic model of a chip file (its blocks built from :data:`CHIP_FILE` and :data:`CHIP_FILE_ONLY`)."""
    hints, docs = typing.get_type_hints(Chip), field_docs(Chip)
    top: dict[str, tuple] = {}
    parts: dict[str, dict[str, tuple]] = {}
    for key, attr in list(CHIP_FILE.items()) + [(k, None) for k in CHIP_FILE_ONLY]:
        part, _, leaf = key.rpartition(".")
        if attr is None:
            entry = (Optional[_leaf("text")], _field(CHIP_FILE_ONLY[key]))
        else:
            note = UNIT_NOTES.get(FIGURES[key][1], "") if key in FIGURES else ""
            text = CHIP_PARTS.get(key) or docs.get(attr, "") + (f"; {note}" if note else "")
            entry = (_chip_leaf(key, attr, hints), _field(text, required=key in CHIP_REQUIRED))
        if part:
            parts.setdefault(part, {})[leaf] = entry
            top.setdefault(part, None)
        else:
            top[key] = entry
    for part, fields in parts.items():
        name = "".join(w.title() for w in part.split("_"))
        top[part] = (_block(name, fields, CHIP_PARTS[part]) if part in CHIP_REQUIRED
                     else Optional[_block(name, fields, CHIP_PARTS[part])],
                     _field(CHIP_PARTS[part], required=part in CHIP_REQUIRED))
    return _block("ChipFile", top, "A chip file (--chip FILE, catalog/chips/*.yaml, probe output): per device, "
                                   "dense, per direction")


def file_model(kind: str):
    """The pydantic model of a chip or model file."""
    return {"chip": chip_file, "model": model_file}[kind]()


def check(kind: str, data: dict, where: str) -> None:
    """Refuse a chip or model mapping that breaks its schema: one BadInput line naming the file and the field."""
    from pydantic import ValidationError

    model = file_model(kind)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        from .schema_errors import one_line

        line, field = one_line(model, exc.errors(), where)
        raise BadInput(line, field) from None


def _known(value: str, known: tuple[str, ...], what: str) -> str:
    if value in known:
        return value
    close = difflib.get_close_matches(str(value), known, n=1, cutoff=0.0)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise BadInput(f"unknown {what} {str(value)[:80]!r}{hint} (one of {', '.join(known)})", what.split()[-1])


def schema(kind: str, command: str | None = None) -> dict:
    """The JSON Schema (draft 2020-12) of a chip, model or job file (``command``: the command whose options a job file
    holds, default train), for editors' YAML language servers and for checking files outside xpuplan."""
    from ..flags import COMMANDS, request_body

    kind = _known(kind, KINDS, "schema kind")
    if kind != "job" and command is not None:
        raise BadInput(f"--command picks the command of a job schema; a {kind} schema has none", "command")
    if kind == "job":
        command = _known(command or "train", COMMANDS, "command")
        out = request_body(command, job_file=True).model_json_schema()
        out["title"] = f"xpuplan {command} job file (--config)"
    else:
        out = file_model(kind).model_json_schema()
        out["title"] = f"xpuplan {kind} file"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **out}
