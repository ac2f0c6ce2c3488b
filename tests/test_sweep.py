"""Sweeps (issue 20): a grid of api calls, one Parquet row per point, resumable, the same file locally and on Ray."""

import json
import time
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import xpuplan  # noqa: E402
from xpuplan import api  # noqa: E402
from xpuplan.sweep import load_spec, points, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXED_PLAN = {"seq_len": 4096, "global_batch": 64, "tp": 1, "pp": 1}
SMALL = {"command": "train", "fixed": FIXED_PLAN,
         "grid": {"model": ["llama3-8b", "llama3-70b"], "chip": ["h100-sxm", "h200", "no-such-chip"],
                  "devices": [8, 16]}}
"""12 points: 4 fit, 4 do not (70B on 8 or 16 devices, unsplit), 4 name an unknown chip"""


def _spec_file(tmp_path, spec, name="spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def test_a_small_sweep_gives_one_row_per_point_in_order_with_the_apis_figures(tmp_path):
    out = tmp_path / "small.parquet"
    table, summary = run(_spec_file(tmp_path, SMALL), out=out, workers=1)
    assert summary == {**summary, "points": 12, "ran": 12, "skipped": 0, "ok": 4, "does_not_fit": 4, "bad_input": 4,
                       "error": 0}
    assert list(table["point"]) == list(range(12))
    assert list(table.columns[:7]) == ["point", "status", "error", "seq_len", "global_batch", "tp", "pp"]
    assert list(table.columns[7:10]) == ["model", "chip", "devices"] and table.columns[-1] == "key"
    first = table.iloc[0]
    assert (first["model"], first["chip"], first["devices"]) == ("llama3-8b", "h100-sxm", 8)  # first key slowest
    assert list(table["devices"][:2]) == [8, 16]
    for row in table.itertuples():
        expected = "bad_input" if row.chip == "no-such-chip" else "does_not_fit" if row.model == "llama3-70b" else "ok"
        assert row.status == expected
    ok = table[table["status"] == "ok"].iloc[1]
    direct = api.train(model=ok["model"], chip=ok["chip"], devices=int(ok["devices"]), **FIXED_PLAN)
    assert ok["step_time_s"] == direct.step_time_s and ok["mfu"] == direct.mfu
    assert ok["breakdown.compute_s"] == direct.breakdown["compute_s"] and ok["plan.dp"] == direct.plan.dp
    assert pd.isna(ok["error"]) and "model" not in [c for c in table.columns if c.startswith("result.")]
    unfit = table[table["status"] == "does_not_fit"].iloc[0]
    assert unfit["error"].startswith("does not fit: needs") and unfit["memory_per_device_bytes"] > 80e9
    bad = table[table["status"] == "bad_input"].iloc[0]
    assert "unknown chip 'no-such-chip'" in bad["error"] and pd.isna(bad["step_time_s"])
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)


@pytest.mark.parametrize("command, fixed, grid, column", [
    ("plan", {"model": "llama3-8b", "tokens": "1T", "trials": 20}, {"chip": ["h100-sxm"], "devices": [16, 64]},
     "cost.device_hours"),
    ("inference", {"model": "llama3-8b", "input_len": 512, "output_len": 128}, {"chip": ["h100-sxm"], "devices": [1, 2]},
     "tpot_s"),
    ("rl", {"model": "llama3-8b", "chip": "h100-sxm"}, {"devices": [8], "algorithm": ["grpo", "ppo"]},
     "generation_s"),
])
def test_every_command_sweeps_with_its_result_flattened(command, fixed, grid, column):
    table = xpuplan.sweep({"command": command, "fixed": fixed, "grid": grid}, workers=1)
    assert (table["status"] == "ok").all() and table[column].notna().all()
    if command == "plan":  # the best plan of each point, as `plan --top 1`
        best = api.run("plan", {**fixed, "chip": "h100-sxm", "devices": "64", "top": 1}).plans[0]
        assert table["step_time_s"].iloc[1] == best.step_time_s and table["plan.tp"].iloc[1] == best.plan.tp
        assert table["result.tokens"].iloc[0] == 1e12  # "1T" given, counted
    if command == "rl":
        assert table["memory_per_device_bytes.training"].notna().all()


def test_local_processes_write_the_same_file_as_one_process(tmp_path):
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    run(SMALL, out=one, workers=1)
    run(SMALL, out=two, workers=2)
    assert one.read_bytes() == two.read_bytes()


def test_a_resumed_sweep_runs_only_the_points_missing_and_writes_the_same_file(tmp_path):
    fresh, resumed = tmp_path / "fresh.parquet", tmp_path / "resumed.parquet"
    run(SMALL, out=fresh, workers=1)
    part = {**SMALL, "grid": {**SMALL["grid"], "chip": ["no-such-chip", "h100-sxm"]}}  # 8 of the 12, other order
    assert run(part, out=resumed, workers=1)[1]["ran"] == 8
    table, summary = run(SMALL, out=resumed, workers=1)
    assert (summary["ran"], summary["skipped"]) == (4, 8)
    assert resumed.read_bytes() == fresh.read_bytes()
    assert run(SMALL, out=resumed, workers=1)[1]["ran"] == 0


def test_an_interrupted_sweep_keeps_its_chunks_and_reruns_lost_points(tmp_path, monkeypatch):
    fresh, out = tmp_path / "fresh.parquet", tmp_path / "out.parquet"
    run(SMALL, out=fresh, workers=1)
    calls, real = [], points.row

    def interrupted(command, index, key, inputs):
        calls.append(index)
        if len(calls) == 7:
            raise KeyboardInterrupt
        if index == 0:  # a bug in one point: recorded, and run again on resumption
            return {**real(command, index, key, inputs), "status": "error", "error": "RuntimeError: boom"}
        return real(command, index, key, inputs)

    monkeypatch.setattr(points, "row", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(SMALL, out=out, workers=1, flush_s=0.0)
    kept = pd.read_parquet(out)
    assert 0 < len(kept) < 12 and "error" in set(kept["status"])
    monkeypatch.setattr(points, "row", real)
    _, summary = run(SMALL, out=out, workers=1)
    assert summary["ran"] == 12 - len(kept) + 1 and summary["error"] == 0
    assert out.read_bytes() == fresh.read_bytes()


def test_the_cli_runs_a_sweep_and_reports_it(tmp_path, run_cli):
    spec, out = _spec_file(tmp_path, SMALL), tmp_path / "cli.parquet"
    code, stdout, _ = run_cli("sweep", str(spec), "--out", str(out), "--workers", "1")
    assert code == 0 and stdout.startswith("12 points: 4 ok, 4 do not fit, 4 bad input, 0 errors; ran 12")
    code, stdout, _ = run_cli("sweep", str(spec), "--out", str(out), "--json")
    assert code == 0 and json.loads(stdout)["skipped"] == 12 and len(pd.read_parquet(out)) == 12


def test_the_example_spec_loads():
    spec = load_spec(ROOT / "examples" / "sweep" / "chips-by-size.yaml")
    assert spec.command == "plan" and len(spec.points) == 96


@pytest.mark.parametrize("spec, message", [
    ({"command": "train", "grdi": {}}, "unknown key 'grdi'; did you mean 'grid'?"),
    ({"command": "trian"}, "command must be one of train, plan, inference, rl, got 'trian'; did you mean 'train'?"),
    ({"command": "train", "fixed": {"chps": "h800"}}, "'chps' is not an option of train; did you mean 'chip'?"),
    ({"command": "inference", "grid": {"seq_len": [1]}}, "'seq_len' is not an option of inference"),
    ({"command": "train", "grid": {"model": "llama3-8b"}}, "grid.model must be a non-empty list of values"),
    ({"command": "train", "grid": {"model": ["llama3-8b"], "chip": ["h800"]}},
     "devices is required for train; give it under fixed or grid"),
    ({"command": "train", "fixed": {"model": "a"}, "grid": {"model": ["b"]}}, "model is also under fixed"),
    ({"command": "plan", "fixed": {"model": "llama3-8b", "chip": "h800"}, "grid": {"devices": ["64..512"]}},
     "a plan point prices one device count; list the counts"),
    ({"command": "plan", "fixed": {"top": 3}}, "fixed.top: a sweep keeps each plan point's best plan"),
    ({"command": "plan", "fixed": {"plot": "a.html"}}, "fixed.plot: a sweep draws no plots"),
    ({"command": "train", "fixed": {"chip": ["h800", "h20"]}}, "fixed.chip is a list; to sweep its values, put it"),
    ({"command": "train", "grid": [{"model": ["a"]}, "b"]}, "grid must be a mapping of lists"),
    ("- a list\n- not a mapping\n", "expected a mapping with command, fixed and grid"),
])
def test_a_bad_spec_is_one_line_naming_the_field(spec, message):
    with pytest.raises(api.BadInput) as info:
        load_spec(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_sweep_input_exits_2_with_one_line_and_json(tmp_path, run_cli):
    spec = _spec_file(tmp_path, {"command": "train", "fixed": {"chps": "h800"}}, "bad.yaml")
    code, stdout, stderr = run_cli("sweep", str(spec), "--out", str(tmp_path / "x.parquet"), "--json")
    assert code == 2 and stderr.strip().endswith("did you mean 'chip'?") and len(stderr.strip().splitlines()) == 1
    assert json.loads(stdout)["exit_code"] == 2
    good = _spec_file(tmp_path, SMALL)
    for args, text in ((["--workers", "0"], "--workers must be a whole number"),
                       (["--out", str(tmp_path / "no" / "x.parquet")], "does not exist"),
                       (["--out", str(good)], "not a Parquet file")):
        out = [] if "--out" in args else ["--out", str(tmp_path / "y.parquet")]
        code, _, stderr = run_cli("sweep", str(good), *out, *args)
        assert code == 2 and text in stderr, stderr


def test_an_output_of_another_spec_is_never_overwritten(tmp_path):
    out = tmp_path / "other.parquet"
    run(SMALL, out=out, workers=1)
    other = {**SMALL, "fixed": {**FIXED_PLAN, "seq_len": 2048}}
    with pytest.raises(api.BadInput, match="12 of its rows are points of another spec"):
        run(other, out=out, workers=1)


def test_without_ray_the_ray_option_names_the_extra(monkeypatch, tmp_path, run_cli):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray -> ImportError
    code, _, stderr = run_cli("sweep", str(_spec_file(tmp_path, SMALL)), "--out", str(tmp_path / "r.parquet"),
                              "--ray", "auto")
    assert code == 2 and "pip install 'xpuplan[ray]'" in stderr


RAY_200 = {"command": "train", "fixed": {"seq_len": 4096, "global_batch": 256, "tp": 1, "pp": 1},
           "grid": {"model": ["llama3-8b", "llama2-7b", "mpt-7b", "llama2-13b", "qwen3-32b"],
                    "chip": ["h100-sxm", "h800", "a100-sxm-80gb", "mi300x", "ascend-910b"],
                    "devices": [8, 16, 24, 64], "precision": ["bf16", "fp8"]}}
"""200 cheap points (a fixed plan, no Monte Carlo): ok, does-not-fit and bad-input rows (24 does not divide the batch)"""


def test_a_200_point_sweep_on_a_local_ray_instance_writes_the_same_parquet_as_local_processes(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'xpuplan[ray]'")
    local, on_ray = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    assert len(load_spec(RAY_200).points) == 200
    started = time.monotonic()
    _, summary = run(RAY_200, out=local, workers=2)
    local_s = time.monotonic() - started
    assert summary["points"] == summary["ran"] == 200 and summary["error"] == 0
    started = time.monotonic()
    _, summary = run(RAY_200, out=on_ray, ray="auto", workers=2)  # starts a local instance, and stops it after
    ray_s = time.monotonic() - started
    assert summary["ran"] == 200 and summary["error"] == 0 and not ray.is_initialized()
    assert on_ray.read_bytes() == local.read_bytes()
    table = pd.read_parquet(on_ray)
    assert list(table["point"]) == list(range(200)) and set(table["status"]) == {"ok", "does_not_fit", "bad_input"}
    print(f"200 points: local processes {local_s:.1f} s, Ray {ray_s:.1f} s")
