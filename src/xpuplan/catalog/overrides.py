"""What-if knobs: ``--override KEY=VALUE`` changes one figure of a chip for one run, without copying its YAML.

Keys are the chip file's (``scale_up.domain``, ``scale_out.bandwidth``, ``peak_flops.bf16``, ``hbm.capacity``,
``price.usd_per_hour``, ...) plus the efficiency profile's fractions (``efficiency.gemm_max``); values carry their
unit as a chip file writes them (``72``, ``800Gbps``, ``600TFLOPS``, ``96GiB``). An overridden figure gets the
confidence ``user``, so every result that rests on it says so. A bad key names the closest known keys; a bad value
names the unit expected.
"""

from __future__ import annotations

import dataclasses
import difflib

from ..errors import BadInput
from ..specs import SCALE_UP_TOPOLOGIES, Chip, Efficiency
from ..specs.hardware import DTYPES, FIGURES
from ..units import UnitError, parse_quantity

_EFFICIENCY = {f.name: ("seconds" if f.name.endswith("_s") else "bytes" if f.name.endswith("_bytes") else "count")
               for f in dataclasses.fields(Efficiency) if f.type in ("float", "float | None")}
"""efficiency fields a run may override, with their unit kind"""
KEYS = {**{k: kind for k, (_, kind, _) in FIGURES.items()}, **{f"peak_flops.{d}": "flops_per_s" for d in DTYPES},
        "scale_up.topology": "choice", **{f"efficiency.{k}": kind for k, kind in _EFFICIENCY.items()}}
"""every key ``--override`` takes, with the kind of quantity its value is"""
_UNIT_NAMES = {"bytes": "bytes (e.g. 96GiB)", "bytes_per_s": "bytes per second (e.g. 900GB/s or 800Gbps)",
               "flops_per_s": "FLOP/s (e.g. 600TFLOPS)", "watts": "watts (e.g. 700W)", "seconds": "seconds (e.g. 5us)",
               "count": "a plain number"}
_WHOLE = ("scale_up.domain",)


def parse_override(text: str) -> tuple[str, float | int | str]:
    """``KEY=VALUE`` -> (key, value in canonical units); one BadInput line naming the field and the fix."""
    key, sep, raw = str(text).partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise BadInput(f"--override must be KEY=VALUE (e.g. scale_up.domain=72), got {str(text)[:60]!r}", "override")
    if key not in KEYS:
        close = difflib.get_close_matches(key, list(KEYS), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known keys: {', '.join(sorted(FIGURES))}, " \
            "peak_flops.<dtype>, scale_up.topology, efficiency.<field>"
        raise BadInput(f"--override {key}: not a chip figure; {hint}", "override")
    kind = KEYS[key]
    if kind == "choice":
        if raw not in SCALE_UP_TOPOLOGIES:
            raise BadInput(f"--override {key}={raw}: must be one of {', '.join(SCALE_UP_TOPOLOGIES)}", "override")
        return key, raw
    try:
        value = parse_quantity(raw, kind)
    except UnitError:
        raise BadInput(f"--override {key}={raw[:40]}: expected {_UNIT_NAMES[kind]}", "override") from None
    if not value > 0:
        raise BadInput(f"--override {key}={raw}: must be > 0", "override")
    if key in _WHOLE:
        if value != int(value):
            raise BadInput(f"--override {key}={raw}: must be a whole number of devices", "override")
        value = int(value)
    return key, value


def override_chip(chip: Chip, overrides) -> Chip:
    """``chip`` with each ``KEY=VALUE`` of ``overrides`` applied, each such figure at confidence ``user``."""
    changes: dict = {}
    peaks = dict(chip.peak_flops_per_s)
    efficiency: dict = {}
    confidence = dict(chip.field_confidence)
    for text in overrides:
        key, value = parse_override(text)
        part, _, name = key.partition(".")
        if part == "peak_flops":
            peaks[name] = value
        elif part == "efficiency":
            efficiency[name] = value
        elif key == "scale_up.topology":
            changes["scale_up_topology"] = value
        else:
            changes[FIGURES[key][0]] = value
        confidence.pop(key, None)  # reported in the order given
        confidence[key] = "user"
    try:
        if efficiency:
            changes["efficiency"] = dataclasses.replace(chip.efficiency, **efficiency,
                                                        source=chip.efficiency.source + " (with --override)")
            if chip.kernels is not None:  # serving prices with the kernel table's figures: the override reaches them
                changes["kernels"] = dataclasses.replace(chip.kernels, **efficiency,
                                                         source=chip.kernels.source + " (with --override)")
        return dataclasses.replace(chip, **changes, peak_flops_per_s=peaks, field_confidence=confidence,
                                   unpublished=tuple(u for u in chip.unpublished if confidence.get(u) != "user"))
    except BadInput as exc:
        raise BadInput(f"--override: {exc}", "override") from None


PRICE_FIELDS = {"usd_per_device_hour": ("price.usd_per_hour", 1000.0), "purchase_usd": ("price.purchase_usd", 5e6)}
"""cost settings that may be given per chip -> (the chip figure they set, the highest price taken)"""


def _price(text, field: str, where: str) -> float:
    """One price, a number in (0, highest]; else one BadInput line naming ``where`` and the fix."""
    try:
        value = float(text) if not isinstance(text, bool) else float("nan")
    except (TypeError, ValueError):
        value = float("nan")
    highest = PRICE_FIELDS[field][1]
    if not 0 < value <= highest:  # NaN fails too
        raise BadInput(f"{where}: a price must be a number in (0, {highest:g}], got {str(text)[:40]!r}", field)
    return value


def chip_prices(values) -> tuple[float | None, dict[str, float]]:
    """``--usd-per-device-hour`` values (numbers, or ``CHIP=PRICE`` items, comma-separated or repeated) -> (the one
    price for every chip, or None; {chip id: price})."""
    uniform, per_chip = None, {}
    items = [] if values is None else list(values) if isinstance(values, (list, tuple)) else [values]
    parts = [p.strip() if isinstance(p, str) else p for item in items
             for p in (item.split(",") if isinstance(item, str) else [item])]
    for part in (p for p in parts if p != ""):
        name, sep, raw = part.partition("=") if isinstance(part, str) else ("", "", part)
        if sep and name.strip():
            per_chip[name.strip()] = _price(raw.strip(), "usd_per_device_hour", f"--usd-per-device-hour {part}")
        elif sep or uniform is not None:
            raise BadInput(f"--usd-per-device-hour {str(part)[:40]!r}: give one price for every chip, or CHIP=PRICE "
                           "for each (e.g. h800=2.1,ascend-910b=1.1)", "usd_per_device_hour")
        else:
            uniform = _price(raw if raw != "" else name, "usd_per_device_hour", "--usd-per-device-hour")
    return uniform, per_chip


def price_list(settings: dict, where: str) -> tuple[dict, dict[str, list[str]]]:
    """A ``--costs`` file's settings -> (the settings without per-chip prices, {chip id: [``--override`` text]})
    from its ``usd_per_device_hour`` and ``purchase_usd`` mappings of chip id to price."""
    settings, per_chip = dict(settings), {}
    for field, (key, _) in PRICE_FIELDS.items():
        if isinstance(settings.get(field), dict):
            for name, value in settings.pop(field).items():
                per_chip.setdefault(str(name), []).append(f"{key}={_price(value, field, f'{where}: {field}.{name}')}")
    return settings, per_chip


def price_overrides(uniform: float | None, named: dict[str, float], listed: dict[str, list[str]]) -> dict[str, list]:
    """Per-chip prices as ``--override`` texts by chip id: a price list's (``listed``), then the flag's, which wins:
    its CHIP=PRICE items (``named``) and, beside them, its one number for every other chip (key ``*``). A lone number
    is no override: it prices every chip as a cost setting."""
    rent = "price.usd_per_hour={}".format
    others = [rent(uniform)] if named and uniform is not None else []
    prices = {name: texts + others for name, texts in listed.items()}
    prices.update({name: listed.get(name, []) + [rent(price)] for name, price in named.items()})
    if others:
        prices["*"] = others
    return prices
