"""A request's values against the options table (:data:`xpuplan.flags.OPTIONS`): type, finite, bounds, choices,
length, and the options that only mean something beside another (``DEPENDS``); one BadInput line naming the flag, so
the CLI exits 2 and the HTTP API answers 422 before any work starts."""

from __future__ import annotations

import math

from ..errors import BadInput
from ..units import UnitError, parse_quantity
from . import MAX_LIST, MAX_TEXT, RUN_OPTION_NAMES, Option, options


SEARCH_CHOOSES = ("devices", "tp", "pp", "dp", "ep", "attention_dp", "concurrency", "request_rate", "prefill_devices",
                  "decode_devices", "prefill_chip", "decode_chip", "prefill_tp", "prefill_ep", "decode_tp", "decode_ep")
"""``inference`` options that pin what ``--search`` chooses per chip"""
_SEARCH_ONLY = "bounds what --search chooses: add --search (with --slo-ttft and --slo-tpot), or drop it and read " \
               "ttft_s / tpot_s in this configuration's output"
_NOT_SEARCH = "sets one configuration, and --search chooses each chip's devices, plan and load itself: drop it, or " \
              "run one chip without --search"
_A_RUN = tuple((name, lambda a: a.get("tokens") is not None, "prices a whole run's failures and cost: add --tokens "
                "(e.g. 15T), or drop it") for name in RUN_OPTION_NAMES if name != "usd_per_device_hour")
"""a run's reliability and cost options (the hourly price also prices a step, so it stands alone)"""
DEPENDS = {
    "train": _A_RUN,
    "compare": _A_RUN,
    "plan": (("deadline", lambda a: a.get("objective") == "devices",
              "is the finish line of --objective devices: add --objective devices (with --tokens), or drop it"),
             ("inter_pool_bandwidth", lambda a: bool(a.get("pools")),
              "is the link between the two pools of --pool CHIP:COUNT: give both pools, or drop it"), *_A_RUN),
    "rl": (("objective", lambda a: bool(a.get("search")), "ranks what --search tries: add --search, or drop it"),),
    "inference": (("slo_ttft", lambda a: bool(a.get("search")), _SEARCH_ONLY),
                  ("slo_tpot", lambda a: bool(a.get("search")), _SEARCH_ONLY),
                  ("slo_percentile", lambda a: bool(a.get("search")), _SEARCH_ONLY),
                  *((name, lambda a: a.get("prefill_devices") is not None,
                     "is the chip of a disaggregated pool: add --prefill-devices and --decode-devices, or drop it")
                    for name in ("prefill_chip", "decode_chip")),
                  *((name, lambda a: not a.get("search"), _NOT_SEARCH) for name in SEARCH_CHOOSES)),
}
"""per command, (option, when it means something, why and the fix): given (not at its default) otherwise it is
refused, never dropped"""


def check(command: str, args: dict) -> None:
    """Every given value of ``args`` against the table: type, finite, bounds, choices, length. A breach is one
    BadInput line naming the flag (so the CLI exits 2 and the HTTP API answers 422 before any work starts)."""
    by_name = {o.name: o for o in options(command)}
    for o in by_name.values():
        if command in o.required and args.get(o.name) in (None, [], ""):
            raise BadInput(f"{o.cli_flag} is required for {command}", o.name)
    for name, value in args.items():
        o = by_name.get(name)
        if o is None or value is None:
            continue
        values = value if o.many and isinstance(value, (list, tuple)) else [value]
        if o.many and len(values) > MAX_LIST:
            raise BadInput(f"{o.cli_flag}: at most {MAX_LIST} values, got {len(values)}", name)
        for v in values:
            _check_value(o, v)
    for name, applies, why in DEPENDS.get(command, ()):
        o, value = by_name.get(name), args.get(name)
        if o is not None and value not in (None, [], "") and value != o.default_for(command) and not applies(args):
            raise BadInput(f"{o.cli_flag} {why}", name)


def _number(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _check_value(o: Option, v) -> None:
    flag, name = o.cli_flag, o.name
    if o.kind is bool:
        if not isinstance(v, bool):
            raise BadInput(f"{flag} is a yes/no flag, got {v!r}", name)
        return
    if o.kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise BadInput(f"{flag} must be a whole number, got {v!r}", name)
    if o.kind is float and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
        raise BadInput(f"{flag} must be a finite number, got {v!r}", name)
    if o.document:
        if not isinstance(v, (str, dict)) or (isinstance(v, str) and not v.strip()):
            raise BadInput(f"{flag} must be a YAML file, or the mapping itself", name)
        return
    if o.kind is str:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)) or (not isinstance(v, str) and not o.unit):
            raise BadInput(f"{flag} must be text, got {v!r}", name)
        if len(str(v)) > MAX_TEXT:
            raise BadInput(f"{flag} is over {MAX_TEXT} characters", name)
        if o.choices and v not in o.choices:
            raise BadInput(f"{flag} must be one of {', '.join(o.choices)}, got {v!r}", name)
        if o.quantity:
            try:
                number = parse_quantity(v, o.unit)
            except UnitError as exc:
                raise BadInput(f"{flag}: {exc}", name) from None
            if not math.isfinite(number):
                raise BadInput(f"{flag} must be finite, got {v!r}", name)
        return
    if o.ge is not None and v < o.ge:
        whole = o.kind is int
        raise BadInput(f"{flag} must be a positive whole number, got {v}" if whole and o.ge == 1 else
                       f"{flag} must be {'a whole number ' if whole else ''}>= {o.ge:g}, got {v}", name)
    if o.gt is not None and not v > o.gt:
        raise BadInput(f"{flag} must be > {o.gt:g}, got {v}", name)
    if o.le is not None and v > o.le:
        raise BadInput(f"{flag} must be at most {_number(o.le)}, got {v}", name)
    if o.lt is not None and not v < o.lt:
        raise BadInput(f"{flag} must be < {o.lt:g}, got {v}", name)
