"""Catalog listings for `xpuplan catalog`: one row per entry (specs in, plain rows out), with units and confidence."""

from __future__ import annotations

from rich.table import Table

from ..cost.flops import active_params, total_params
from ..specs import Chip, Framework, Model, ServeEngine, System
from ..specs.hardware import FIGURES
from ..units import GB, TB, TFLOPS, GiB


def _num(value: float | None, scale: float, digits: int = 4) -> str | None:
    return None if value is None else f"{value / scale:.{digits}g}"


def chip_row(c: Chip) -> dict:
    peaks = c.peak_flops_per_s
    return {
        "name": c.name, "vendor": c.vendor,
        "bf16_tflops": _num(peaks.get("bf16") or peaks.get("fp16"), TFLOPS),
        "fp8_tflops": _num(peaks.get("fp8"), TFLOPS),
        "hbm_gb": _num(c.hbm_bytes, GB), "hbm_gib": _num(c.hbm_bytes, GiB), "hbm_tb_per_s": _num(c.hbm_bytes_per_s, TB),
        "scale_up_gb_per_s": _num(c.scale_up_bytes_per_s, GB), "scale_up_domain": c.scale_up_domain,
        "scale_up_topology": c.scale_up_topology if c.scale_up_bytes_per_s else None,
        "scale_out_gbps": _num(c.scale_out_bytes_per_s, GB / 8), "tdp_w": _num(c.tdp_watts, 1),
        "usd_per_hour": c.usd_per_hour,
        "confidence": c.confidence, "low_confidence_fields": sorted(k for k, v in c.field_confidence.items() if v == "low"),
        "sources": list(c.sources),
        "figures": figure_rows(c),
        "unpublished": sorted(k for k, v in c.figures().items() if v is None),
        "price": {"purchase_usd": c.purchase_usd, "usd_per_hour": c.usd_per_hour, "date": c.price_date,
                  "note": c.price_note},
    }


def figure_rows(c: Chip) -> dict:
    """Every published figure of a chip: its value in canonical units, the unit, its confidence and its sources."""
    return {key: {"value": value, "unit": "FLOP/s" if key.startswith("peak_flops.") else FIGURES[key][2],
                  "confidence": c.figure_confidence(key), "sources": list(c.figure_sources.get(key, ()))}
            for key, value in c.figures().items() if value is not None}


def model_row(m: Model) -> dict:
    moe = f"{m.moe.experts}e top{m.moe.top_k}" + (f" +{m.moe.shared_experts}s" if m.moe.shared_experts else "") if m.moe else ""
    return {
        "name": m.name, "layers": m.layers, "hidden": m.hidden, "heads": m.heads, "kv_heads": m.kv_heads,
        "attention": m.attention, "ffn_hidden": m.ffn_hidden, "moe": moe, "vocab": m.vocab,
        "params_total_b": round(total_params(m) / 1e9, 2), "params_active_b": round(active_params(m) / 1e9, 2),
        "confidence": m.confidence, "sources": list(m.sources),
    }


def system_row(s: System) -> dict:
    return {"name": s.name, "chip": s.chip, "devices_per_node": s.devices_per_node, "nodes": s.nodes,
            "scale_up_domain": s.scale_up_domain, "scale_out_gbps": _num(s.scale_out_bytes_per_s, GB / 8),
            "confidence": s.confidence, "sources": list(s.sources)}


def framework_row(f: Framework) -> dict:
    return {"name": f.name, "display_name": f.display_name, "elementwise_passes": f.elementwise_passes,
            "compute_scale": f.compute_scale, "kernels_per_layer": f.kernels_per_layer,
            "zero_stages": ",".join(map(str, f.zero_stages)), "recompute_modes": ",".join(f.recompute_modes),
            "dp_overlap_efficiency": f.dp_overlap_efficiency if f.dp_overlap else 0.0, "sources": list(f.sources)}


def engine_row(e: ServeEngine) -> dict:
    return {"name": e.name, "display_name": e.display_name, "version": e.version, "attention_kernel": e.attention_kernel,
            "iteration_overhead_s": e.iteration_overhead_s, "sequence_overhead_s": e.sequence_overhead_s,
            "async_scheduling": e.async_scheduling, "chunked_prefill": e.chunked_prefill,
            "mixed_batches": e.mixed_batches,
            "request_overhead_s": e.request_overhead_s,
            "stream_token_s": e.stream_token_s, "sources": list(e.sources)}


def kernels_row(entry: dict) -> dict:
    d = entry["derived"]
    kinds = ", ".join(f"{k} {f:.2f}/{b:.2f}" for k, f, b in d.get("attention_kernels", ()))
    return {"name": entry["name"], "gemm_max": d.get("gemm_max"), "gemm_half_flops": d.get("gemm_half_flops"),
            "gemm_band": f"{entry['gemm_band'][0]:.2f}-{entry['gemm_band'][1]:.2f}", "attention": kinds,
            "hbm_elementwise": d.get("hbm_elementwise"), "rows": entry["rows"],
            "sources": [f"{k}: {v}" for k, v in entry["sources"].items()]}


ROWS = {"chips": chip_row, "models": model_row, "systems": system_row, "frameworks": framework_row,
        "serving": engine_row, "kernels": kernels_row}
HEADERS = {
    "chips": [("name", ""), ("vendor", ""), ("bf16_tflops", "BF16 TFLOP/s"), ("fp8_tflops", "FP8 TFLOP/s"),
              ("hbm_gib", "HBM GiB"), ("hbm_tb_per_s", "HBM TB/s"), ("scale_up_gb_per_s", "scale-up GB/s/dir"),
              ("scale_up_domain", "domain"), ("scale_up_topology", "wiring"), ("scale_out_gbps", "NIC Gb/s"),
              ("tdp_w", "TDP W"), ("usd_per_hour", "USD/h"), ("confidence", "confidence")],
    "models": [("name", ""), ("layers", "layers"), ("hidden", "hidden"), ("heads", "heads"), ("kv_heads", "kv"),
               ("attention", "attn"), ("moe", "MoE"), ("params_total_b", "params (B)"), ("params_active_b", "active (B)"),
               ("confidence", "confidence")],
    "systems": [("name", ""), ("chip", "chip"), ("devices_per_node", "devices/node"), ("nodes", "nodes"),
                ("scale_up_domain", "domain"), ("confidence", "confidence")],
    "frameworks": [("name", ""), ("display_name", ""), ("elementwise_passes", "element-wise passes"),
                   ("compute_scale", "compute scale"), ("zero_stages", "ZeRO"), ("recompute_modes", "recompute"),
                   ("dp_overlap_efficiency", "DP overlap")],
    "serving": [("name", ""), ("display_name", ""), ("version", ""), ("attention_kernel", "attention kernel"),
                ("iteration_overhead_s", "host s/iteration"), ("sequence_overhead_s", "host s/sequence"),
                ("async_scheduling", "step ahead"), ("chunked_prefill", "chunked prefill"),
                ("mixed_batches", "prompts with decodes"),
                ("request_overhead_s", "server s/request"),
                ("stream_token_s", "server s/token")],
    "kernels": [("name", ""), ("gemm_max", "GEMM max"), ("gemm_half_flops", "GEMM half FLOPs"),
                ("gemm_band", "published band"), ("attention", "attention fwd/bwd by kind"),
                ("hbm_elementwise", "element-wise / HBM"), ("rows", "rows")],
}


def catalog_rows(kind: str, specs: list) -> list[dict]:
    """One plain row per catalog entry of ``kind`` (the ``catalog --json`` objects)."""
    return [ROWS[kind](spec) for spec in specs]


def catalog_table(kind: str, rows: list[dict]) -> Table:
    table = Table(title=f"xpuplan catalog: {kind} ({len(rows)})", header_style="bold")
    for i, (key, label) in enumerate(HEADERS[kind]):
        table.add_column(label or key, no_wrap=i == 0)
    for row in rows:
        table.add_row(*["—" if row[k] is None or row[k] == "" else (f"{row[k]:.4g}" if isinstance(row[k], float) else
                                                                   str(row[k])) for k, _ in HEADERS[kind]])
    table.caption = ("— = not published; chips of low confidence hold estimates (reasoning in each file's notes); "
                     "`--json` lists every figure with its unit, confidence and sources, and each chip's price note")
    return table
