"""Kernel tables (issue 15 item 1): sourced rows, the efficiencies derived from them, and the cost model's use."""

import dataclasses

import numpy as np
import pytest

from xpuplan import api
from xpuplan.catalog import chip_from_dict, load_chip, load_framework, read_yaml
from xpuplan.catalog.kernels import (CATALOG_DIR, fit_efficiency_curve, gemm_band, kernel_efficiency,
                                     load_kernel_table)
from xpuplan.errors import BadInput

TABLES = sorted(p.stem for p in (CATALOG_DIR / "kernels").glob("*.yaml"))


def test_there_are_tables_for_the_chips_issue_15_names():
    assert {"h100-sxm", "a100-sxm-80gb", "b200", "mi300x", "ascend-910b"} <= set(TABLES)


@pytest.mark.parametrize("name", TABLES)
def test_every_row_cites_a_listed_source(name):
    table = load_kernel_table(name)
    rows = list(table["gemm"]) + list(table.get("gemm_fp8") or []) + list(table.get("memory") or [])
    rows += list(table.get("gemm_fp4") or []) + list(table.get("gemm_stream") or [])
    rows += [r for kind in (table.get("attention") or {}).values() for r in kind]
    rows += [r[1:] for r in table.get("attention_published") or []]
    assert rows
    for row in rows:
        assert row[-1] in table["sources"], row
    assert all(len(text) > 40 for text in table["sources"].values())  # a source says where, not just a name


@pytest.mark.parametrize("name", TABLES)
def test_the_derived_gemm_curve_lies_in_the_published_band_and_follows_its_rows(name):
    derived = kernel_efficiency(name)
    table = load_kernel_table(name)
    if "gemm_max" not in derived:  # too few sizes for a curve: the band alone
        assert len({m * n * k for m, n, k, *_ in table["gemm"]}) < 3
        return
    low, high, source = gemm_band(name)
    assert source
    peak = float(table["peak_bf16"].replace("TFLOPS", "")) * 1e12
    big = 2.0 * 8192**3
    at_big = derived["gemm_max"] * big / (big + derived["gemm_half_flops"])
    assert low <= at_big <= high
    flops = np.array([2.0 * m * n * k for m, n, k, _, _ in table["gemm"]])
    measured = np.array([t * 1e12 / peak for *_, t, _ in table["gemm"]])
    curve = derived["gemm_max"] * flops / (flops + derived["gemm_half_flops"])
    assert np.median(np.abs(curve - measured)) < 0.05


KNOWN_OUTSIDE_BAND = {
    "ascend-910b": "the profile's 0.71 at 8192^3 is calibrated end to end on MindSpeed runs; the community matmul "
                   "figures (0.85-0.89 of a derived 353.9 TFLOP/s peak, 'reference only') say the chip's GEMMs are "
                   "faster, so the fit is absorbing costs of its runs the model does not name",
}
"""issue 15's check, 'the GEMM efficiencies used within the band of the published microbenchmarks they cite', where
it fails today, with the reason"""


@pytest.mark.parametrize("name", TABLES)
def test_the_catalogs_large_gemm_efficiency_lies_in_its_tables_band(name):
    """The efficiency the catalog profile of the table's chip uses for a large GEMM (8192^3) lies inside the band
    its published benchmarks span; the known exceptions are listed with their reason."""
    eff = load_chip(name).efficiency
    f = 2.0 * 8192**3
    used = eff.gemm_max * f / (f + eff.gemm_half_flops)
    low, high, _ = gemm_band(name)
    inside = low - 0.01 <= used <= high + 0.01
    assert inside != (name in KNOWN_OUTSIDE_BAND), (name, round(used, 3), (low, high))


def test_gh100_attention_kinds_match_the_published_flashattention3_figure():
    """The probe's rows against the FlashAttention-3 paper's causal head-dim-128 forward at 16k (an independent
    measurement on an H100 SXM5): FlashAttention-2 within 10%; cuDNN faster than the paper's (cuDNN 9.19 against
    the paper's 2024 release) but within 25%."""
    table = load_kernel_table("h100-sxm")
    for kind, seq, head_dim, tflops, _ in table["attention_published"]:
        ours = next(r[2] for r in table["attention"][kind] if r[0] == seq and r[1] == head_dim)
        assert 0.9 * tflops <= ours <= (1.1 if kind == "flash2" else 1.25) * tflops, kind
    derived = kernel_efficiency("h100-sxm")
    kinds = {k: (f, b) for k, f, b in derived["attention_kernels"]}
    assert kinds["cudnn"][0] > kinds["flash2"][0] > kinds["mem_efficient"][0]
    assert (derived["attention_fwd"], derived["attention_bwd"]) == kinds["flash2"]  # the reference kind


def test_memory_fractions_are_below_a_plain_copy():
    derived = kernel_efficiency("h100-sxm")
    assert 0.4 < derived["hbm_elementwise"] < 0.85  # norms reduce along rows: slower than STREAM's 0.85
    assert 0.5 < derived["hbm_optimizer"] < 0.9


def test_fp8_curve_half_size_is_larger_than_bf16s():
    derived = kernel_efficiency("h100-sxm")
    assert derived["gemm_fp8_half_flops"] > derived["gemm_half_flops"]  # twice the rate, same per-call latency


def test_curve_fit_recovers_its_parameters():
    f = np.logspace(8, 13, 30)
    g, h = fit_efficiency_curve(f, 0.7 * f / (f + 5e9))
    assert g == pytest.approx(0.7, rel=1e-3) and h == pytest.approx(5e9, rel=1e-2)


def _chip_with_table():
    data = dict(read_yaml(CATALOG_DIR / "chips" / "h100-sxm.yaml"))
    data["name"] = "h100-measured"
    data["efficiency"] = {"kernels": "h100-sxm", "hbm": 0.85}
    return chip_from_dict(data, "test chip")


def test_a_profile_naming_a_table_takes_its_figures():
    chip = _chip_with_table()
    derived = kernel_efficiency("h100-sxm")
    assert chip.efficiency.kernel_table == "h100-sxm"
    assert chip.efficiency.gemm_max == derived["gemm_max"]
    assert chip.efficiency.attention("cudnn") == dict((k, (f, b)) for k, f, b in derived["attention_kernels"])["cudnn"]
    assert chip.efficiency.attention("no-such-kernel") == (chip.efficiency.attention_fwd, chip.efficiency.attention_bwd)


def test_a_profile_may_not_set_what_its_table_sets():
    data = dict(read_yaml(CATALOG_DIR / "chips" / "h100-sxm.yaml"))
    data["efficiency"] = {"kernels": "h100-sxm", "gemm_max": 0.9}
    with pytest.raises(BadInput, match="gemm_max come from kernel table 'h100-sxm'"):
        chip_from_dict(data, "test chip")


def test_unknown_table_lists_the_known_ones():
    data = dict(read_yaml(CATALOG_DIR / "chips" / "h100-sxm.yaml"))
    data["efficiency"] = {"kernels": "h100"}
    with pytest.raises(BadInput, match="known: .*h100-sxm"):
        chip_from_dict(data, "test chip")


def test_the_frameworks_attention_kernel_prices_attention():
    """Transformer Engine's cuDNN attention (Megatron on Hopper) against PyTorch's FlashAttention-2: same job, the
    cuDNN run is faster by the attention time the kernel table says, and nothing else moves."""
    chip = _chip_with_table()
    kw = dict(model="llama3-8b", chip=chip, devices=8, tp=1, pp=1, seq_len=8192, global_batch=64, micro_batch=1,
              recompute="none", zero=1)
    cudnn = api.train(framework="megatron", **kw)
    flash2 = api.train(framework=dataclasses.replace(load_framework("megatron"), attention_kernel="flash2"), **kw)
    assert cudnn.breakdown["compute_s"] < flash2.breakdown["compute_s"]
    for key in ("dp_comm_s", "optimizer_s"):
        assert cudnn.breakdown[key] == pytest.approx(flash2.breakdown[key])


def test_catalog_chips_without_a_table_are_unchanged_by_it():
    assert load_chip("a100-sxm-80gb").efficiency.kernel_table == ""
    assert load_chip("a100-sxm-80gb").efficiency.attention("cudnn") == (
        load_chip("a100-sxm-80gb").efficiency.attention_fwd, load_chip("a100-sxm-80gb").efficiency.attention_bwd)


def test_a_probe_written_table_loads_and_a_chip_can_name_it(tmp_path):
    """`xpuplan probe --kernels FILE.yaml` writes the catalog's schema: the rows of a probe run become a table a chip
    profile names by path, its GEMM curve fitted from them."""
    import yaml

    from xpuplan.probe.kernels import KernelRow, kernel_table_data

    peak = 1000e12
    rows = [KernelRow(family="gemm", op="matmul", dtype="bf16", m=m, n=n, k=k, flops=2.0 * m * n * k,
                      seconds=2.0 * m * n * k / (peak * 0.7 * (2.0 * m * n * k) / (2.0 * m * n * k + 5e9)))
            for m in (256, 1024, 4096) for n, k in ((1024, 1024), (4096, 4096), (8192, 8192))]
    rows += [KernelRow(family="attention", op=op, dtype="bf16", backend="flash", batch=1, heads=16, seq_len=8192,
                       head_dim=128, flops=1e12 * (2.5 if op == "bwd" else 1.0), seconds=1e12 / (0.4 * peak))
             for op in ("fwd", "bwd")]
    rows += [KernelRow(family="gemm", op="matmul", dtype="bf16", m=64, n=64, k=64, note="failed: RuntimeError")]
    for r in rows:
        if r.seconds:
            r.flops_per_s = r.flops / r.seconds
    table = kernel_table_data(rows, device_name="test device", peak_bf16_flops_per_s=peak, peak_fp8_flops_per_s=None,
                              hbm_bytes_per_s=3e12, source="xpuplan probe --kernels t.yaml")
    assert len(table["gemm"]) == 9 and all(r[-1] == "probe" for r in table["gemm"])  # the failed row is left out
    assert table["reference_attention"] == "flash2"
    path = tmp_path / "measured.yaml"
    path.write_text(yaml.safe_dump(table))
    derived = kernel_efficiency(str(path))
    assert derived["gemm_max"] == pytest.approx(0.7, rel=0.02)
    assert derived["gemm_half_flops"] == pytest.approx(5e9, rel=0.05)
    data = dict(read_yaml(CATALOG_DIR / "chips" / "h100-sxm.yaml"))
    data["efficiency"] = {"kernels": str(path)}
    assert chip_from_dict(data, "test chip").efficiency.kernel_table == str(path)


def test_the_catalog_lists_kernel_tables_with_their_sources():
    import json

    from xpuplan import api
    from xpuplan.report.catalog import catalog_rows

    rows = catalog_rows("kernels", api.catalog("kernels"))
    assert {r["name"] for r in rows} == set(TABLES)
    h100 = next(r for r in rows if r["name"] == "h100-sxm")
    assert h100["gemm_max"] == kernel_efficiency("h100-sxm")["gemm_max"] and "cudnn" in h100["attention"]
    assert all(r["sources"] and all(": " in s for s in r["sources"]) for r in rows)
    assert json.loads(json.dumps(rows)) == rows


LOW_PRECISION_ROWS = [(name, key) for name in TABLES for key in ("gemm_fp8", "gemm_fp4")
                      if f"{key}_band" in load_kernel_table(name)]
"""the fp8 and fp4 GEMM sections that cite a published band (the B200's and MI300X's, session 11)"""


@pytest.mark.parametrize("name,key", LOW_PRECISION_ROWS)
def test_each_low_precision_row_lies_in_the_band_its_table_cites(name, key):
    """Every fp8/fp4 row's efficiency (achieved over the datasheet peak of its format) stays under the band's top, and
    the large ones (5e10 FLOPs or more, past the per-call latency) lie inside the band the sources span."""
    table = load_kernel_table(name)
    low, high, source = gemm_band(name, f"{key}_band")
    assert source and 0 < low < high < 1
    peak = float(table["peak_" + key.split("_")[1]].replace("TFLOPS", ""))
    large = 0
    for m, n, k, tflops, _ in table[key]:
        eff = tflops / peak
        assert 0 < eff <= high + 0.005, (m, n, k, round(eff, 3))
        if 2.0 * m * n * k >= 5e10:
            large += 1
            assert low - 0.005 <= eff <= high + 0.005, (m, n, k, round(eff, 3))
    assert large >= 1
    derived = kernel_efficiency(name)
    flops = np.array([2.0 * m * n * k for m, n, k, _, _ in table[key]])
    measured = np.array([t / peak for *_, t, _ in table[key]])
    curve = derived[f"{key}_max"] * flops / (flops + derived[f"{key}_half_flops"])
    assert np.median(np.abs(curve - measured)) < 0.05  # the derived curve follows its rows


@pytest.mark.parametrize("name", [t for t in TABLES if load_kernel_table(t).get("gemm_stream")])
def test_stream_rows_are_decode_sized_and_read_their_weights_below_a_stream_copy(name):
    """gemm_stream rows are decode batches (m <= 16) over 40 MB of weights or more; the rate they read them at is
    below the datasheet and, where the table measured a STREAM-like kernel, below it too."""
    from xpuplan.specs import WEIGHT_FORMATS

    table = load_kernel_table(name)
    for dtype, m, n, k, _, _ in table["gemm_stream"]:
        assert m <= 16 and n * k * WEIGHT_FORMATS[dtype][0] >= 40e6, (dtype, m, n, k)
    derived = kernel_efficiency(name)
    assert 0.3 < derived["hbm"] < 0.85
    if "hbm_fp4" in derived:  # fp4 GEMV kernels stream their packed weights slower than bf16/fp8 ones
        assert derived["hbm_fp4"] < derived["hbm"]
    assert derived["hbm"] < derived["hbm_elementwise"]  # a GEMV's weight reads against a copy-class kernel


def test_b200_low_precision_curves_come_from_its_rows_not_a_fallback():
    """Before session 11 the B200 priced fp8 and fp4 GEMMs on the H100 profile's 0.65 prior with the bf16 half point;
    now each format has its own measured curve, fp4 below fp8 below bf16 as a fraction of their own peaks."""
    derived = kernel_efficiency("b200")
    assert derived["gemm_fp4_max"] < derived["gemm_fp8_max"] and derived["gemm_fp4_max"] < derived["gemm_max"]
    assert derived["gemm_fp4_half_flops"] > derived["gemm_fp8_half_flops"] > derived["gemm_half_flops"]
    chip = load_chip("b200")
    assert chip.kernels.gemm_fp4_max == derived["gemm_fp4_max"] and chip.efficiency.gemm_fp4_max is None
    assert load_chip("mi300x").kernels.gemm_fp8_max == kernel_efficiency("mi300x")["gemm_fp8_max"]


def test_fp4_serving_gemms_use_the_fp4_curve_and_the_fp4_streaming_rate():
    """An fp4 weight GEMM on a B200: a large batch runs at the fp4 curve of the fp4 peak, a decode batch reads its
    packed weights at hbm_fp4; without fp4 rows the same GEMM falls back to the fp8 curve and hbm."""
    from xpuplan.cost import serve

    chip = load_chip("b200")
    eff = chip.kernels
    k, n = 8192, 28672
    f = 2.0 * 4096 * k * n
    big = float(serve._gemm_s(4096.0, k, n, chip, "fp4"))
    assert big == pytest.approx(f / (chip.peak("fp4") * eff.gemm_fp4_max * f / (f + eff.gemm_fp4_half_flops)))
    one = float(serve._gemm_s(1.0, k, n, chip, "fp4"))
    read = k * n * 0.5 + 2.0 * (k + n)
    assert one == pytest.approx(max(read / (chip.hbm_bytes_per_s * eff.hbm_fp4),
                                     2.0 * k * n / (chip.peak("fp4") * eff.gemm_fp4_max * 2.0 * k * n
                                                    / (2.0 * k * n + eff.gemm_fp4_half_flops))))
    without = dataclasses.replace(chip, kernels=dataclasses.replace(eff, gemm_fp4_max=None, gemm_fp4_half_flops=None,
                                                                    hbm_fp4=None))
    fallback = float(serve._gemm_s(4096.0, k, n, without, "fp4"))
    assert fallback == pytest.approx(f / (chip.peak("fp4") * eff.gemm_fp8_max * f / (f + eff.gemm_fp8_half_flops)))
    assert big > fallback  # the measured fp4 kernels are slower than the fp8 curve at the fp4 peak said


def test_attention_runs_in_the_kv_caches_precision_not_the_weights():
    """No engine runs attention in fp4: an FP4 checkpoint's FMHA with an FP8 cache is priced at the fp8 peak. FP8
    attention comes with the FP8 cache (vLLM's FlashAttention-3, TensorRT-LLM's builder): an FP8 checkpoint served
    with a bf16 cache runs bf16 attention, and an engine that dequantizes the cache computes in bf16 too."""
    import dataclasses

    from xpuplan.catalog import load_engine, load_model
    from xpuplan.cost import serve
    from xpuplan.plan import resolve_serve_plan

    chip, model = load_chip("b200"), load_model("llama3-8b")

    def peak(precision, kv, engine=load_engine("trt-llm")):
        plan = resolve_serve_plan(model, chip, 1, engine=engine, precision=precision, kv_precision=kv)
        return serve._attention_peak(chip, plan)

    assert peak("fp4", "fp8") == peak("fp8", "fp8") == chip.peak("fp8") > chip.peak("bf16")
    assert peak("fp8", "bf16") == peak("fp4", "bf16") == peak("bf16", "bf16") == chip.peak("bf16")
    dequantizing = dataclasses.replace(load_engine("vllm"), fp8_attention=False)
    assert peak("fp8", "fp8", dequantizing) == chip.peak("bf16")
    long_prompt = {kv: float(serve.prefill_attention_s(model, chip, resolve_serve_plan(
        model, chip, 1, engine=load_engine("vllm"), precision="fp8", kv_precision=kv), 8192.0, 8192)) for kv in
        ("fp8", "bf16")}
    assert long_prompt["bf16"] == pytest.approx(long_prompt["fp8"] * chip.peak("fp8") / chip.peak("bf16"))



def test_the_fused_moe_kernel_is_priced_from_its_own_measured_times_within_its_bands():
    """vLLM's Triton fused MoE kernel timed by its benchmark_moe.py on the H100 (catalog/kernels/h100-sxm.yaml, vLLM
    PR 24700): the four figures of each weight dtype, fitted in log time, reproduce every row within 10% and the
    median within 3%, and lie strictly inside their physical bands; the bf16 kernel streams its experts' weights
    faster than the torch grouped GEMM the table also measured (hbm_grouped), as a decode kernel should."""
    from xpuplan.cost.fused_moe import BOUNDS, PARAMS, figures, fused_moe_s, routing

    derived = kernel_efficiency("h100-sxm")
    timed = {dtype: rest for dtype, *rest in derived["fused_moe"]}
    assert set(timed) == {"bf16", "fp8"}
    fitted = {}
    for dtype, (hbm, peak, rows) in timed.items():
        wbytes = 2.0 if dtype == "bf16" else 1.0
        fig = dict(zip(PARAMS, figures(wbytes, hbm, peak, rows)))
        fitted[dtype] = fig
        for name, (low, high) in BOUNDS.items():
            assert low < fig[name] < high
        errors = []
        for e, n, k, top_k, tokens, seconds in rows:
            touched, per_expert = routing(tokens, e, top_k)
            t = fused_moe_s(per_expert, touched, k, n, 3, wbytes, hbm, peak, **fig)
            errors.append(abs(float(t) / seconds - 1))
        assert max(errors) < 0.10 and np.median(errors) < 0.03, (dtype, errors)
    assert fitted["bf16"]["hbm"] > derived["hbm_grouped"]


def test_fused_moe_rows_that_put_a_figure_on_its_band_edge_are_refused():
    """A fit that lands on the edge of a figure's band cannot place it: rows faster than the device's bandwidth allows
    (a streaming fraction pinned at 1) are one clear error naming the figure, not a number."""
    from xpuplan.cost.fused_moe import figures

    hbm, peak, rows = kernel_efficiency("h100-sxm")["fused_moe"][0][1:]
    too_fast = tuple(r[:5] + (r[5] / 3.0,) for r in rows)
    with pytest.raises(BadInput, match="fused_moe rows put hbm.* on the edge of its band"):
        figures(2.0, hbm, peak, too_fast)


def test_a_served_moe_layer_holds_every_expert_on_every_tensor_parallel_rank():
    """Without expert parallelism an engine shards each expert over the tensor-parallel ranks and keeps all of them
    on every rank: a decode batch that touches every expert reads 1/tp of the experts' weights on each device (the
    model had split the expert count by tp as well, reading 1/tp^2). On the H100 vLLM's layer is the fused kernel, whose
    time at 128 sequences is its measured streaming plus its call; a chip without fused rows, or TensorRT-LLM with its
    own MoE kernels, keeps grouped GEMMs."""
    from xpuplan import catalog
    from xpuplan.cost.fused_moe import figures
    from xpuplan.cost.serve import weight_kernels_s
    from xpuplan.plan import resolve_serve_plan

    model, h100 = catalog.load_model("qwen3-30b-a3b"), load_chip("h100-sxm")
    vllm = catalog.load_engine("vllm")
    plans = {tp: resolve_serve_plan(model, h100, tp, tp=tp, pp=1, dp=1, precision="bf16", kv_precision="bf16",
                                    engine=vllm) for tp in (1, 2)}
    dense = {tp: weight_kernels_s(dataclasses.replace(model, moe=None, ffn_hidden=1), h100, plans[tp], 128.0)
             for tp in (1, 2)}
    moe = {tp: float(weight_kernels_s(model, h100, plans[tp], 128.0) - dense[tp]) for tp in (1, 2)}
    hbm_frac, call_s, *_ = figures(2.0, *h100.kernels.fused_moe_for("bf16"))
    expert_bytes = model.moe.experts * 3 * model.hidden * model.moe.expert_ffn_hidden * 2.0
    for tp in (1, 2):
        per_layer = moe[tp] / model.moe_layers
        streamed = call_s + expert_bytes / tp / (h100.hbm_bytes_per_s * hbm_frac)
        assert per_layer == pytest.approx(streamed, rel=0.15), tp
    assert moe[2] / moe[1] > 0.45  # half the bytes a device, not a quarter
    assert load_chip("b200").kernels.fused_moe_for("bf16") is None
    trtllm = dataclasses.replace(plans[2], engine=catalog.load_engine("trt-llm"))  # its own MoE kernels: grouped
    assert float(weight_kernels_s(model, h100, trtllm, 128.0)) != pytest.approx(moe[2] + float(dense[2]))
