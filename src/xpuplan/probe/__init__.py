"""``xpuplan probe``: measure a device with PyTorch and write a chip profile YAML.

The only part of xpuplan that imports torch (lazily, inside the functions).
Steps: GEMM sweep per dtype -> peaks and the size-to-efficiency fit; memory
bandwidth; kernel launch gap; causal attention; collectives when several
devices are visible; a real GPT training step, compared with xpuplan's own
estimate of it from the just-measured profile. The written file loads with
``xpuplan.catalog.load_chip`` and works as ``xpuplan train --chip FILE``.
"""

from __future__ import annotations

from typing import Callable

from ..errors import BadInput
from .device import SUPPORTED_DEVICES, open_device

__all__ = ["SUPPORTED_DEVICES", "run_probe"]


def _command(device: str, out: str, quick: bool, like: str | None, kernels: str | None = None) -> str:
    parts = ["xpuplan probe", "--device", device, "--out", out]
    parts += ["--quick"] if quick else []
    parts += ["--like", like] if like else []
    parts += ["--kernels", kernels] if kernels else []
    return " ".join(parts)


def _gemm_sweep(backend, quick: bool, say: Callable[[str], None]) -> tuple[list, dict]:
    """All GEMM rows and the measured peak FLOP/s per dtype."""
    from . import gemm

    shapes = gemm.gemm_shapes(quick, accelerator=not backend.is_cpu)
    max_call_s, budget_s = (0.05, 0.15) if quick else (0.5, 2.0)
    rows, peaks = [], {}
    for dtype in gemm.DTYPES:
        if not gemm.supported(backend, dtype):
            say(f"gemm {dtype}: not supported on {backend.kind}, skipped")
            continue
        dtype_rows = gemm.measure_gemms(backend, dtype, shapes, max_call_s=max_call_s, budget_s=budget_s,
                                        progress=say)
        if dtype_rows:
            rows += dtype_rows
            peaks[dtype] = gemm.peak_flops_per_s(dtype_rows)
    if not peaks.get("bf16") and not peaks.get("fp16"):
        raise BadInput(f"device {backend.kind}: neither bf16 nor fp16 GEMMs run on {backend.device_name}", "device")
    return rows, peaks


def _kernel_tables(backend, path: str, quick: bool, peaks: dict, memory_bytes_per_s: float, command: str,
                   say: Callable[[str], None], like_chip=None) -> None:
    """Time the kernel tables and write them: ``.csv`` every row; ``.yaml`` a catalog kernel table
    (catalog/kernels/*.yaml schema) a chip profile can name with ``kernels: FILE``."""
    from datetime import date

    from . import kernels

    rows = kernels.measure_kernel_tables(backend, quick, tuple(d for d in ("bf16", "fp8") if peaks.get(d)), say)
    source = (f"{command}; torch {backend.torch.__version__}, {backend.runtime_version}; "
              f"{date.today().isoformat()}")
    main = "bf16" if peaks.get("bf16") else "fp16"
    if path.endswith((".yaml", ".yml")):  # a kernel table in the catalog's schema, against the datasheet where known
        datasheet = like_chip.peak_flops_per_s if like_chip is not None else {}
        hbm = like_chip.hbm_bytes_per_s if like_chip is not None and like_chip.hbm_bytes_per_s else memory_bytes_per_s
        table = kernels.kernel_table_data(
            rows, device_name=backend.device_name, peak_bf16_flops_per_s=datasheet.get("bf16") or peaks[main],
            peak_fp8_flops_per_s=datasheet.get("fp8") or peaks.get("fp8"), hbm_bytes_per_s=hbm, source=source)
        profile.write_profile(table, path)
    else:
        kernels.write_kernel_table(rows, path, device_name=backend.device_name, peak_flops_per_s=peaks[main],
                                   memory_bytes_per_s=memory_bytes_per_s, source=source)


def run_probe(device: str, out: str, quick: bool = False, like: str | None = None, kernels: str | None = None,
              progress: Callable[[str], None] | None = None) -> dict:
    """Measure ``device`` (cuda, npu, musa, mlu, xpu or cpu), write the chip profile to ``out``, return it.

    ``quick`` uses small shapes (a cpu probe takes well under a minute); ``like``
    names a catalog chip whose links, power and price are copied; ``progress`` is
    called with a short line before each measurement; ``kernels`` is a CSV path for the kernel tables
    (:mod:`xpuplan.probe.kernels`).
    """
    from ..catalog import chip_from_dict, load_chip
    from . import attention, collectives, gemm, membw, profile, train_step
    from .timing import launch_overhead_seconds

    say = progress or (lambda _line: None)
    like_chip = load_chip(like) if like else None
    backend = open_device(device)
    say(f"probing {backend.kind}: {backend.device_name}")

    gemm_rows, peaks = _gemm_sweep(backend, quick, say)
    main_dtype = "bf16" if peaks.get("bf16") else "fp16"
    main_peak = peaks[main_dtype]
    gemm_max, half_flops = gemm.fit_rows([r for r in gemm_rows if r.dtype == main_dtype], main_peak)
    fp8_max = None
    if peaks.get("fp8"):
        fp8_max, _ = gemm.fit_rows([r for r in gemm_rows if r.dtype == "fp8"], peaks["fp8"])

    bandwidth = membw.measure_bandwidth(backend, quick, progress=say)
    say("kernel launch gap")
    overhead_s = launch_overhead_seconds(backend)
    attn_rows = attention.measure_attention(backend, main_dtype, attention.attention_shapes(quick, not backend.is_cpu),
                                            budget_s=0.3 if quick else 2.0, progress=say)
    say("collectives")
    coll = collectives.measure_collectives(backend, quick)

    peak_text, notes = profile.usable_peaks(peaks)
    memory_bytes_per_s = membw.best_bytes_per_s(bandwidth)
    network, network_notes = profile.network_figures(coll, backend.kind, like_chip, memory_bytes_per_s)
    data = {
        "name": profile.profile_name(out, backend.device_name),
        "vendor": backend.vendor,
        "display_name": f"{backend.device_name} (measured by xpuplan probe)",
        "peak_flops": peak_text,
        "hbm": {"capacity": int(backend.memory_bytes()), "bandwidth": profile.bandwidth_text(memory_bytes_per_s)},
        **network,
        "confidence": "high",
        "notes": "; ".join(["peaks are the best measured GEMM rates, not datasheet figures"] + notes + network_notes),
        "sources": [f"xpuplan probe on {backend.device_name}"],
        "efficiency": profile.efficiency_block(
            gemm_max=gemm_max, gemm_half_flops=half_flops,
            attention=attention.attention_efficiency(attn_rows, main_peak), kernel_overhead_s=overhead_s,
            fp8_max=fp8_max, scale_up_measured="rows" in coll),
        "measured": profile.measured_block(backend=backend, command=_command(device, out, quick, like, kernels),
                                           gemm_rows=gemm_rows, membw=bandwidth, attention_rows=attn_rows,
                                           collectives=coll),
    }

    cfg = train_step.gpt_config(backend, quick)
    measured = train_step.measure_train_step(backend, cfg, quick, progress=say)
    chip = chip_from_dict(profile.plain_data(data), f"probe profile {data['name']}")
    predicted = train_step.predict_train_step(cfg, chip)
    data["measured"]["train_step"] = train_step.compare(measured, predicted, cfg, chip.peak("bf16"))
    data["measured"]["gemm_fit"] = {"dtype": main_dtype, "gemm_max_raw": gemm_max, "gemm_half_flops": half_flops}

    if kernels:
        _kernel_tables(backend, kernels, quick, peaks, memory_bytes_per_s,
                       _command(device, out, quick, like, kernels), say, like_chip)
        data["measured"]["kernel_tables"] = kernels
    say(f"writing {out}")
    profile.write_profile(data, out)
    return profile.plain_data(data)
