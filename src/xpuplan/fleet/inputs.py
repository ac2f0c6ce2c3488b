"""FLEET.yaml and WORKLOADS.yaml into specs, each problem one line naming the file and the field.

A document is a YAML file (CLI), YAML/JSON text written inline (``--fleet '{pools: [...]}'``), or the mapping itself
(the HTTP API and Python callers; then no file is ever opened). Reading goes through :mod:`xpuplan.catalog.files`
(size, alias and depth limits); names resolve through the catalog, with the closest names suggested.

FLEET::

    pools:
      - {name: h800, chip: h800, devices: 2048, usd_per_device_hour: 2.0}       # installed
      - {chip: ascend-910b, max: 4096, purchase_usd: 17000}                      # rent/buy up to 4,096; owned price
    site: {power: 100MW, pue: 1.3, power_usd_per_kwh: 0.08}

Pool fields: ``name``, ``chip`` (catalog id, system id or, on the CLI, a chip file), ``vendor``, ``devices`` or
``max``, ``usd_per_device_hour`` or ``purchase_usd`` (+ ``depreciation_years``, ``residual_fraction``), ``tdp``,
``failures_per_device_day``, ``restart``. WORKLOADS: see :mod:`xpuplan.fleet.workloads`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from .. import catalog
from ..catalog.files import parse_yaml, read_yaml
from ..economics import CostInputs
from ..errors import BadInput, UnknownName
from ..units import HOUR, UnitError, parse_quantity
from .specs import FleetPool, Site

MAX_POOLS = 64
"""most pools in one fleet"""
MAX_DEVICES = 10_000_000
POOL_KEYS = {"name", "chip", "vendor", "devices", "max", "usd_per_device_hour", "purchase_usd", "depreciation_years",
             "residual_fraction", "tdp", "failures_per_device_day", "restart", "notes", "source", "sources"}
SITE_KEYS = {"power", "pue", "power_usd_per_kwh", "notes", "source", "sources"}
FLEET_KEYS = {"pools", "site", "name", "notes", "sources"}


# --------------------------------------------------------------------------------------------- documents

def document(value: Any, option: str, files: bool) -> tuple[dict, str]:
    """The mapping a ``--fleet``/``--workloads`` value gives, and how to name it in messages."""
    if isinstance(value, dict):
        return value, f"{option} (given as a mapping)"
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"--{option}: give a YAML file, or the mapping itself", option)
    text = value.strip()
    if text.startswith("{"):
        data, where = parse_yaml(text, f"--{option} (inline)"), f"--{option} (inline)"
    elif not files:
        raise BadInput(f"--{option}: over HTTP give the {option} itself as a JSON object, not a file name", option)
    else:
        data, where = read_yaml(Path(text)), text
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a mapping with '{'pools' if option == 'fleet' else 'workloads'}:', got "
                       f"{type(data).__name__}", option)
    return data, where


# --------------------------------------------------------------------------------------------- field helpers

def mapping(data: Any, where: str, field: str) -> dict:
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a mapping of fields, got {type(data).__name__}", field)
    return data


def keys(data: dict, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
            raise BadInput(f"{where}: unknown field {str(key)[:40]!r}{hint}", str(key)[:40])
    for key in required:
        if data.get(key) is None:
            raise BadInput(f"{where}: missing field {key!r}", key)


def number(data: dict, key: str, where: str, *, kind: str = "count", low: float | None = 0.0, strict: bool = True,
           high: float | None = None, default: float | None = None, unit: str = "") -> float | None:
    """A field as a quantity of ``kind`` in (low, high] (``strict``) or [low, high]; None when absent."""
    value = data.get(key)
    if value is None:
        return default
    try:
        x = parse_quantity(value, kind)
    except UnitError as exc:
        raise BadInput(f"{where}.{key}: {exc}", key) from None
    below = low is not None and (x <= low if strict else x < low)
    if below or (high is not None and x > high):
        bound = f"{'>' if strict else '>='} {low:g}" + (f" and at most {high:g}" if high is not None else "")
        raise BadInput(f"{where}.{key}: must be {bound}{unit}, got {value!r}", key)
    return x


def whole(data: dict, key: str, where: str, low: int = 1, high: int = MAX_DEVICES, default: int | None = None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high or int(value) != value:
        raise BadInput(f"{where}.{key}: must be a whole number from {low:,} to {high:,}, got {value!r}", key)
    return int(value)


def text(data: dict, key: str, where: str, default: str | None = None) -> str | None:
    value = data.get(key, default)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip() or len(str(value)) > 255:
        raise BadInput(f"{where}.{key}: must be a short text, got {str(value)[:40]!r}", key)
    return str(value).strip()


def listed(data: dict, key: str, where: str, limit: int = 64) -> list:
    value = data.get(key)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    if len(values) > limit:
        raise BadInput(f"{where}.{key}: at most {limit} entries, got {len(values)}", key)
    return values


def resolve(kind: str, name: str, where: str, field: str, files: bool, extra: str = ""):
    """A catalog chip or model, with the catalog's suggestion of close names on a miss."""
    load = catalog.load_chip if kind == "chip" else catalog.load_model
    try:
        return load(name, files=files)
    except UnknownName as exc:
        raise BadInput(f"{where}.{field}: {exc}{extra}", field) from None
    except BadInput as exc:
        raise BadInput(f"{where}.{field}: {exc}", field) from None


# --------------------------------------------------------------------------------------------- the fleet

def parse_fleet(data: dict, where: str, files: bool, measured_chips: set[str]) -> tuple[tuple[FleetPool, ...], Site]:
    """Pools and site; a chip outside the catalog is accepted only when some workload measured it."""
    keys(data, FLEET_KEYS, where, ("pools",))
    site = _site(mapping(data.get("site") or {}, f"{where}: site", "site"), f"{where}: site")
    raw = data["pools"]
    if not isinstance(raw, list) or not raw:
        raise BadInput(f"{where}: pools must be a non-empty list of pools", "pools")
    if len(raw) > MAX_POOLS:
        raise BadInput(f"{where}: at most {MAX_POOLS} pools, got {len(raw)}", "pools")
    pools = tuple(_pool(item, f"{where}: pools[{i}]", files, site, measured_chips) for i, item in enumerate(raw))
    names = [p.name for p in pools]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise BadInput(f"{where}: pools[{i}].name: {name!r} names two pools; give each a distinct name", "name")
    return pools, site


def _site(data: dict, where: str) -> Site:
    keys(data, SITE_KEYS, where)
    pue = number(data, "pue", where, low=1.0, strict=False, high=5.0, default=1.3)
    power = number(data, "power", where, kind="watts", high=1e11, unit=" watts (e.g. 100MW)")
    kwh = number(data, "power_usd_per_kwh", where, high=10.0, default=CostInputs().power_usd_per_kwh)
    return Site(power_watts=power, pue=pue, power_usd_per_kwh=kwh)


def _pool(item: Any, where: str, files: bool, site: Site, measured_chips: set[str]) -> FleetPool:
    data = mapping(item, where, "pools")
    keys(data, POOL_KEYS, where, ("chip",))
    chip_name = text(data, "chip", where)
    chip = None
    try:
        chip = catalog.load_chip(chip_name, files=files)
    except UnknownName as exc:
        if chip_name not in measured_chips:
            raise BadInput(f"{where}.chip: {exc} (a chip outside the catalog needs a measured table in the "
                           "workloads)", "chip") from None
    except BadInput as exc:
        raise BadInput(f"{where}.chip: {exc}", "chip") from None
    if ("devices" in data) == ("max" in data):
        raise BadInput(f"{where}: give the pool's size as devices: N (installed) or max: N (may be rented/bought)",
                       "devices")
    size_key = "devices" if "devices" in data else "max"
    devices = whole(data, size_key, where)
    name = text(data, "name", where, default=chip.name if chip is not None else chip_name)
    tdp = number(data, "tdp", where, kind="watts", high=1e5, unit=" watts") or (chip.tdp_watts if chip else None)
    price, source = _price(data, where, chip, chip_name, tdp, site)
    restart = number(data, "restart", where, kind="seconds", strict=False, high=30 * 86400.0, unit=" seconds")
    return FleetPool(
        name=name, chip=chip, chip_name=chip.name if chip is not None else chip_name,
        vendor=text(data, "vendor", where, default=chip.vendor if chip else "unknown"), devices=devices,
        rentable=size_key == "max", usd_per_device_hour=price, price_source=source, tdp_watts=tdp,
        failures_per_device_day=number(data, "failures_per_device_day", where, high=1.0, unit=" per device-day"),
        restart_s=restart)


def _price(data: dict, where: str, chip, chip_name: str, tdp: float | None, site: Site) -> tuple[float, str]:
    """USD per device-hour: rent as given; else ownership (depreciation + energy at the site's PUE); else the
    catalog's rent."""
    rent = number(data, "usd_per_device_hour", where, high=1000.0, unit=" USD per device-hour")
    purchase = number(data, "purchase_usd", where, high=5e6, unit=" USD")
    if rent is not None and purchase is not None:
        raise BadInput(f"{where}: give usd_per_device_hour (rent) or purchase_usd (owned), not both", "purchase_usd")
    if rent is not None:
        return rent, "fleet file (rent)"
    if purchase is None and chip is not None and chip.usd_per_hour is not None:
        return chip.usd_per_hour, "catalog rent"
    if purchase is None and chip is not None and chip.purchase_usd is not None:
        purchase = chip.purchase_usd
    if purchase is None:
        raise BadInput(f"{where}.usd_per_device_hour: {chip_name} has no catalog price; give usd_per_device_hour "
                       "(rent) or purchase_usd (owned)", "usd_per_device_hour")
    base = CostInputs()
    years = number(data, "depreciation_years", where, high=30.0, default=base.depreciation_years)
    residual = number(data, "residual_fraction", where, low=0.0, strict=False, high=0.99,
                      default=base.residual_fraction)
    if tdp is None:
        raise BadInput(f"{where}.tdp: an owned pool's price includes its energy; {chip_name} has no catalog TDP, "
                       "give tdp", "tdp")
    energy = tdp * base.power_utilisation * site.pue / 1000 * site.power_usd_per_kwh
    hourly = purchase * (1 - residual) / (years * 8760) + energy
    return hourly, (f"ownership: {purchase:,.0f} USD over {years:g} years ({residual:.0%} residual) + energy at "
                    f"{site.power_usd_per_kwh:g} USD/kWh, PUE {site.pue:g}")


def parse_horizon(value: Any, where: str, field: str = "horizon") -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_quantity(value, "seconds")
    except UnitError as exc:
        raise BadInput(f"{where}: {exc}", field) from None
    if not HOUR <= seconds <= 20 * 365 * 86400:
        raise BadInput(f"{where}: the horizon must be between 1 h and 20 years, got {value!r}", field)
    return seconds
