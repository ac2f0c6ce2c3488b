"""Serving seed questions: domestic against NVIDIA mid-range accelerators at the same SLO ("within 15-20%"), and what
50,000 Iluvatar Tiangai 150 are worth in H20 or Ascend 910B."""

from __future__ import annotations

from .calls import Section, num, signed, table, why_not

NVIDIA = ("h20", "l20", "l40s")
DOMESTIC = ("ascend-910b", "tiangai-150", "mlu590", "c500", "p800")
MODELS = ("qwen3-32b", "qwen3-30b-a3b")
TIANGAI_FLEET = 50_000
SLO = {"slo_ttft": "2s", "slo_tpot": "50ms"}


def serving() -> Section:
    s = Section("serving", "Domestic vs NVIDIA mid-range serving at equal SLO, and 50,000 Tiangai 150",
                "Do domestic accelerators serve within 15-20% of NVIDIA's mid-range parts at the same latency target, "
                "and what do 50,000 Tiangai 150 (bought for Doubao) equal in H20 or Ascend 910B?")
    s.add("Qwen3-32B (dense) and Qwen3-30B-A3B (MoE), 2,048-token prompts and 512-token answers, every chip held to "
          "the same SLO (TTFT <= 2 s, TPOT <= 50 ms) under vLLM's kernels and scheduler (`--engine vllm`: the engine "
          "that runs on all of them), each at its best precision (FP8 where the catalog has it) and the smallest "
          "replica that meets the SLO at its best throughput (`inference --search`). The comparison is output "
          "tokens/s per device; prices are left out because most of these chips have no public rental price (the "
          "purchase-price column uses the catalog's, where one exists). Doubao's model, prompt mix and SLO are not "
          "public: the Tiangai equivalence below holds for these workloads only.")
    per_device: dict[str, dict[str, float]] = {}
    for model in MODELS:
        res = s.run("inference", model=model, chip=list(NVIDIA + DOMESTIC), search=True, input_len=2048,
                    output_len=512, engine="vllm", **SLO)
        if isinstance(res, Exception):
            s.add(f"{model}: {why_not(res)}")
            continue
        rows, found = [], {}
        for r in res:
            if isinstance(r, Exception):
                rows.append(["?", "", why_not(r)] + [""] * 6)
                continue
            found[r.chip.name] = r
        h20 = found.get("h20")
        for chip in NVIDIA + DOMESTIC:
            r = found.get(chip)
            if r is None:
                continue
            tput = r.output_tokens_per_s / r.devices
            per_device.setdefault(model, {})[chip] = tput
            rows.append([chip, "NVIDIA" if chip in NVIDIA else "domestic", f"{r.devices} ({r.plan.precision})",
                         f"{r.ttft_s * 1000:,.0f} ms", f"{r.tpot_s * 1000:.1f} ms", num(tput),
                         signed(tput / (h20.output_tokens_per_s / h20.devices) - 1) if h20 else "—",
                         f"{r.chip.purchase_usd:,.0f}" if r.chip.purchase_usd else "—",
                         num(tput / r.chip.purchase_usd * 1000) if r.chip.purchase_usd else "—"])
        s.add(f"**{model}**", table(["chip", "maker", "devices per replica", "TTFT", "TPOT", "output tokens/s per "
                                     "device", "vs H20", "purchase USD", "tokens/s per 1,000 USD"], rows))
    _answer(s, per_device)
    if per_device:
        s.figures.append(_figure(per_device))
    return s


def _figure(per_device: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    for model, tput in per_device.items():
        chips = [c for c in NVIDIA + DOMESTIC if c in tput]
        fig.add_trace(go.Bar(name=model, x=chips, y=[tput[c] for c in chips]))
    fig.update_layout(barmode="group", title="Output tokens/s per device at TTFT <= 2 s, TPOT <= 50 ms (vLLM, 2,048 "
                      "in / 512 out): NVIDIA mid-range (left three) vs domestic", yaxis_title="tokens/s per device")
    return fig


def _answer(s: Section, per_device: dict) -> None:
    lines = []
    for model, tput in per_device.items():
        if "h20" not in tput or "ascend-910b" not in tput:
            continue
        gap = tput["ascend-910b"] / tput["h20"] - 1
        best_domestic = max((c for c in DOMESTIC if c in tput), key=tput.get)
        best_nvidia = max((c for c in NVIDIA if c in tput), key=tput.get)
        verdict = "within 20%" if abs(gap) <= 0.2 else "not within 20%"
        lines.append(f"{model}: Ascend 910B is **{signed(gap)}** against the H20 per device ({verdict}); the best "
                     "domestic part "
                     f"({best_domestic}) is {signed(tput[best_domestic] / tput[best_nvidia] - 1)} against the best "
                     f"mid-range NVIDIA one ({best_nvidia})")
        s.anchor(f"{model}_910b_vs_h20", gap, "fraction", note="the claim tested is 'within 15-20%'")
        if "tiangai-150" in tput:
            h20 = TIANGAI_FLEET * tput["tiangai-150"] / tput["h20"]
            b910 = TIANGAI_FLEET * tput["tiangai-150"] / tput["ascend-910b"]
            lines.append(f"50,000 Tiangai 150 serve {model} like **{h20:,.0f} H20** or **{b910:,.0f} Ascend 910B**")
            s.anchor(f"{model}_tiangai_fleet_in_h20", h20, "devices")
            s.anchor(f"{model}_tiangai_fleet_in_910b", b910, "devices")
    if lines:
        s.add("**Answer.** " + "; ".join(lines) + ". So 'within 15-20%' depends on the workload, and on which chips "
              "are compared: per device the H20 has the most memory bandwidth here (4.0 TB/s) and one of the smallest "
              "peaks (148 TFLOP/s bf16, 296 fp8), while the domestic parts have 1.3-2.4x its bf16 peak (no FP8 in the "
              "catalog) and 0.9-1.8 TB/s. "
              "Several domestic figures (910B peak and bandwidth, Tiangai 150 bandwidth and links, MLU590 and C500 "
              "almost throughout) are low-confidence estimates — see the warnings — so a 10-20% difference here is "
              "within what those figures leave open.")
