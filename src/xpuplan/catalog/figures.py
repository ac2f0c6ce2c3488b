"""A chip file's figures beyond the cost model's: which sources back each figure, and the price block.

Every source entry of a chip file may name the figures it backs (``figures: [peak_flops, hbm.capacity]``; a part
such as ``peak_flops`` or ``price`` covers every figure under it), so ``xpuplan catalog chips --json`` can list each
figure with its own sources and confidence. The price block holds ``purchase_usd`` and ``usd_per_hour`` with the
``date`` they were quoted, or a ``note`` that says ``no public price`` and why.
"""

from __future__ import annotations

import difflib

from ..errors import BadInput
from ..specs.hardware import DTYPES, FIGURES
from .files import _check_keys, _mapping, _sources

PRICE_KEYS = {"purchase_usd", "usd_per_hour", "date", "note"}
NO_PUBLIC_PRICE = "no public price"
"""how a price note begins when no figure is stored"""
FIGURE_KEYS = tuple(FIGURES) + tuple(f"peak_flops.{d}" for d in DTYPES)
"""every figure a chip file can hold, by its key"""
FIGURE_PARTS = ("peak_flops", "hbm", "scale_up", "scale_out", "host_link", "host_cpu", "price")
"""a source's ``figures`` entry may name a whole part"""


def price_fields(price: dict, where: str) -> dict:
    """The price block checked: positive USD figures, a text date and note; a block with neither figure must say
    why in its note (``no public price: ...``)."""
    price = _mapping(price, f"{where}: price")
    _check_keys(price, PRICE_KEYS, set(), f"{where}: price")
    out = {}
    for key in ("purchase_usd", "usd_per_hour"):
        value = price.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
            raise BadInput(f"{where}: price.{key} must be a positive number of USD, got {value!r}", f"price.{key}")
        out[key] = None if value is None else float(value)
    out["date"] = str(price.get("date") or "")
    out["note"] = str(price.get("note") or "")
    return out


def figure_sources(data: dict, where: str) -> dict[str, tuple[str, ...]]:
    """Each figure key -> the sources whose ``figures`` list names it (or the part it belongs to), each as
    ``ref (url): what it covers [confidence]``."""
    backing: dict[str, list[str]] = {}
    for item in data.get("sources") or ():
        if not isinstance(item, dict) or not item.get("figures"):
            continue
        names = item["figures"]
        if not isinstance(names, list):
            raise BadInput(f"{where}: a source's figures must be a list of figure keys, got {names!r}", "sources")
        text = _sources({"sources": [{k: v for k, v in item.items() if k != "confidence"}]})[0]
        text += (f": {item['covers']}" if item.get("covers") else "") + \
            (f" [{item['confidence']}]" if item.get("confidence") else "")
        for name in names:
            name = str(name)
            if name not in FIGURE_KEYS and name not in FIGURE_PARTS:
                close = difflib.get_close_matches(name, FIGURE_KEYS + FIGURE_PARTS, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise BadInput(f"{where}: source {text[:50]!r} names unknown figure {name!r}{hint}", "sources")
            for key in FIGURE_KEYS:
                if key == name or key.startswith(name + "."):
                    backing.setdefault(key, []).append(text)
    return {key: tuple(refs) for key, refs in backing.items()}
