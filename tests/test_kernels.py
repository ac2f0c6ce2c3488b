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
