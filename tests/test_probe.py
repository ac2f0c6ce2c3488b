"""xpuplan probe: a quick cpu probe end to end, the curve fit, the error messages, collective maths."""

import math
import subprocess
import sys
import time
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xpuplan import api  # noqa: E402
from xpuplan.catalog import load_chip, model_from_dict  # noqa: E402
from xpuplan.errors import BadInput  # noqa: E402
from xpuplan.probe import SUPPORTED_DEVICES, run_probe  # noqa: E402
from xpuplan.probe.attention import AttentionRow, attention_efficiency, causal_attention_flops  # noqa: E402
from xpuplan.probe.collectives import bus_bandwidth_factor, bus_bytes_per_s, measure_collectives  # noqa: E402
from xpuplan.probe.device import import_torch, open_device  # noqa: E402
from xpuplan.probe.gemm import GemmRow, fit_efficiency_curve, fit_rows, gemm_shapes  # noqa: E402
from xpuplan.probe.profile import bandwidth_text, flops_text, usable_peaks  # noqa: E402
from xpuplan.units import parse_quantity  # noqa: E402


@pytest.fixture(scope="module")
def cpu_probe(tmp_path_factory):
    """One quick cpu probe shared by the end-to-end tests: (path, returned dict, seconds taken, progress lines)."""
    path = tmp_path_factory.mktemp("probe") / "cpu-quick.yaml"
    lines = []
    start = time.perf_counter()
    profile = run_probe("cpu", str(path), quick=True, kernels=str(path.with_suffix(".csv")), progress=lines.append)
    return path, profile, time.perf_counter() - start, lines


def test_quick_cpu_probe_writes_a_loadable_profile(cpu_probe):
    path, profile, _, lines = cpu_probe
    # --quick measures the small shape set only (its wall time is a speed figure for benchmarks/results/probe, not a
    # test: a busy CI machine took 61 s where the same probe takes ~30 s alone)
    quick_shapes = set(gemm_shapes(quick=True, accelerator=False))
    assert {tuple(row[1:4]) for row in load_chip(str(path)).measured["gemm_rows"]} <= quick_shapes
    assert path.is_file() and lines
    chip = load_chip(str(path))
    assert chip.name == "cpu-quick" and chip.confidence == "high"
    assert chip.peak("bf16") > 1e9
    assert chip.hbm_bytes > 0 and chip.hbm_bytes_per_s > 0
    assert 0 < chip.efficiency.gemm_max <= 1.2
    assert chip.efficiency.gemm_half_flops > 0
    assert 0 < chip.efficiency.attention_fwd <= 1 and 0 < chip.efficiency.attention_bwd <= 1
    assert chip.efficiency.hbm == 1.0
    assert profile["name"] == chip.name


def test_measured_block_has_provenance_rows_and_train_step(cpu_probe):
    path, profile, _, _ = cpu_probe
    measured = load_chip(str(path)).measured
    for key in ("device_name", "torch_version", "date", "command", "hostname"):
        assert measured[key]
    assert "--device cpu" in measured["command"] and "--quick" in measured["command"]
    dtype, m, n, k, tflops = measured["gemm_rows"][0]
    assert dtype in ("bf16", "fp16") and m * n * k > 0 and tflops > 0
    step = measured["train_step"]
    assert 1e6 <= step["params"] <= 5e6
    assert step["tokens_per_s"] > 0 and step["measured_step_s"] > 0 and step["predicted_step_s"] > 0
    # MFU is the model's FLOPs at the measured rate over the profile's peak, itself measured on small GEMMs: on a
    # shared CPU the two timings can land on either side of each other, so the identity is asserted, not a bound
    from xpuplan.cost.flops import model_flops_per_token
    from xpuplan.probe.train_step import GptConfig, xpuplan_model
    cfg = GptConfig(**{k: step[k] for k in ("layers", "hidden", "heads", "vocab", "seq_len", "batch")})
    flops_per_token = model_flops_per_token(xpuplan_model(cfg), cfg.seq_len)
    assert step["mfu"] > 0
    assert step["mfu"] == pytest.approx(flops_per_token * step["tokens_per_s"] / load_chip(str(path)).peak("bf16"))
    assert math.isfinite(step["error"])
    assert step["error"] == pytest.approx(step["predicted_step_s"] / step["measured_step_s"] - 1)
    assert "collectives not measured" in profile["notes"]


def test_kernel_tables_cover_every_family_with_rates_and_a_source(cpu_probe):
    import csv

    path, profile, _, _ = cpu_probe
    rows = list(csv.DictReader(path.with_suffix(".csv").open()))
    assert {r["family"] for r in rows} == {"gemm", "grouped_gemm", "attention", "memory"}
    assert all(not r["note"] for r in rows), [r["note"] for r in rows if r["note"]]
    for row in rows:
        assert float(row["seconds"]) > 0
        assert "--kernels" in row["source"] and "torch" in row["source"] and row["device"]
        if row["family"] == "memory":
            assert float(row["bytes_per_s"]) > 0 and float(row["flops"]) == 0
        else:
            flops = float(row["flops"])
            assert flops > 0 and float(row["flops_per_s"]) == pytest.approx(flops / float(row["seconds"]), rel=1e-3)
    gemm = next(r for r in rows if r["family"] == "gemm")
    assert float(gemm["flops"]) == pytest.approx(2 * int(gemm["m"]) * int(gemm["n"]) * int(gemm["k"]), rel=1e-4)
    assert profile["measured"]["kernel_tables"].endswith(".csv")
    assert "--kernels" in profile["measured"]["command"]


def test_train_runs_on_the_probed_chip(cpu_probe):
    path = str(cpu_probe[0])
    big = api.train(model="llama3-8b", chip=path, devices=1, seq_len=512, global_batch=1)
    assert big.memory_per_device_bytes > 0 and big.step_time_s > 0
    tiny = model_from_dict({"name": "tiny", "layers": 2, "hidden": 128, "heads": 4, "ffn_hidden": 512, "vocab": 1000})
    small = api.train(model=tiny, chip=path, devices=1, seq_len=512, global_batch=1)
    assert small.fits and small.tokens_per_s > 0


@pytest.mark.parametrize("gemm_max, half_flops", [(0.92, 3e9), (0.6, 1e7), (1.0, 5e11)])
def test_curve_fit_recovers_known_parameters(gemm_max, half_flops):
    flops = np.logspace(6, 13, 30)
    efficiency = gemm_max * flops / (flops + half_flops)
    g, h = fit_efficiency_curve(flops, efficiency)
    assert g == pytest.approx(gemm_max, rel=1e-3)
    assert h == pytest.approx(half_flops, rel=1e-2)


def test_curve_fit_from_rows_with_noise():
    rng = np.random.default_rng(0)
    peak = 800e12
    rows = []
    for s in (256, 512, 1024, 2048, 4096, 8192):
        flops = 2.0 * s**3
        eff = 0.9 * flops / (flops + 2e10) * (1 + 0.02 * rng.standard_normal())
        rows.append(GemmRow(dtype="bf16", m=s, n=s, k=s, flops=flops, seconds=flops / (eff * peak)))
    g, h = fit_rows(rows, peak)
    assert g == pytest.approx(0.9, rel=0.05)
    assert h == pytest.approx(2e10, rel=0.3)


def test_gemm_shapes_are_small_in_quick_cpu_mode_and_large_on_accelerators():
    quick = gemm_shapes(quick=True, accelerator=False)
    assert max(max(s) for s in quick) <= 512
    assert any(m != n for m, n, _ in quick)  # rectangles as well as squares
    assert max(max(s) for s in gemm_shapes(quick=False, accelerator=True)) == 16384


def test_unknown_device_lists_the_supported_ones():
    with pytest.raises(BadInput) as info:
        run_probe("bogus", "unused.yaml")
    for name in SUPPORTED_DEVICES:
        assert name in str(info.value)
    assert "\n" not in str(info.value)


def test_npu_without_torch_npu_names_the_plugin(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_npu", None)  # a None entry makes the import fail
    with pytest.raises(BadInput, match="device npu needs torch_npu: pip install torch-npu"):
        open_device("npu")


@pytest.mark.parametrize("device, plugin", [("musa", "torch_musa"), ("mlu", "torch_mlu")])
def test_other_plugins_are_named(monkeypatch, device, plugin):
    monkeypatch.setitem(sys.modules, plugin, None)
    with pytest.raises(BadInput, match=f"device {device} needs {plugin}"):
        open_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_cuda_without_a_device_is_bad_input():
    with pytest.raises(BadInput, match="device cuda"):
        open_device("cuda")


def test_missing_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BadInput, match=r"xpuplan probe needs PyTorch: pip install 'xpuplan\[probe\]'"):
        import_torch()


def test_xpuplan_imports_without_torch():
    # a finder that refuses torch, as a machine without it would (sys.modules['torch'] = None confuses scipy)
    code = ("import sys, importlib.abc\n"
            "class NoTorch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'torch' or name.startswith('torch.'):\n"
            "            raise ImportError('torch is blocked')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "import xpuplan, xpuplan.api, xpuplan.cli, xpuplan.probe, xpuplan.reliability\n"
            "assert not [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_collectives_skip_with_one_device():
    backend = types.SimpleNamespace(device_count=1, kind="cuda", dist_backend="nccl")
    result = measure_collectives(backend, quick=True)
    assert "skipped" in result and "one cuda device" in result["skipped"]


def test_bus_bandwidth_formula():
    assert bus_bandwidth_factor("all_reduce", 8) == pytest.approx(2 * 7 / 8)
    for op in ("all_gather", "reduce_scatter", "all_to_all"):
        assert bus_bandwidth_factor(op, 8) == pytest.approx(7 / 8)
    assert bus_bandwidth_factor("all_reduce", 2) == pytest.approx(1.0)
    # 1 GB all-reduce over 8 ranks in 10 ms: algorithm 100 GB/s, bus 175 GB/s
    assert bus_bytes_per_s("all_reduce", 8, 1e9, 0.01) == pytest.approx(175e9)
    with pytest.raises(ValueError):
        bus_bandwidth_factor("broadcast", 8)


def test_attention_efficiency_undoes_the_cost_model_factors():
    b, h, s, d = 1, 16, 4096, 128
    flops = causal_attention_flops(b, h, s, d)
    assert flops == 4.0 * b * h * s * s * d / 2
    peak = 1e15
    fill = s / (s + 256)
    row = AttentionRow(batch=b, heads=h, seq_len=s, head_dim=d,
                       fwd_s=flops / (peak * 0.6 * fill), bwd_s=2 * flops / (peak * 0.5 * fill))
    fwd, bwd = attention_efficiency([row], peak)
    assert fwd == pytest.approx(0.6) and bwd == pytest.approx(0.5)
    assert row.bwd_flops_per_s == pytest.approx(2.5 * flops / row.bwd_s)


def test_quantity_texts_parse_back():
    assert parse_quantity(flops_text(812.34e12), "flops_per_s") == pytest.approx(812.3e12)
    assert parse_quantity(flops_text(41.27e9), "flops_per_s") == pytest.approx(41.27e9)
    assert parse_quantity(bandwidth_text(3.012e12), "bytes_per_s") == pytest.approx(3.012e12)
    kept, notes = usable_peaks({"bf16": 5e11, "fp16": 2e8})
    assert list(kept) == ["bf16"] and "fp16" in notes[0]


def test_collectives_run_under_torchrun_on_two_cpu_ranks():
    """The multi-device path end to end: torchrun, two gloo ranks, every collective, bus bandwidth > 0."""
    backend = types.SimpleNamespace(device_count=2, kind="cpu", dist_backend="gloo")
    result = measure_collectives(backend, quick=True, timeout_s=240)
    assert result["devices"] == 2 and result["backend"] == "gloo"
    assert set(result["best_bus_bytes_per_s"]) == {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"}
    assert all(v > 0 for v in result["best_bus_bytes_per_s"].values())
