"""Catalog loading: YAML files in, validated specs out.

The catalog is data (one YAML file per chip, system, model and efficiency
profile, beside this module). Every loader also takes a path, so a user's own
file (``--chip my-chip.yaml``) goes through the same checks. Any problem is a
:class:`~xpuplan.errors.BadInput` naming the file, the field and the fix.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from ..errors import BadInput, UnknownName
from ..specs import Chip, Efficiency, Framework, Model, MoE, ServeEngine, System
from .figures import figure_sources, price_fields
from .files import (BUNDLED, _check_keys, _host_time_scale, _int, _mapping, _name_list, _quantity, _sources,
                    read_yaml, with_base)
from .inherit import carried
from .kernels import kernel_efficiency, measured_kernels
from .schema import MODEL_FILE_ONLY
from .schema import check as check_file
from .vision import encoder_from_dict

CATALOG_DIR = Path(__file__).parent
KINDS = ("chips", "systems", "models", "frameworks", "serving", "kernels")


def names(kind: str) -> list[str]:
    """Catalog ids of one kind (chips, systems, models), sorted."""
    return list(_names(kind))


@functools.cache
def _names(kind: str) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in (CATALOG_DIR / kind).glob("*.yaml")))


def _resolve(kind: str, name_or_path: str | Path, files: bool = True) -> tuple[Path, str]:
    """The file of a catalog id, or (``files``) a user's own YAML file; ``files=False`` never looks outside the
    catalog, whatever the name (the HTTP API)."""
    text = str(name_or_path)
    if len(text) > 255 or "\x00" in text:
        raise BadInput(f"{kind[:-1]} name is not a catalog id or a file name: {text[:60]!r}...", kind[:-1])
    if not files:
        if text not in names(kind):
            raise UnknownName(kind[:-1], text[:80], names(kind))
        return CATALOG_DIR / kind / f"{text}.yaml", f"{kind}/{text}.yaml"
    path = Path(text)
    if text.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise BadInput(f"{kind[:-1]} file {text} does not exist", kind[:-1])
        return path, str(path)
    candidate = CATALOG_DIR / kind / f"{text}.yaml"
    if not candidate.is_file():
        raise UnknownName(kind[:-1], text, names(kind))
    return candidate, f"{kind}/{text}.yaml"


# ---------------------------------------------------------------- efficiency

_EFF_FIELDS = {f.name for f in dataclasses.fields(Efficiency)}


def efficiency_from_dict(data: dict, where: str) -> Efficiency:
    """Build an Efficiency from a YAML mapping (``reserve`` may be written ``3GiB``)."""
    data = dict(_mapping(data, where))
    data.pop("chip", None)
    data.pop("sources", None)  # stay in the file; ``source`` names the file so a reader finds them
    if "reserve" in data:
        data["reserve_bytes"] = _quantity(data, "reserve", "bytes", where)
        del data["reserve"]
    table = data.pop("kernels", None)
    if table is not None:
        derived = kernel_efficiency(str(table))
        clash = sorted(set(derived) & set(data))
        if clash:
            raise BadInput(f"{where}: {', '.join(clash)} come from kernel table {table!r}; remove them from the "
                           "profile (or drop 'kernels:')", clash[0])
        data |= derived
    _check_keys(data, _EFF_FIELDS, set(), where)
    for key, value in data.items():
        if key in ("attention_kernels", "kernel_table", "fused_moe"):
            continue
        if key != "source" and not isinstance(value, (int, float)):
            try:
                data[key] = float(value)
            except (TypeError, ValueError):
                raise BadInput(f"{where}: field {key!r} must be a number, got {value!r}", key) from None
    if "source" not in data:
        data["source"] = where
    try:
        return Efficiency(**data)
    except (TypeError, BadInput) as exc:
        raise BadInput(f"{where}: {exc}", getattr(exc, "field", None)) from None


def _efficiency_layers(chip_name: str, seen: tuple[str, ...] = ()) -> dict:
    """A chip's efficiency mapping, following ``like: other-chip`` to a shared profile."""
    specific = CATALOG_DIR / "efficiency" / f"{chip_name}.yaml"
    if not specific.is_file():
        return {}
    data = dict(_mapping(read_yaml(specific) or {}, f"efficiency/{chip_name}.yaml"))
    like = data.pop("like", None)
    if like is None:
        return data
    if like in seen:
        raise BadInput(f"efficiency/{chip_name}.yaml: 'like' forms a cycle through {like}", "like")
    inherited = _efficiency_layers(str(like), seen + (chip_name,))
    if not inherited:
        raise BadInput(f"efficiency/{chip_name}.yaml: like: {like} names no efficiency profile", "like")
    if "kernels" in data:  # the child's own kernel table replaces what its parent's profile says of those kernels
        measured = kernel_efficiency(str(data["kernels"]))
        inherited = {k: v for k, v in inherited.items() if k not in measured and k != "kernels"}
    return inherited | data


@functools.cache
def default_efficiency(chip_name: str) -> Efficiency:
    """The efficiency profile of a catalog chip: its own (or, with ``like:``, its nearest calibrated architecture's,
    the reason in the file), else the generic prior (generic.yaml: no more optimistic than any calibrated chip).
    The source names which, so every result says what it rests on."""
    base = {k: v for k, v in read_yaml(CATALOG_DIR / "efficiency" / "default.yaml").items() if k != "sources"}
    specific = _efficiency_layers(chip_name)
    if not specific:
        generic = {k: v for k, v in read_yaml(CATALOG_DIR / "efficiency" / "generic.yaml").items() if k != "sources"}
        return efficiency_from_dict(base | generic, "catalog/efficiency/generic.yaml (generic prior, not calibrated: "
                                    "the least optimistic calibrated value of each fraction)")
    like = _likes(chip_name)
    where = f"catalog/efficiency/{chip_name}.yaml" + (f" (inherits {' -> '.join(like)})" if like else "")
    if "kernels" in specific:  # the table, not the defaults, sets the kernel figures it measured
        measured = kernel_efficiency(str(specific["kernels"]))
        base = {k: v for k, v in base.items() if k not in measured}
    if like:  # a die variant: the calibrated residual beyond the kernels moves with HBM bandwidth (catalog/inherit.py)
        own, parents_own = (set(read_yaml(CATALOG_DIR / "efficiency" / f"{n}.yaml") or {}) for n in (chip_name, like[0]))
        derived, note = carried(chip_name, like[0], base | specific, own, parents_own)
        if derived:
            specific, where = specific | derived, f"{where}; {note}"
    return efficiency_from_dict(base | specific, where)


def _likes(chip_name: str) -> list[str]:
    """The chain of ``like:`` a chip's profile follows."""
    chain, name = [], chip_name
    while True:
        path = CATALOG_DIR / "efficiency" / f"{name}.yaml"
        like = (read_yaml(path) or {}).get("like") if path.is_file() else None
        if not like or like in chain:
            return chain
        chain.append(str(like))
        name = str(like)


# --------------------------------------------------------------------- chips

def chip_from_dict(data: Any, where: str = "chip", *, checked: bool = False) -> Chip:
    """Validate a chip mapping against the chip schema (:mod:`.schema`; ``checked``: a bundled file, which the tests
    check) and build a Chip."""
    data = _mapping(data, where)
    if not checked:
        check_file("chip", data, where)
    peaks, hbm = data["peak_flops"], data["hbm"]
    up, out, host, cpu = (data.get(part) or {} for part in ("scale_up", "scale_out", "host_link", "host_cpu"))
    price = price_fields(data.get("price") or {}, where)
    name = str(data["name"])
    try:
        eff = data.get("efficiency")
        efficiency = efficiency_from_dict(eff, f"{where}: efficiency") if eff else default_efficiency(name)
        return Chip(
            name=name,
            vendor=str(data.get("vendor", "unknown")),
            display_name=str(data.get("display_name") or name),
            peak_flops_per_s={k: _quantity(peaks, k, "flops_per_s", f"{where}: peak_flops") for k in peaks},
            hbm_bytes=_quantity(hbm, "capacity", "bytes", f"{where}: hbm"),
            hbm_bytes_per_s=_quantity(hbm, "bandwidth", "bytes_per_s", f"{where}: hbm"),
            scale_up_name=str(up.get("name") or ""),
            scale_up_bytes_per_s=_quantity(up, "bandwidth", "bytes_per_s", f"{where}: scale_up"),
            scale_up_domain=_int(up, "domain", f"{where}: scale_up") or 1,
            scale_up_topology=str(up.get("topology") or "switch"),
            scale_out_bytes_per_s=_quantity(out, "bandwidth", "bytes_per_s", f"{where}: scale_out"),
            host_link_bytes_per_s=_quantity(host, "bandwidth", "bytes_per_s", f"{where}: host_link"),
            host_time_scale=_host_time_scale(cpu, f"{where}: host_cpu"),
            tdp_watts=_quantity(data, "tdp", "watts", where),
            purchase_usd=price["purchase_usd"],
            usd_per_hour=price["usd_per_hour"],
            price_date=price["date"],
            price_note=price["note"],
            figure_sources=figure_sources(data, where),
            failures_per_device_day=data.get("failures_per_device_day"),
            domain_failures_per_day=data.get("domain_failures_per_day"),
            confidence=str(data.get("confidence", "low")),
            field_confidence=dict(data.get("field_confidence") or {}),
            notes=str(data.get("notes") or ""),
            sources=_sources(data),
            efficiency=efficiency,
            kernels=measured_kernels(name, efficiency, {k: _quantity(peaks, k, "flops_per_s", where) for k in peaks}),
            measured=data.get("measured"),
            unpublished=tuple(f"{part}.{key}" for part, block, keys in (
                ("scale_up", up, ("domain", "bandwidth")), ("scale_out", out, ("bandwidth",)),
                ("hbm", hbm, ("capacity", "bandwidth"))) for key in keys if block.get(key) is None)
            + tuple(f"peak_flops.{k}" for k, v in peaks.items() if v is None),
        )
    except BadInput as exc:
        msg = str(exc)
        raise BadInput(msg if msg.startswith(where) else f"{where}: {msg}", exc.field) from None


@functools.cache
def _load(kind: str, name_or_path: str, files: bool = True):
    path, where = _resolve(kind, name_or_path, files)
    build = {"chips": chip_from_dict, "models": model_from_dict, "systems": system_from_dict}[kind]
    if kind != "systems" and path.resolve().is_relative_to(BUNDLED):  # every bundled file: tests/test_schema.py
        build = functools.partial(build, checked=True)
    return _built(build, read_yaml(path), where)


def _built(build, data, where: str):
    """``build(data, where)``, with any field of the wrong shape that the checks did not name turned into one line
    naming the file (a safety net: a list where a number belongs, a number where a list belongs)."""
    try:
        return build(data, where)
    except BadInput:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
        raise BadInput(f"{where}: a field has the wrong type or shape ({type(exc).__name__}: {str(exc)[:120]}); "
                       "see the schema in DESIGN.md", "file") from None


def load_chip(name_or_path: str | Path, files: bool = True) -> Chip:
    """A chip by catalog id (``h100-sxm``), a system id (``hgx-h800``: its chip with the system's
    network figures), or (``files``) a YAML file path."""
    text = str(name_or_path)
    if text not in names("chips") and text in names("systems"):
        return chip_in_system(load_system(text))
    return _load("chips", text, files)


# -------------------------------------------------------------------- models

_MOE_KEYS = {f.name for f in dataclasses.fields(MoE)}


def model_from_dict(data: Any, where: str = "model", *, checked: bool = False) -> Model:
    """Validate a model mapping against the model schema (:mod:`.schema`; ``checked``: a bundled file, which the tests
    check), or a Hugging Face config.json's (:mod:`.hf`), and build a Model."""
    data = dict(_mapping(data, where))
    if "architectures" in data or "model_type" in data:
        from .hf import model_from_hf
        return model_from_hf(data, where)
    if not checked:
        check_file("model", data, where)
    for key in MODEL_FILE_ONLY:  # read, not priced
        data.pop(key, None)
    moe, encoder = data.pop("moe", None), data.pop("encoder", None)
    ints = ("layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "head_dim", "kv_lora_rank",
            "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "max_seq_len", "sliding_window", "window_layers")
    for key in ints:
        if key in data:
            data[key] = _int(data, key, where)
    data.setdefault("kv_heads", data["heads"])
    if data.get("head_dim") is None:
        data["head_dim"] = 0
    data |= {key: float(data[key]) for key in ("params_total", "params_active") if data.get(key) is not None}
    data["sources"] = _sources(data)
    if "unquantized" in data:
        data["unquantized"] = _name_list(data, "unquantized", where, "parts (embedding, head, attention, router)")
    try:
        if moe is not None:
            moe = _mapping(moe, f"{where}: moe")
            _check_keys(moe, _MOE_KEYS, {"experts", "top_k", "expert_ffn_hidden"}, f"{where}: moe")
            moe = MoE(**{k: (str(v) if k == "balancing" else _int(moe, k, f"{where}: moe")) for k, v in moe.items()})
        encoder = None if encoder is None else encoder_from_dict(encoder, "encoder")
        return Model(**data, moe=moe, encoder=encoder)
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}", exc.field) from None


def load_model(name_or_path: str | Path, files: bool = True) -> Model:
    """A model by catalog id (``llama3-70b``) or (``files``) from a YAML file path or a Hugging Face config.json (the
    file, or a folder holding one)."""
    text = str(name_or_path)
    if files and text not in names("models"):
        from .hf import config_file, load_hf_model
        path = config_file(text)
        if path is not None:
            return load_hf_model(str(path))
    return _load("models", text, files)


# ------------------------------------------------------------------- systems

_SYSTEM_KEYS = {"name", "display_name", "chip", "devices_per_node", "nodes", "scale_up", "scale_out", "power",
                "confidence", "notes", "sources"}


def system_from_dict(data: Any, where: str = "system") -> System:
    """Validate a system mapping and build a System."""
    data = _mapping(data, where)
    _check_keys(data, _SYSTEM_KEYS, {"name", "chip"}, where)
    up = _mapping(data.get("scale_up") or {}, f"{where}: scale_up")
    out = _mapping(data.get("scale_out") or {}, f"{where}: scale_out")
    return System(
        name=str(data["name"]),
        chip=str(data["chip"]),
        display_name=str(data.get("display_name") or data["name"]),
        devices_per_node=_int(data, "devices_per_node", where, 8),
        nodes=_int(data, "nodes", where, 1),
        scale_up_domain=_int(up, "domain", f"{where}: scale_up"),
        scale_up_bytes_per_s=_quantity(up, "bandwidth", "bytes_per_s", f"{where}: scale_up"),
        scale_up_topology=str(up["topology"]) if up.get("topology") else None,
        scale_out_bytes_per_s=_quantity(out, "bandwidth", "bytes_per_s", f"{where}: scale_out"),
        power_watts=_quantity(data, "power", "watts", where),
        confidence=str(data.get("confidence", "low")),
        notes=str(data.get("notes") or ""),
        sources=_sources(data),
    )


def load_system(name_or_path: str | Path, files: bool = True) -> System:
    """A system by catalog id (``dgx-h100``) or (``files``) from a YAML file path."""
    return _load("systems", str(name_or_path), files)


def chip_in_system(system: System) -> Chip:
    """The system's chip with the system's network figures applied."""
    chip = _load("chips", system.chip)
    changes = {
        "scale_up_domain": system.scale_up_domain,
        "scale_up_bytes_per_s": system.scale_up_bytes_per_s,
        "scale_up_topology": system.scale_up_topology,
        "scale_out_bytes_per_s": system.scale_out_bytes_per_s,
    }
    return dataclasses.replace(chip, **{k: v for k, v in changes.items() if v is not None})


# ---------------------------------------------------------------- frameworks

_FRAMEWORK_KEYS = {f.name for f in dataclasses.fields(Framework)}


@functools.cache
def load_framework(name_or_path: str, files: bool = True) -> Framework:
    """A training framework profile by catalog id (``megatron``, ``torch``, ...) or (``files``) a file."""
    path, where = _resolve("frameworks", name_or_path, files)
    data = dict(_mapping(read_yaml(path), where))
    like = data.pop("like", None)
    if like is not None:  # a profile that differs from a catalog one in the switches it names, the rest inherited
        if str(like) == data.get("name"):
            raise BadInput(f"{where}: 'like' names the profile itself", "like")
        parent = dataclasses.asdict(load_framework(str(like), files=False))
        own = ("name", "display_name", "version", "notes", "sources")
        data = {k: v for k, v in parent.items() if k not in own and v is not None} | data
    _check_keys(data, _FRAMEWORK_KEYS, {"name"}, where)
    data["sources"] = _sources(data)
    for key in ("zero_stages", "zero_stages_with_pp", "recompute_modes", "moe_options"):
        if key in data:
            data[key] = tuple(data[key])
    try:
        return Framework(**data)
    except (TypeError, BadInput) as exc:
        raise BadInput(f"{where}: {exc}", getattr(exc, "field", None)) from None


# ------------------------------------------------------------------- serving engines

_ENGINE_KEYS = {f.name for f in dataclasses.fields(ServeEngine)}


@functools.cache
def load_engine(name: str, files: bool = True) -> ServeEngine:
    """A serving-engine profile by catalog id (``trt-llm``, ``vllm``, ``roofline``)."""
    if "/" in name or "\\" in name or name not in names("serving"):
        raise UnknownName("engine", name, names("serving"), "engine")
    where = f"serving/{name}.yaml"
    data = with_base(dict(_mapping(read_yaml(CATALOG_DIR / "serving" / f"{name}.yaml"), where)),
                     CATALOG_DIR / "serving", names("serving"), where)  # an older release: like its current one
    _check_keys(data, _ENGINE_KEYS, {"name"}, where)
    data["sources"] = _sources(data)
    optional = {"memory_utilization", "kv_free_fraction"}  # the dataclass default (1) when the file is silent
    for key in optional & set(data):
        try:
            data[key] = float(data[key])
        except (TypeError, ValueError):
            raise BadInput(f"{where}: {key} must be a number", key) from None
    return ServeEngine(**data)


# ------------------------------------------------------------------- cost settings

def load_cost_settings(path: str | Path, allowed: set[str]) -> dict:
    """Cost settings from a YAML file (``--costs FILE``): a mapping whose keys are among ``allowed``."""
    data = read_yaml(Path(path))
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a mapping of cost settings", "costs")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BadInput(f"{path}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}", unknown[0])
    return data
