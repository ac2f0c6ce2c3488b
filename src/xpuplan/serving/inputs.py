"""The user's serving options, checked (one line naming the flag) and turned into one estimate or one search.

:func:`xpuplan.api.inference` and :func:`xpuplan.api.inference_search` resolve names to specs and call these."""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence

from ..errors import BadInput, DoesNotFit
from ..plan import resolve_serve_plan
from ..results import DisaggregatedResult, ServeResult
from ..specs import Chip, Model, ServeEngine
from ..specs.serving import AUTO_ENGINE, ENGINE_ALIASES, ROOFLINE, Speculative, engine_name_for
from ..units import UnitError, parse_quantity
from .estimate import disaggregated, serve
from .search import for_demand, search_slo

MAX_DEMAND_REQUESTS_PER_S = 1e9


def kv_precision_for(precision: str, kv_precision: str | None) -> str:
    return kv_precision or ("fp8" if precision in ("fp8", "fp4") else "bf16")


def with_speculative(profile: ServeEngine, speculative: str | None, accept_rate: float | None,
                     draft_tokens: int | None) -> ServeEngine:
    """The engine profile with speculative decoding when asked for (--accept-rate/--draft-tokens need it)."""
    if speculative is None:
        if accept_rate is not None or draft_tokens is not None:
            raise BadInput("--accept-rate and --draft-tokens need --speculative mtp|eagle|draft", "speculative")
        return profile
    spec = Speculative(method=speculative, **{k: v for k, v in (("accept_rate", accept_rate),
                                                                ("draft_tokens", draft_tokens)) if v is not None})
    return dataclasses.replace(profile, speculative=spec)


def engine_profiles(name: str, speculative: str | None, accept_rate: float | None, draft_tokens: int | None,
                    load: Callable[[str], ServeEngine], known: Sequence[str] = ()) -> Callable[[Chip], ServeEngine]:
    """The engine profile each chip gets: ``auto``, its vendor's own engine (``VENDOR_ENGINES``); any other name, that
    engine on every chip (its vendor build where that has defaults of its own, ``VENDOR_PLUGINS``: vllm-ascend and
    sglang-ascend on Ascend; refused in one line on a chip it does not run on); ``name@version``, that engine's profile
    of that release (an older one is its own catalog profile, ``known`` holds the catalog's ids). The name and the
    speculative options are checked now, not at the first chip."""
    name, _, version = name.partition("@")
    name = ENGINE_ALIASES.get(name, name)
    if version and name == AUTO_ENGINE:
        raise BadInput(f"--engine auto@{version}: auto takes no version (each chip's own engine at its catalog "
                       "release); name the engine: --engine vllm@0.10", "engine")
    fixed = None
    if name != AUTO_ENGINE:
        fixed = with_speculative(release_profile(name, version, load, known), speculative, accept_rate, draft_tokens)
    with_speculative(ROOFLINE, speculative, accept_rate, draft_tokens)  # the options' check, whatever the engine

    def profile(chip: Chip) -> ServeEngine:  # the catalog caches its loads
        if fixed is not None and (version or engine_name_for(chip, name) == name):
            return fixed
        return with_speculative(load(engine_name_for(chip, name)), speculative, accept_rate, draft_tokens)

    return profile


def release_profile(name: str, version: str, load: Callable[[str], ServeEngine], known: Sequence[str]) -> ServeEngine:
    """The catalog's profile of engine ``name`` at release ``version`` (empty: the current one, the profile ``name``
    itself; an older one: the ``name@R`` profile of that release or covering it), or one line naming the releases
    the catalog describes."""
    release = load(name)
    if version and not _same_release(release.version, version):
        release = _older_release(name, version, release.version, load, known)
    return release


def _older_release(name: str, version: str, current: str, load: Callable[[str], ServeEngine],
                   known: Sequence[str]) -> ServeEngine:
    """The catalog's profile ``name@R`` of the release ``version`` names (``0.2.7`` is within ``0.2``), or one line
    naming the releases the catalog describes."""
    releases = sorted((k.partition("@")[2] for k in known if k.startswith(name + "@")), key=len, reverse=True)
    for release in releases:  # the most specific first
        if _same_release(release, version):
            return load(f"{name}@{release}")
    for release in releases:  # a release the profile covers (vllm@0.10 describes 0.11-0.13 too)
        if any(_same_release(other, version) for other in load(f"{name}@{release}").covers):
            return load(f"{name}@{release}")
    newest_first = sorted(releases, key=_release_key, reverse=True)
    older = [f"{name}@{r}" for r in newest_first]
    spans = [f"{name}@{r}" + (f" ({r}-{covers[-1]})" if (covers := load(f"{name}@{r}").covers) else "")
             for r in newest_first]
    also = f", and {', '.join(spans)} {'an older one' if len(older) == 1 else 'older ones'}" if older else ""
    raise BadInput(f"--engine {name}@{version}: the catalog's {name} profile describes release {current} (its "
                   "scheduler defaults and host costs)" + also
                   + f"; give --engine {name} or --engine {name}@{current}"
                   + "".join(f" or --engine {o}" for o in older), "engine")


def _release_key(release: str) -> tuple[int, ...]:
    """``0.28`` -> (0, 28): releases in numeric order (``0.2`` before ``0.10``)."""
    return tuple(int(part) if part.isdigit() else 0 for part in release.split("."))


def _same_release(profile: str, asked: str) -> bool:
    """``sglang@0.4`` names the 0.4 profile and ``@0.4.6`` a release within it (the profile's version is a prefix)."""
    return asked == profile or asked.startswith(profile + ".")


def parse_demand(text) -> float:
    """``"20000req/s"``, ``"20k req/s"``, ``"20000rps"`` or a number -> requests per second."""
    value = re.sub(r"\s*(req/s|requests/s|rps|/s)\s*$", "", str(text).strip(), flags=re.IGNORECASE)
    try:
        rate = parse_quantity(value, "count")
    except UnitError:
        raise BadInput(f"--demand must be requests per second, e.g. 20000req/s, got {text!r}", "demand") from None
    if not 0 < rate <= MAX_DEMAND_REQUESTS_PER_S:
        raise BadInput(f"--demand must be in (0, {MAX_DEMAND_REQUESTS_PER_S:g}] requests/s, got {text!r}", "demand")
    return rate


def _check(input_len, output_len, concurrency, request_rate, usd_per_device_hour) -> None:
    for name, value in (("input_len", input_len), ("output_len", output_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInput(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value}", name)
    if input_len + output_len > 10_000_000:
        raise BadInput(f"--input-len + --output-len = {input_len + output_len} tokens is absurd", "input_len")
    if concurrency is not None and request_rate is not None:
        raise BadInput("give either --concurrency (closed loop) or --request-rate (open loop), not both", "concurrency")
    if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
        raise BadInput(f"--concurrency must be a whole number >= 1, got {concurrency}", "concurrency")
    if request_rate is not None and not 0 < request_rate < 1e6:
        raise BadInput(f"--request-rate must be > 0 requests/s, got {request_rate}", "request_rate")
    if usd_per_device_hour is not None and not 0 < usd_per_device_hour <= 1000:
        raise BadInput(f"--usd-per-device-hour must be in (0, 1000], got {usd_per_device_hour}", "usd_per_device_hour")


def length_ratio(value, name: str = "--length-range-ratio") -> float:
    """A length range ratio (a random dataset's --random-range-ratio: lengths drawn between it and 1 times a top) as
    a number in [0, 1]; 1.0 where not given (every request at the mean lengths)."""
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise BadInput(f"{name} must be a number in [0, 1], got {value!r:.20}", "length_range_ratio")
    return float(value)


def estimate(model: Model, chip: Chip, chip_of: Callable[[str], Chip], profile: Callable[[Chip], ServeEngine], *,
             devices=None,
             input_len=1024, output_len=1024, tp=None, pp=None, dp=None, ep=None, precision=None, kv_precision=None,
             concurrency=None, request_rate=None, memory_margin=0.0, usd_per_device_hour=None, seed=0,
             prefill_devices=None, decode_devices=None, prefill_chip=None, decode_chip=None,
             demand=None, pools: dict | None = None, length_range_ratio=None,
             attention_dp=None) -> ServeResult | DisaggregatedResult:
    """One configuration, or a disaggregated prefill/decode pair (``chip_of`` resolves the pools' chip names), each
    pool with its own plan (``pools``: ``prefill_tp``, ``prefill_ep``, ``decode_tp``, ``decode_ep``; the decode pool
    falls back to ``tp``/``pp``/``dp``/``ep``). ``attention_dp``: every pool's tp is an engine instance whose
    attention runs on that many data-parallel groups (:func:`xpuplan.plan.attention_dp_degrees`)."""
    pools = {k: v for k, v in (pools or {}).items() if v is not None}
    precision = precision or "bf16"
    kv_precision = kv_precision_for(precision, kv_precision)
    _check(input_len, output_len, concurrency, request_rate, usd_per_device_hour)
    if demand is not None:
        raise BadInput("--demand sizes a fleet per chip: use it with --search", "demand")
    spread = length_ratio(length_range_ratio)
    if prefill_devices or decode_devices:
        if spread != 1.0:
            raise BadInput("--length-range-ratio draws lengths in one pool's simulated load; disaggregated pools are "
                           "priced at the mean lengths: drop it", "length_range_ratio")
        if not (prefill_devices and decode_devices):
            raise BadInput("disaggregated serving needs both --prefill-devices and --decode-devices", "prefill_devices")
        p_chip = chip_of(prefill_chip) if prefill_chip else chip
        d_chip = chip_of(decode_chip) if decode_chip else chip
        p_plan = resolve_serve_plan(model, p_chip, prefill_devices, pools.get("prefill_tp"), None, None,
                                    pools.get("prefill_ep"), precision, kv_precision, profile(p_chip), attention_dp)
        d_plan = resolve_serve_plan(model, d_chip, decode_devices, pools.get("decode_tp", tp), pp, dp,
                                    pools.get("decode_ep", ep), precision, kv_precision, profile(d_chip), attention_dp)
        links = [c.scale_out_bytes_per_s for c in (p_chip, d_chip) if c.scale_out_bytes_per_s]
        if not links:
            raise BadInput("neither pool's chip has a published NIC bandwidth for the KV transfer", "chip")
        return disaggregated(model, (p_chip, p_plan, prefill_devices), (d_chip, d_plan, decode_devices),
                             input_len, output_len, concurrency, min(links) * p_plan.tp)
    if pools:
        name = sorted(pools)[0]
        raise BadInput(f"--{name.replace('_', '-')} sets a disaggregated pool's plan: give --prefill-devices and "
                       f"--decode-devices (or use --tp/--ep for one pool)", name)
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise BadInput(f"--devices must be a positive whole number, got {devices}", "devices")
    plan = resolve_serve_plan(model, chip, devices, tp, pp, dp, ep, precision, kv_precision, profile(chip),
                              attention_dp)
    return serve(model, chip, plan, devices, input_len, output_len, concurrency=concurrency,
                 request_rate=request_rate, memory_margin=memory_margin, usd_per_device_hour=usd_per_device_hour,
                 seed=seed, length_ratio=spread)


SEARCH_TAKES = ("model", "input_len", "output_len", "slo_ttft", "slo_tpot", "precision", "kv_precision",
                "usd_per_device_hour", "engine", "speculative", "accept_rate", "draft_tokens", "demand", "slo_percentile")


def search_options(args: dict) -> dict:
    """The ``inference`` options ``--search`` takes, after refusing what it cannot honour (the options that pin
    what it chooses are refused by ``flags.check``)."""
    if args.get("slo_ttft") is None or args.get("slo_tpot") is None:
        raise BadInput("--search needs --slo-ttft and --slo-tpot", "slo_ttft")
    if args.get("length_range_ratio") is not None:
        raise BadInput("--length-range-ratio draws lengths in one configuration's simulated load; --search prices "
                       "the mean lengths in closed form: drop it, or run one chip without --search",
                       "length_range_ratio")
    return {k: args[k] for k in SEARCH_TAKES if k in args}


def search(model: Model, chips: list[Chip], profile: Callable[[Chip], ServeEngine], *, input_len: int, output_len: int,
           slo_ttft_s: float, slo_tpot_s: float, precision=None, kv_precision=None, usd_per_device_hour=None,
           demand=None, slo_percentile: str = "mean") -> list:
    """The cheapest SLO-meeting configuration per chip, chips side by side (best first); a chip with none is listed
    last as the reason (an exception). With ``demand``: each row also says the devices and USD/hour it needs."""
    _check(input_len, output_len, None, None, usd_per_device_hour)
    if not (slo_ttft_s > 0 and slo_tpot_s > 0):
        raise BadInput("--slo-ttft and --slo-tpot must be > 0", "slo_ttft")
    rate = parse_demand(demand) if demand is not None else None
    best = []
    for chip in chips:
        try:
            r = search_slo(model, chip, input_len, output_len, slo_ttft_s, slo_tpot_s, precision, kv_precision,
                           usd_per_device_hour=usd_per_device_hour, engine=profile(chip),
                           percentile=slo_percentile)[0]
            best.append(for_demand(r, rate) if rate else r)
        except (DoesNotFit, BadInput) as exc:
            if len(chips) == 1:
                raise
            best.append(exc)
    found = [b for b in best if not isinstance(b, Exception)]
    if not found:
        raise DoesNotFit(f"no chip meets the SLO: {best[0]}")
    return sorted(found, key=lambda r: (r.usd_per_million_output_tokens is None, r.usd_per_million_output_tokens or 0,
                                        -r.output_tokens_per_s / r.devices)) + [b for b in best if isinstance(b, Exception)]
