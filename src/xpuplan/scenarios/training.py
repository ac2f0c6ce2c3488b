"""Training seed questions: TeleChat3 on 10k Ascend 910B vs H800; DeepSeek-V3's published GPU-hours; a 1T-parameter
model on GB300 NVL72, MI325X, Ascend 910C, MTT S5000 and Cambricon MLU590/690."""

from __future__ import annotations

from .calls import Section, best, days, hours, num, pct, plan_cell, signed, table, usd, why_not

DEEPSEEK_V3_GPU_HOURS = 2.664e6
DEEPSEEK_V3_SOURCE = ("DeepSeek-AI 2024, DeepSeek-V3 Technical Report (arXiv:2412.19437), Table 1: pre-training "
                      "2,664K H800 GPU-hours for 14.8T tokens on 2,048 H800 (data/validation/deepseek2024-v3.yaml)")
TELECHAT_DEVICES = 10240
ONE_T_CHIPS = ("gb300", "mi325x", "ascend-910c", "mtt-s5000", "mlu590", "mlu690", "h800")
ONE_T_DEVICES = 4096
PARTS = (("compute_s", "compute"), ("ep_comm_s", "EP all-to-all"), ("moe_route_s", "MoE routing"),
         ("moe_imbalance_s", "MoE imbalance"), ("pp_bubble_s", "pipeline bubble"), ("dp_comm_s", "DP comm"),
         ("tp_comm_s", "TP comm"))


def _share(r, key: str) -> float:
    return r.breakdown.get(key, 0.0) / r.step_time_s


def _overhead(r) -> str:
    """The largest part of a step besides compute, with its share."""
    key, label = max(PARTS[1:], key=lambda part: r.breakdown.get(part[0], 0.0))
    return f"{label} {pct(_share(r, key))}"


def telechat() -> Section:
    s = Section("telechat3", "TeleChat3 on 10k Ascend 910B vs 10k H800",
                "How long would TeleChat3 take on a 10k-card Ascend 910B cluster against the same number of H800, at "
                "what MFU, with how many failures and at what cost?")
    s.add("Both released TeleChat3 models, each on 10,240 devices (1,280 eight-card servers: the '10k' cluster), "
          "MindSpeed on the 910B and Megatron-LM on the H800, the best plan the search finds (`plan --top 1`). "
          "TeleChat3's token budget and batch are not published: **10T tokens** is TeleChat2's published pre-training "
          "budget (TeleChat2/2.5/T1 technical report, abstract: 'pretraining on 10 trillion ... tokens'), and "
          "4,096 x 8,192-token sequences (36B; the MindFormers "
          "recipe trains at 8K) or 8,192 x 4,096 (105B-A4.7B; its recipe trains at 4K), 33.6M tokens a step, are "
          "assumptions. Cost is ownership (`--ownership`): 4-year depreciation of each chip's catalog purchase price "
          "plus energy at 0.08 USD/kWh and PUE 1.3 — the 910B's (16,700 USD) and H800's (34,700 USD) prices are "
          "both low-confidence catalog figures.")
    rows, ratio = [], {}
    for model, seq, batch in (("telechat3-36b", 8192, 4096), ("telechat3-105b-a4.7b", 4096, 8192)):
        found = {}
        for chip, framework in (("ascend-910b", "mindspeed"), ("h800", "megatron")):
            res = s.run("plan", model=model, chip=chip, devices=str(TELECHAT_DEVICES), framework=framework,
                        seq_len=seq, global_batch=batch, tokens="10T", top=1, trials=300, ownership=True)
            if isinstance(res, Exception):
                rows.append([model, chip, why_not(res)] + [""] * 10)
                continue
            r = found[chip] = best(res)
            rel, cost = r.extra["reliability"], r.extra["cost"]
            rows.append([model, chip, plan_cell(r), pct(r.mfu), _overhead(r), num(r.tokens_per_s_per_device),
                         days(r.total_time_s),
                         days(rel["total_time_s"]), hours(rel["job_mtbf_s"]), num(rel["expected_interruptions"]),
                         pct(rel["goodput"]), usd(cost["usd"]), usd(cost.get("usd_per_interruption"))])
        if len(found) == 2:
            ratio[model] = found["ascend-910b"].extra["reliability"]["total_time_s"] / \
                found["h800"].extra["reliability"]["total_time_s"]
    s.add(table(["model", "chip", "best plan", "MFU", "largest overhead", "tokens/s per device", "days, failure-free",
                 "days with failures",
                 "job MTBF", "interruptions", "goodput", "cost (owned)", "cost per interruption"], rows))
    if ratio:
        s.add("**Answer.** " + "; ".join(f"{m}: the 910B cluster takes **{x:.2f}x** the H800 cluster's wall-clock time"
                                         for m, x in ratio.items()) +
              ". Per device the 910B's bf16 peak is 354 TFLOP/s (a low-confidence estimate) against the H800's 989, "
              "so even at a similar or higher MFU it is slower; it also fails twice as often per device (1e-3 "
              "against 5e-4 per device-day — an assumption: no per-device failure statistics exist for Ascend, "
              "reliability.md §8.1), so its job MTBF is half the H800's and it loses more to restarts. The MoE "
              "model activates only 4.7B parameters a token: 10k devices are far more than it needs, its GEMMs are "
              "small and its MFU is low on both chips (the largest overhead of each plan is in the table). No "
              "published TeleChat3 training time, MFU or cost exists to check any of this against.")
    for model, x in ratio.items():
        s.anchor(f"{model}_910b_over_h800_time", x, "ratio")
    return s


def deepseek_v3() -> Section:
    s = Section("deepseek_v3", "DeepSeek-V3's 2.664M H800 GPU-hours, reproduced",
                "Does the model reproduce DeepSeek-V3's published pre-training cost from its published plan?")
    s.add("The published plan (report §3.2-3.3): 2,048 H800, no tensor parallelism, 16-way pipeline, 64-way expert "
          "parallelism, FP8 GEMMs, 4,096-token sequences, global batch 15,360 (after the ramp-up), 14.8T tokens, "
          "under the `hai-llm` framework profile (DualPipe's overlapped all-to-all, node-limited dispatch).")
    r = s.run("train", model="deepseek-v3", chip="h800", devices=2048, framework="hai-llm", tp=1, pp=16, ep=64,
              seq_len=4096, global_batch=15360, precision="fp8", tokens="14.8T", trials=300)
    if isinstance(r, Exception):
        s.add(f"The estimate failed: {why_not(r)}")
        return s
    rel, error = r.extra["reliability"], r.device_hours / DEEPSEEK_V3_GPU_HOURS - 1
    s.add(table(["quantity", "model", "published"], [
        ["H800 GPU-hours, failure-free", num(r.device_hours), num(DEEPSEEK_V3_GPU_HOURS)],
        ["error", signed(error), ""],
        ["GPU-hours per trillion tokens", num(r.device_hours / 14.8), "180,000 (report §1)"],
        ["days on 2,048 H800 per trillion tokens", f"{r.total_time_s / 86400 / 14.8:.2f}", "3.7 (report §1)"],
        ["GPU-hours with failures", num(r.extra["cost"]["device_hours"]), "—"],
        ["MFU (fp8 peak 1,979 TFLOP/s)", pct(r.mfu), "not published"],
        ["step time", f"{r.step_time_s:.2f} s", "—"],
    ] + [[f"  {label}", pct(_share(r, key)), ""] for key, label in PARTS if r.breakdown.get(key)]))
    s.add(f"**Answer.** The model gives {num(r.device_hours)} GPU-hours, **{signed(error)}** against the published "
          "2.664M. The issue's 10% target is **not met**; the test holds the recorded gap to 15%. Not modelled: the "
          "batch ramp-up over the first 469B tokens (smaller, less efficient steps), DualPipe's two model copies per "
          "rank (run as a plain 1F1B schedule here), and anything DeepSeek counted beyond steady-state steps "
          f"(evaluation, restarts: {num(rel['expected_interruptions'])} expected interruptions on 2,048 H800 would "
          "add only about "
          f"{pct(r.extra['cost']['device_hours'] / r.device_hours - 1)}).")
    s.anchor("deepseek_v3_gpu_hours", r.device_hours, "H800 GPU-hours", DEEPSEEK_V3_GPU_HOURS, DEEPSEEK_V3_SOURCE,
             0.15, "The model is 13% under (failure-free); the issue asked for 10%, which is not met. 15% records "
                   "today's gap with room for the 1-2% the step model moves between releases; a tighter bound "
                   "needs the ramp-up and DualPipe modelled, not a tuned constant.")
    return s


def one_trillion() -> Section:
    s = Section("one_trillion", "A 1T-parameter model: GB300 NVL72 vs MI325X vs Ascend 910C (CloudMatrix 384) vs MTT "
                "S5000 vs Cambricon MLU590/690", "Is NVIDIA more than 30% ahead on a 1T-parameter model, by how "
                "much, and why?")
    s.add("Kimi K2 (1.04T total, 32B active, MLA, 384 experts; published config) pre-trained on 15.5T tokens as "
          "Moonshot did, at its published 67M-token batch (16,384 x 4,096), each chip on 4,096 devices in bf16 (no "
          "FP8 on every chip; GB300 and MTT S5000 would gain from it), best plan of each (`plan --top 1`). H800 — "
          "what Kimi K2 was actually trained on — is the reference row. Each chip's scale-up domain is its system's: "
          "72 (GB300 NVL72), 384 (910C in CloudMatrix 384), 8 for the others.")
    results, rows = {}, []
    for chip in ONE_T_CHIPS:
        res = s.run("plan", model="kimi-k2", chip=chip, devices=str(ONE_T_DEVICES), global_batch=16384,
                    tokens="15.5T", top=1, trials=200)
        if isinstance(res, Exception):
            rows.append([chip, "", "", why_not(res)] + [""] * 6)
            continue
        r = results[chip] = best(res)
        peak = r.chip.peak_flops_per_s["bf16"]
        rows.append([chip, r.chip.confidence, f"{peak / 1e12:,.0f}", plan_cell(r), pct(r.mfu),
                     num(r.tokens_per_s_per_device), days(r.total_time_s),
                     num(r.tokens_per_s_per_device / (r.chip.tdp_watts / 1000)) if r.chip.tdp_watts else "—",
                     num(r.tokens_per_s_per_device / r.chip.purchase_usd * 1000) if r.chip.purchase_usd else "—",
                     num(r.tokens_per_s_per_device * r.chip.scale_up_domain)])
    s.add(table(["chip", "chip confidence", "bf16 peak (TFLOP/s)", "best plan", "MFU", "tokens/s per device",
                 "days on 4,096", "tokens/s per kW of TDP", "tokens/s per 1,000 USD of purchase",
                 "tokens/s per scale-up domain"], rows))
    if results:
        s.add("Where each step goes (share of step time, best plan of each chip):")
        s.add(table(["chip"] + [label for _, label in PARTS] + ["step"],
                    [[c] + [pct(_share(r, k)) for k, _ in PARTS] + [f"{r.step_time_s:.2f} s"] for c, r in
                     results.items()]))
        s.figures.append(_one_t_figure(results))
    if "gb300" in results and "ascend-910c" in results:
        g, a = results["gb300"], results["ascend-910c"]
        lead = g.tokens_per_s_per_device / a.tokens_per_s_per_device
        peak = g.chip.peak_flops_per_s["bf16"] / a.chip.peak_flops_per_s["bf16"]
        domain = g.tokens_per_s_per_device * 72 / (a.tokens_per_s_per_device * 384)
        others = [f"{c} {results['gb300'].tokens_per_s_per_device / r.tokens_per_s_per_device:.1f}x"
                  for c, r in results.items() if c != "gb300"]
        busy_g, busy_a = g.mfu / _share(g, "compute_s"), a.mfu / _share(a, "compute_s")
        per_usd = lead * a.chip.purchase_usd / g.chip.purchase_usd
        why = (f"compute is {pct(_share(g, 'compute_s'))} of the GB300's step and {pct(_share(a, 'compute_s'))} of "
               f"the 910C's, and while computing the GB300 reaches {pct(busy_g)} of its peak against the 910C's "
               f"{pct(busy_a)} (compute time, GEMMs and the rest, priced from each chip's calibrated efficiency "
               "curves)")
        verdict = "yes, and by far more than 30%" if lead > 1.6 else "yes" if lead > 1.3 else "no"
        s.add(f"**Answer.** Per device, {verdict}: a GB300 trains Kimi K2 **{lead:.2f}x** as fast as a 910C package "
              f"({signed(lead - 1)}). The lead is the peak ({peak:.2f}x: 2,500 against 752 TFLOP/s bf16) times the MFU "
              f"ratio ({g.mfu / a.mfu:.2f}: {pct(g.mfu)} against {pct(a.mfu)}): {why}. Per scale-up system, one "
              f"CloudMatrix 384 (384 NPUs) delivers **{1 / domain:.2f}x** an NVL72 rack (72 GPUs), at about 4.7x the "
              "rack power (559 kW against about 120 kW for GB300 NVL72, shared/research/hardware.md §5). GB300 "
              f"against the rest, per device: {', '.join(others)}. Per purchase dollar (catalog all-in shares of "
              f"{g.chip.purchase_usd:,.0f} and {a.chip.purchase_usd:,.0f} USD, both low confidence) the GB300's "
              f"lead over the 910C is {per_usd:.2f}x; MI325X, MTT S5000 "
              "and MLU690 have no catalog purchase price. MTT S5000, MLU590 "
              "and MLU690 rest on low-confidence or estimated figures (warnings below), so their rows are "
              "indications only.")
        s.anchor("gb300_over_910c_per_device", lead, "ratio", note="the claim tested is '>30% ahead' (ratio > 1.3)")
        s.anchor("cm384_over_nvl72_per_system", 1 / domain, "ratio")
    return s


def _one_t_figure(results: dict):
    import plotly.graph_objects as go

    chips = list(results)
    fig = go.Figure()
    for key, label in PARTS:
        fig.add_trace(go.Bar(name=label, x=chips, y=[results[c].breakdown.get(key, 0.0) for c in chips]))
    fig.update_layout(barmode="stack", title="Kimi K2 on 4,096 devices, 16,384 x 4,096 tokens a step: step time by "
                      "part (lower is faster; exposed communication only)", yaxis_title="seconds per step")
    return fig
