"""Unit constants, parsing of human-written quantities, and formatting.

Inside xpuplan every quantity is in an SI base unit: seconds, bytes, FLOPs,
bytes/s, FLOP/s, watts. Catalog files and command-line flags may use human
units; they are converted here, at the edge, and nowhere else.

Decimal prefixes (k, M, G, T, P) are powers of 1000; binary prefixes (KiB,
MiB, GiB, TiB) are powers of 1024. Link speeds written in bits (``Gbps``,
``Gb/s``) are divided by 8 to give bytes/s.
"""

from __future__ import annotations

import math
import re

KB, MB, GB, TB, PB = 1e3, 1e6, 1e9, 1e12, 1e15
KiB, MiB, GiB, TiB = 2**10, 2**20, 2**30, 2**40
TFLOPS = 1e12
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": KiB, "Mi": MiB, "Gi": GiB, "Ti": TiB, "Pi": 2**50}

# unit suffix (after the prefix) -> (kind, multiplier to the canonical unit)
_UNITS = {
    "B": ("bytes", 1.0),
    "FLOPS": ("flops_per_s", 1.0),
    "FLOP/s": ("flops_per_s", 1.0),
    "OPS": ("flops_per_s", 1.0),
    "B/s": ("bytes_per_s", 1.0),
    "Bps": ("bytes_per_s", 1.0),
    "bps": ("bytes_per_s", 1.0 / 8),
    "b/s": ("bytes_per_s", 1.0 / 8),
    "W": ("watts", 1.0),
    "s": ("seconds", 1.0),
    "": ("count", 1.0),
}
UNIT_KINDS = ("bytes", "flops_per_s", "bytes_per_s", "watts", "seconds", "count")
"""the kinds of quantity :func:`parse_quantity` reads, each in its canonical unit"""
_TIME = {"ms": 1e-3, "us": 1e-6, "min": MINUTE, "h": HOUR, "d": DAY, "day": DAY, "days": DAY}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PATTERN = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z/]*)\s*$")


class UnitError(ValueError):
    """A quantity string that cannot be read, or has the wrong kind of unit."""


def parse_quantity(text: str | float | int, kind: str) -> float:
    """Read ``text`` as a quantity of ``kind`` and return it in the canonical unit.

    ``kind`` is one of ``bytes``, ``flops_per_s``, ``bytes_per_s``, ``watts``,
    ``seconds`` or ``count``. Plain numbers are taken as already canonical.
    Examples: ``"80GiB"`` -> 85899345920.0, ``"400Gbps"`` -> 5e10,
    ``"989TFLOPS"`` -> 9.89e14, ``"15T"`` (count) -> 1.5e13.
    """
    if isinstance(text, bool):
        raise UnitError(f"expected a {kind.replace('_', ' ')} quantity, got {text!r}")
    if isinstance(text, (int, float)):
        if not math.isfinite(text):
            raise UnitError(f"{text!r} is not a finite quantity (write e.g. {_example(kind)})")
        return float(text)
    match = _PATTERN.match(str(text)[:100])
    if not match:
        raise UnitError(f"cannot read {str(text)[:40]!r} as a quantity (write e.g. {_example(kind)})")
    value, suffix = float(match.group(1)), match.group(2)
    if not math.isfinite(value):
        raise UnitError(f"{text!r} is not a finite quantity (write e.g. {_example(kind)})")
    if suffix == "":
        return value  # a plain number is already in the canonical unit
    if kind == "seconds" and suffix in _TIME:
        return value * _TIME[suffix]
    if kind == "count" and suffix == "B":  # "100B tokens": billions, as model and token counts are written
        return value * 1e9
    for prefix_table in (_BINARY, _DECIMAL):
        for prefix, scale in prefix_table.items():
            if not suffix.startswith(prefix):
                continue
            unit = suffix[len(prefix):]
            if unit in _UNITS and _UNITS[unit][0] == kind:
                return value * scale * _UNITS[unit][1]
    raise UnitError(f"{text!r} is not a {kind.replace('_', ' ')} quantity (write e.g. {_example(kind)})")


def _example(kind: str) -> str:
    return {
        "bytes": "80GB or 80GiB",
        "flops_per_s": "989TFLOPS",
        "bytes_per_s": "3.35TB/s or 400Gbps",
        "watts": "700W",
        "seconds": "30s, 5min or 2h",
        "count": "15T or 2048",
    }.get(kind, "a number")


def format_si(value: float, unit: str, digits: int = 3) -> str:
    """Format ``value`` with a decimal prefix: ``format_si(9.89e14, 'FLOP/s')`` -> '989 TFLOP/s'."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    exponent = min(max(int(math.floor(math.log10(abs(value)) / 3)), -2), 5)
    prefix = {-2: "µ", -1: "m", 0: "", 1: "k", 2: "M", 3: "G", 4: "T", 5: "P"}[exponent]
    return f"{value / 1000 ** exponent:.{digits}g} {prefix}{unit}"


def format_bytes(value_bytes: float) -> str:
    """Bytes as GiB (binary), the unit device memory is sold and reported in by tools."""
    return f"{value_bytes / GiB:.1f} GiB"


def format_duration(value_s: float) -> str:
    """Seconds as the largest sensible unit: '850 ms', '12.3 s', '4.2 h', '36.5 days'."""
    if value_s < 1:
        return f"{value_s * 1e3:.3g} ms"
    if value_s < 2 * MINUTE:
        return f"{value_s:.3g} s"
    if value_s < 2 * HOUR:
        return f"{value_s / MINUTE:.3g} min"
    if value_s < 2 * DAY:
        return f"{value_s / HOUR:.3g} h"
    return f"{value_s / DAY:.3g} days"
