"""A die variant's efficiency from its calibrated parent's (catalog/inherit.py): the kernel table's time moves to the
variant's compute, the calibrated rest to its HBM bandwidth."""

import pytest

from xpuplan.catalog import load_chip


def _gemm_s(e, chip, flops):
    """Seconds of one bf16 GEMM of ``flops`` on ``chip`` with profile ``e`` (the size curve)."""
    return flops / (chip.peak("bf16") * e.gemm_max * flops / (flops + e.gemm_half_flops))


def test_a_variant_with_its_parents_compute_and_memory_gets_its_parents_profile():
    h100, h800 = load_chip("h100-sxm"), load_chip("h800")
    assert h800.peak("bf16") == h100.peak("bf16") and h800.hbm_bytes_per_s == h100.hbm_bytes_per_s
    for field in ("gemm_max", "gemm_half_flops", "attention_fwd", "attention_bwd"):
        assert getattr(h800.efficiency, field) == getattr(h100.efficiency, field)
    assert "carried" not in h800.efficiency.source


@pytest.mark.parametrize("flops", [1e9, 3.4e10, 1e12])
def test_the_h200_keeps_the_kernels_time_and_moves_the_rest_with_its_bandwidth(flops):
    """A GEMM on the H200 (the H100's compute, 1.43x its bandwidth): the H100's per-FLOP rate (its calibration is no
    slower than the GH100 table for large GEMMs: nothing to move) and a call's fixed cost split into the table's
    latency and the calibrated rest, that rest x 3.35/4.8."""
    from xpuplan.catalog.kernels import kernel_efficiency, load_kernel_table
    from xpuplan.units import parse_quantity

    h100, h200 = load_chip("h100-sxm"), load_chip("h200")
    k, e = kernel_efficiency("h100-sxm"), h100.efficiency
    latency_k = k["gemm_half_flops"] / (parse_quantity(load_kernel_table("h100-sxm")["peak_bf16"], "flops_per_s")
                                         * k["gemm_max"])
    latency_p = e.gemm_half_flops / (h100.peak("bf16") * e.gemm_max)
    s = h100.hbm_bytes_per_s / h200.hbm_bytes_per_s
    expected = flops / (h200.peak("bf16") * e.gemm_max) + latency_k + (latency_p - latency_k) * s
    assert _gemm_s(h200.efficiency, h200, flops) == pytest.approx(expected, rel=1e-9)
    assert _gemm_s(h200.efficiency, h200, flops) < _gemm_s(h100.efficiency, h100, flops)
    assert h100.efficiency.attention_fwd < h200.efficiency.attention_fwd < k["attention_fwd"]
    assert "carried from h100-sxm" in h200.efficiency.source


def test_a_slower_die_keeps_a_gemm_calls_fixed_cost_in_seconds_not_in_flops():
    """The H20 (148 TFLOP/s) took the H100's half point in FLOPs: 3e10 / (148e12 x 0.72), 281 us on every GEMM call;
    carried as time, a call costs what it costs on an H100 scaled by the bandwidth ratio, tens of microseconds."""
    h100, h20 = load_chip("h100-sxm"), load_chip("h20")
    call_h100 = h100.efficiency.gemm_half_flops / (h100.peak("bf16") * h100.efficiency.gemm_max)
    call_h20 = h20.efficiency.gemm_half_flops / (h20.peak("bf16") * h20.efficiency.gemm_max)
    assert call_h20 < 1.1 * call_h100 and call_h20 < 60e-6


def test_fields_a_variant_sets_itself_and_other_families_are_left_alone():
    h100, own, b200 = load_chip("h100-sxm"), load_chip("h100-96gb-500w"), load_chip("b200")
    assert own.efficiency.gemm_half_flops == 1e11 and own.efficiency.attention_fwd == 0.24  # its own calibration
    for field in ("gemm_max", "gemm_half_flops", "attention_fwd", "attention_bwd"):  # Blackwell: another table
        assert getattr(b200.efficiency, field) == getattr(h100.efficiency, field)


def test_a_variant_with_its_own_kernel_table_takes_its_gemms_from_it_and_the_rest_from_its_parent():
    """The A10G (GA102) names its own measured matmul sweep and is `like` the A100: its GEMM curve is the table's fit
    (not the A100's calibrated 0.83), its attention and memory fractions stay the A100's, and serving prices its GEMMs
    on the same curve."""
    from xpuplan.catalog.kernels import kernel_efficiency

    a10g, a100 = load_chip("a10g"), load_chip("a100-sxm-80gb")
    table = kernel_efficiency("a10g")
    assert (a10g.efficiency.gemm_max, a10g.efficiency.gemm_half_flops) == (table["gemm_max"], table["gemm_half_flops"])
    assert a10g.efficiency.gemm_max > a100.efficiency.gemm_max
    for field in ("attention_fwd", "attention_bwd", "hbm", "scale_up", "scale_out"):
        assert getattr(a10g.efficiency, field) == getattr(a100.efficiency, field)
    assert a10g.kernels is not None and a10g.kernels.gemm_max == table["gemm_max"]
    assert "inherits a100-sxm-80gb" in a10g.efficiency.source
