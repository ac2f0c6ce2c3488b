"""A die variant's efficiency from its calibrated parent's: what the kernels explain moves with the variant's compute,
what the calibration absorbed beyond them moves with its HBM bandwidth.

A chip without runs of its own inherits its nearest calibrated profile (``like:`` in ``catalog/efficiency``). Its
fractions used to carry over as they were, as fractions of the variant's own peaks. That is right for what the
kernels do, which the variant's kernel table (or its parent's, for the same die) measures at the variant's own
speed, and wrong for the rest: a calibrated GEMM curve and attention pair are fitted end to end, so they also hold
the time the fit could not name (element-wise passes between kernels, launch gaps, memory-bound work), and that
time follows HBM bandwidth, not FLOP/s. An H200 (the H100's compute, 1.43x its bandwidth) priced with the H100's
fractions got none of its bandwidth on that part, and every H200 training run in the holdouts came out 17-48% slow
(benchmarks/results/validation.md); an H20 (148 TFLOP/s) took the H100's GEMM half point in FLOPs, 3e10, a 281 us
fixed cost on every GEMM call where the H100 pays 42 us.

For a variant whose parent's kernel table also describes it (the same die: the GH100's H200, H20, H800 and H100
PCIe), each inherited calibrated field is split on the parent into the kernel table's time and the residual, and
rebuilt on the variant with the kernel time at the variant's peak and the residual scaled by ``bw_parent /
bw_variant``. With t = f / (P e) the time of f FLOPs at peak P and efficiency e:

* GEMM curve (e = max f / (f + half)): per FLOP ``1 / (P_c max_c) = 1 / (P_c max_k) + (1/max_p - 1/max_k) s / P_p``,
  per call ``half_c / (P_c max_c) = L_k + (half_p / (P_p max_p) - L_k) s``, where L_k = half_k / (P_k max_k) is the
  table's call latency (the same on every die of the family); a term where the calibration is faster than the table
  (the H100's 0.72 against the table's 0.69 for the largest GEMMs) is no cost, and carries unscaled;
* attention (forward, backward, each a fraction): ``1/e_c = 1/e_k + (1/e_p - 1/e_k) s P_c / P_p`` against the
  table's reference kernel, the kind the calibrated pair stands for.

A variant with its parent's peak and bandwidth (the H800) gets its parent's values exactly. Fields the variant's own
file sets, and variants in another kernel table's family (Blackwell under the H100's profile), are left as they are;
so is a field the table does not measure."""

from __future__ import annotations

from ..units import parse_quantity
from .files import read_yaml
from .kernels import CATALOG_DIR, kernel_efficiency, load_kernel_table, table_of_chip

CARRIED = ("gemm_max", "gemm_half_flops", "attention_fwd", "attention_bwd")
"""the calibrated fields a die variant rebuilds from its parent's (the four calibrate.py fits per chip family)"""


def _speeds(chip_name: str) -> tuple[float, float] | None:
    """(dense bf16 FLOP/s, HBM bytes/s) from the chip file, or None where it lacks either."""
    path = CATALOG_DIR / "chips" / f"{chip_name}.yaml"
    if not path.is_file():
        return None
    data = read_yaml(path) or {}
    peak = (data.get("peak_flops") or {}).get("bf16")
    bandwidth = (data.get("hbm") or {}).get("bandwidth")
    if peak is None or bandwidth is None:
        return None
    return parse_quantity(peak, "flops_per_s"), parse_quantity(bandwidth, "bytes_per_s")


def carried(child: str, parent: str, values: dict, own: set, parents_own: set) -> tuple[dict, str]:
    """The carried fields of ``child`` from its ``parent``'s ``values`` (the merged profile), for the fields the
    parent's own file calibrates (``parents_own``: a parent that inherits them itself has nothing measured to split)
    and the child's does not set (``own``), and a note saying so ("" when nothing is carried)."""
    own = set(own) | (set(CARRIED) - set(parents_own))
    table = table_of_chip().get(parent)
    if not table or table_of_chip().get(child) != table:
        return {}, ""
    speeds_child, speeds_parent = _speeds(child), _speeds(parent)
    if speeds_child is None or speeds_parent is None:
        return {}, ""
    (peak_child_flops_per_s, bw_child_bytes_per_s), (peak_parent_flops_per_s, bw_parent_bytes_per_s) = \
        speeds_child, speeds_parent
    s = bw_parent_bytes_per_s / bw_child_bytes_per_s  # the residual's time on the child per second on the parent
    kernel = kernel_efficiency(table)
    table_peak_flops_per_s = parse_quantity(load_kernel_table(table)["peak_bf16"], "flops_per_s")
    out = {}
    if {"gemm_max", "gemm_half_flops"}.isdisjoint(own) and {"gemm_max", "gemm_half_flops"} <= set(kernel):
        max_p, half_p = float(values["gemm_max"]), float(values["gemm_half_flops"])
        max_k, half_k = kernel["gemm_max"], kernel["gemm_half_flops"]
        call_kernel_s = half_k / (table_peak_flops_per_s * max_k)
        call_parent_s = half_p / (peak_parent_flops_per_s * max_p)
        # a residual is a cost the kernels leave out; where the calibration came out faster than the table (a large
        # GEMM at 0.72 of peak against the table's 0.69) there is none to move, and the calibrated figure carries
        if max_p <= max_k:
            s_per_flop = (1.0 / (peak_child_flops_per_s * max_k)
                          + (1.0 / max_p - 1.0 / max_k) * s / peak_parent_flops_per_s)
        else:
            s_per_flop = 1.0 / (peak_child_flops_per_s * max_p)
        call_s = (call_kernel_s + (call_parent_s - call_kernel_s) * s if call_parent_s >= call_kernel_s
                  else call_parent_s)
        if s_per_flop > 0 and call_s > 0 and 1.0 / (peak_child_flops_per_s * s_per_flop) <= 1.0:
            out["gemm_max"] = 1.0 / (peak_child_flops_per_s * s_per_flop)
            out["gemm_half_flops"] = call_s * peak_child_flops_per_s * out["gemm_max"]
    peak_ratio = peak_child_flops_per_s / peak_parent_flops_per_s
    for field in ("attention_fwd", "attention_bwd"):
        if field in own or field not in kernel:
            continue
        e_p, e_k = float(values[field]), kernel[field]
        inverse = 1.0 / e_k + (1.0 / e_p - 1.0 / e_k) * s * peak_ratio if e_p <= e_k else 1.0 / e_p
        if inverse >= 1.0:
            out[field] = 1.0 / inverse
    out = {k: v for k, v in out.items() if abs(v / float(values[k]) - 1.0) > 1e-9}  # the H800: nothing moves
    if not out:
        return {}, ""
    return out, (f"{', '.join(sorted(out))} carried from {parent}: the {table} kernel table's time at {child}'s own "
                 f"peak, the calibrated rest at {s:.2f}x the time ({parent}'s HBM bandwidth over {child}'s)")
