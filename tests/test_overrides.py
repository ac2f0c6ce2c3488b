"""--override KEY=VALUE: a chip's figures changed for one run, with units, one-line errors and confidence 'user'."""

import json

import pytest

from xpuplan.catalog import load_chip
from xpuplan.catalog.overrides import override_chip, parse_override
from xpuplan.errors import BadInput

BASE = ["--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "16", "--seq-len", "2048", "--global-batch", "32"]


@pytest.mark.parametrize("text,key,value", [
    ("scale_up.domain=72", "scale_up.domain", 72),
    ("scale_out.bandwidth=800Gbps", "scale_out.bandwidth", 100e9),
    ("peak_flops.bf16=600TFLOPS", "peak_flops.bf16", 600e12),
    ("hbm.capacity=96GiB", "hbm.capacity", 96 * 2**30),
    ("hbm.bandwidth = 4.8TB/s", "hbm.bandwidth", 4.8e12),
    ("tdp=1kW", "tdp", 1000.0),
    ("price.usd_per_hour=2.5", "price.usd_per_hour", 2.5),
    ("scale_up.topology=full_mesh", "scale_up.topology", "full_mesh"),
    ("efficiency.gemm_max=0.7", "efficiency.gemm_max", 0.7),
])
def test_values_parse_with_their_units(text, key, value):
    assert parse_override(text) == (key, pytest.approx(value) if not isinstance(value, str) else value)


@pytest.mark.parametrize("text,match", [
    ("scale_up.domian=72", r"--override scale_up.domian: not a chip figure; did you mean scale_up.domain"),
    ("peak_flop.bf16=600TFLOPS", r"did you mean peak_flops.bf16"),
    ("scale_out.bandwidth=fast", r"scale_out.bandwidth=fast: expected bytes per second \(e.g. 900GB/s or 800Gbps\)"),
    ("peak_flops.bf16=600GB", r"expected FLOP/s \(e.g. 600TFLOPS\)"),
    ("hbm.capacity=3.35TB/s", r"expected bytes \(e.g. 96GiB\)"),
    ("scale_up.domain=7.5", "must be a whole number of devices"),
    ("scale_up.domain=0", "must be > 0"),
    ("scale_up.topology=ring", "must be one of switch, full_mesh"),
    ("scale_up.domain", "must be KEY=VALUE"),
    ("peak_flops.bf16=1e30", "absurd"),
    ("efficiency.gemm_max=1.5", "gemm_max must be a fraction"),
])
def test_bad_overrides_are_one_line_naming_the_field_and_the_fix(text, match):
    with pytest.raises(BadInput, match=match) as err:
        override_chip(load_chip("h100-sxm"), [text])
    assert err.value.field == "override" and "\n" not in str(err.value)


def test_an_overridden_figure_has_confidence_user_and_is_reported():
    base = load_chip("mtt-s5000")
    chip = override_chip(base, ["scale_up.domain=72", "peak_flops.bf16=600TFLOPS"])
    assert (chip.scale_up_domain, chip.peak("bf16")) == (72, 600e12)
    assert chip.figure_confidence("scale_up.domain") == "user" and base.figure_confidence("scale_up.domain") == "low"
    lines = chip.figure_warnings(["peak_flops.bf16", "scale_up.domain", "hbm.capacity"])
    assert lines[-1] == ("mtt-s5000 figures set for this run (--override or a per-chip price; confidence user): "
                         "scale_up.domain=72 devices, peak_flops.bf16=600 TFLOP/s")
    assert len(lines) == 1  # overridden figures are no longer 'low' (and hbm.capacity is medium)
    assert "peak_flops.bf16" in base.figure_warnings(["peak_flops.bf16"])[0]
    assert base.scale_up_domain == 8  # the catalog chip is untouched


def test_an_override_fills_an_unpublished_figure():
    base = load_chip("mtt-s4000")
    assert "scale_out.bandwidth" in base.unpublished
    chip = override_chip(base, ["scale_out.bandwidth=200Gbps"])
    assert chip.scale_out_bytes_per_s == 25e9 and "scale_out.bandwidth" not in chip.unpublished
    assert not any("scale_out" in n for n in chip.stand_in_notes())


def _json(run_cli, *argv):
    code, out, err = run_cli(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_override_changes_the_estimate_on_the_command_line(run_cli):
    plain = _json(run_cli, "train", *BASE)
    slow = _json(run_cli, "train", *BASE, "--override", "peak_flops.bf16=494.7TFLOPS")
    ratio = slow["breakdown"]["compute_s"] / plain["breakdown"]["compute_s"]
    assert 1.6 < ratio <= 2.0  # half the peak: the GEMMs take twice as long, memory-bound work does not
    assert slow["warnings"] == ["h100-sxm figures set for this run (--override or a per-chip price; confidence user): "
                                "peak_flops.bf16=495 TFLOP/s"]
    assert plain["warnings"] == []
    wide = _json(run_cli, "train", *BASE, "--tp", "16", "--override", "scale_up.domain=16", "--override",
                 "scale_up.bandwidth=900GB/s")
    narrow = _json(run_cli, "train", *BASE, "--tp", "16")
    assert wide["breakdown"]["tp_comm_s"] < narrow["breakdown"]["tp_comm_s"]


def test_override_reaches_every_chip_of_a_command(run_cli):
    rows = _json(run_cli, "compare", *BASE[:2], "--chip", "h800", "--chip", "ascend-910b", "--devices", "16",
                 "--override", "price.usd_per_hour=1.5")
    assert all(any("price.usd_per_hour=1.5 USD/device-hour" in w for w in r["warnings"]) for r in rows)
    serve = _json(run_cli, "inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "1", "--override",
                  "price.usd_per_hour=1")
    base = _json(run_cli, "inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "1")
    assert serve["usd_per_million_output_tokens"] == pytest.approx(base["usd_per_million_output_tokens"] / 2.35)
    pools = _json(run_cli, "plan", "--model", "llama3-8b", "--pool", "h800:8", "--pool", "h100-sxm:8", "--seq-len",
                  "2048", "--global-batch", "64", "--override", "hbm.capacity=96GiB")
    assert sum("hbm.capacity=96.0 GiB" in w for w in pools["warnings"]) == 2


@pytest.mark.parametrize("argv,message", [
    (["--override", "scale_up.domian=72"], "did you mean scale_up.domain"),
    (["--override", "scale_out.bandwidth=lots"], "expected bytes per second"),
])
def test_a_bad_override_on_the_command_line_is_exit_2(run_cli, argv, message):
    code, _, err = run_cli("train", *BASE, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_null_figure_is_refused_naming_the_field_and_both_fixes(run_cli, tmp_path):
    """Null stays allowed in a chip file; a command that needs the figure says which one and how to supply it."""
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\npeak_flops: {bf16: null}\nhbm: {capacity: null, bandwidth: 2TB/s}\n"
                    "scale_up: {bandwidth: 100GB/s, domain: 8}\nscale_out: {bandwidth: 100Gbps}\nsources: [test]\n")
    argv = ["train", "--model", "llama3-8b", "--chip", str(path), "--devices", "8"]
    code, _, err = run_cli(*argv)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "hbm.capacity" in err and "--chip FILE" in err and "--override hbm.capacity=VALUE" in err
    code, _, err = run_cli(*argv, "--override", "hbm.capacity=80GiB")
    assert code == 2 and "peak_flops.bf16" in err and "--override peak_flops.bf16=VALUE" in err
    code, out, err = run_cli(*argv, "--override", "hbm.capacity=80GiB", "--override", "peak_flops.bf16=400TFLOPS",
                             "--json")
    assert code == 0, err
    assert "hbm.capacity=80.0 GiB" in " ".join(json.loads(out)["warnings"])


# ------------------------------------------------------------------------------ per-chip prices (issue 18)

COMPARE = ["compare", "--model", "llama3-8b", "--chip", "h800", "--chip", "ascend-910b", "--devices", "16",
           "--seq-len", "2048", "--global-batch", "32", "--tokens", "10B", "--trials", "20", "--json"]


def _rates(out: str) -> dict:
    return {r["chip"]: r["cost"]["assumptions"]["usd_per_device_hour"] for r in json.loads(out)}


@pytest.mark.parametrize("flags,rates", [
    (["--usd-per-device-hour", "h800=2.1,ascend-910b=1.1"], {"h800": 2.1, "ascend-910b": 1.1}),
    (["--usd-per-device-hour", "h800=2.1", "--usd-per-device-hour", "ascend-910b=1.1"],
     {"h800": 2.1, "ascend-910b": 1.1}),
    (["--usd-per-device-hour", "1.5"], {"h800": 1.5, "ascend-910b": 1.5}),
    (["--usd-per-device-hour", "1.5", "--usd-per-device-hour", "h800=2"], {"h800": 2.0, "ascend-910b": 1.5}),
])
def test_compare_prices_each_chip_at_its_own_rate(run_cli, flags, rates):
    code, out, err = run_cli(*COMPARE, *flags)
    assert code == 0, err
    assert _rates(out) == rates


def test_a_costs_file_may_list_prices_per_chip_and_the_flag_wins(run_cli, tmp_path):
    costs = tmp_path / "costs.yaml"
    costs.write_text("usd_per_device_hour: {h800: 1.7, ascend-910b: 0.9}\npue: 1.2\n")
    code, out, err = run_cli(*COMPARE, "--costs", str(costs))
    assert code == 0, err
    assert _rates(out) == {"h800": 1.7, "ascend-910b": 0.9}
    assert json.loads(out)[0]["cost"]["assumptions"]["pue"] == 1.2
    code, out, err = run_cli(*COMPARE, "--costs", str(costs), "--usd-per-device-hour", "h800=3")
    assert code == 0 and _rates(out) == {"h800": 3.0, "ascend-910b": 0.9}, err


def test_plan_over_two_pools_takes_a_price_per_chip(run_cli):
    code, out, err = run_cli("plan", "--model", "llama3-8b", "--pool", "h800:16", "--pool", "ascend-910b:16",
                             "--usd-per-device-hour", "h800=2,ascend-910b=1", "--seq-len", "2048",
                             "--global-batch", "64", "--tokens", "1B")
    assert code == 0, err
    assert "price.usd_per_hour=2" in out and "price.usd_per_hour=1" in out  # named, at confidence user


@pytest.mark.parametrize("value,message", [
    ("h100-sxm=2", "--usd-per-device-hour h100-sxm=...: this command has no chip 'h100-sxm'"),
    ("h800=-1", "a price must be a number in (0, 1000]"),
    ("h800=cheap", "a price must be a number in (0, 1000]"),
    ("=2", "give one price for every chip, or CHIP=PRICE"),
    ("2,3", "give one price for every chip, or CHIP=PRICE"),
])
def test_a_bad_price_is_one_line_naming_the_flag(run_cli, value, message):
    code, _, err = run_cli(*COMPARE[:-1], "--usd-per-device-hour", value)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_bad_price_in_a_costs_file_names_the_file_and_the_chip(run_cli, tmp_path):
    costs = tmp_path / "costs.yaml"
    costs.write_text("purchase_usd: {h800: -5}\n")
    code, _, err = run_cli(*COMPARE[:-1], "--costs", str(costs))
    assert code == 2 and "purchase_usd.h800" in err and str(costs) in err, err
