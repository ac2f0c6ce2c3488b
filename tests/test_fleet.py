"""The fleet planner: Mélange's worked example solves to its published answer, the seeds' strategy falls out of the
numbers (pre-training on H800 when the deadline demands it; serving and fine-tuning flip to the 910B when its price
per delivered token drops below the H800's), and bad input is one line naming the file and the field."""

import copy
import json
from pathlib import Path

import pytest
import yaml

import xpuplan
from xpuplan import BadInput, DoesNotFit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "fleet"
MELANGE = (str(EXAMPLES / "melange-fleet.yaml"), str(EXAMPLES / "melange-workloads.yaml"))
SEEDS = (str(EXAMPLES / "seeds-fleet.yaml"), str(EXAMPLES / "seeds-workloads.yaml"))
DESIGN_KEYS = {"allocation", "usd_total", "usd_per_hour", "utilisation", "baseline", "saving_fraction",
               "binding_constraints"}


def _docs(pair):
    return tuple(yaml.safe_load(Path(p).read_text()) for p in pair)


def _where(result) -> dict[str, tuple[str, ...]]:
    """workload -> the pools it was given."""
    out: dict[str, tuple[str, ...]] = {}
    for row in result.to_dict()["allocation"]:
        out[row["workload"]] = out.get(row["workload"], ()) + (row["pool"],)
    return out


# ------------------------------------------------------------------------------------------- Mélange's example

def test_melange_readme_example_solves_to_three_a10g_and_one_a100_at_6_70_an_hour():
    """tyler-griggs/melange-release README: '3 A10G GPUs and 1 A100-80GB GPUs ... a total cost of $6.7/hr'."""
    d = xpuplan.fleet(fleet=MELANGE[0], workloads=MELANGE[1]).to_dict()
    devices = {row["pool"]: row["devices"] for row in d["allocation"]}
    assert devices == {"a10g": 3, "a100-80gb": 1}
    assert d["usd_per_hour"] == pytest.approx(6.70, abs=1e-9)
    assert d["usd_total"] == pytest.approx(6.70 * 30 * 24)
    # the best single GPU type: two A100s (7.34 USD/h); all A10G needs 12 (12.12 USD/h)
    assert d["baseline"]["chip"] == "a100-sxm-80gb" and d["baseline"]["usd_per_hour"] == pytest.approx(7.34)
    assert d["saving_fraction"] == pytest.approx(1 - 6.70 / 7.34)


def test_cli_json_has_the_design_keys(run_cli):
    code, out, err = run_cli("fleet", "--fleet", MELANGE[0], "--workloads", MELANGE[1], "--json")
    assert code == 0, err
    d = json.loads(out)
    assert DESIGN_KEYS <= set(d)
    for row in d["allocation"]:
        assert {"workload", "pool", "devices", "plan", "start_s", "finish_s", "usd"} <= set(row)
    assert {"fleet", "usd_total", "usd_per_hour"} <= set(d["baseline"])
    assert set(d["utilisation"]) == {"a10g", "a100-80gb"}


def test_the_tables_and_the_plot(run_cli, tmp_path):
    plot = tmp_path / "fleet.html"
    code, out, err = run_cli("fleet", "--fleet", MELANGE[0], "--workloads", MELANGE[1], "--what-if", "price a10g 0.5",
                             "--plot", str(plot))
    assert code == 0, err
    assert "a10g" in out and "baseline" in out and "what if: price a10g 0.5" in out
    assert plot.stat().st_size > 10_000


# ------------------------------------------------------------------------------------------- the seeds' strategy

def _seeds(price_910b=None, deadline=None):
    fleet, work = (copy.deepcopy(d) for d in _docs(SEEDS))
    if price_910b is not None:
        fleet["pools"][1]["usd_per_device_hour"] = price_910b
    if deadline is not None:
        work["workloads"][0]["deadline"] = deadline
    return xpuplan.fleet(fleet=fleet, workloads=work)


def test_pre_training_lands_on_h800_when_its_deadline_demands_it():
    """Even with the 910B cheap per token, only the H800 pool finishes the foundation run in 12 days; with a
    looser deadline the cheap 910B takes it (so the deadline, not a default, put it on the H800)."""
    assert _where(_seeds())["foundation"] == ("h800",)
    assert _where(_seeds(price_910b=0.4))["foundation"] == ("h800",)
    loose = _seeds(price_910b=0.4, deadline="40d")
    assert _where(loose)["foundation"] == ("ascend-910b",)
    binding = {c["constraint"] for c in _seeds(price_910b=0.4).to_dict()["binding_constraints"]}
    assert "deadline" in binding


def test_serving_and_fine_tuning_flip_to_the_910b_when_its_price_per_token_drops_below_the_h800s():
    dear, cheap = _where(_seeds(price_910b=1.2)), _where(_seeds(price_910b=0.4))
    for name in ("sft-8b", "lora-70b", "chat"):
        assert dear[name] == ("h800",), (name, dear)
        assert cheap[name] == ("ascend-910b",), (name, cheap)


def test_what_if_and_makespan():
    fleet, work = _docs(SEEDS)
    r = xpuplan.fleet(fleet=fleet, workloads=work, what_if=["replace 10% of h800 with ascend-910b",
                                                            "price ascend-910b 1.2"])
    assert [v["feasible"] for v in r.what_if] == [True, True]
    assert r.what_if[1]["change_usd"] > 0  # dearer 910B: the plan costs more
    fast = xpuplan.fleet(fleet=fleet, workloads=work, objective="makespan", budget_usd=2e6).to_dict()
    assert fast["makespan_s"] <= r.to_dict()["makespan_s"] + 1


def test_the_site_power_changes_the_mix_and_binds():
    """The 910B is cheaper per request here but draws more power per request: under a 40 kW feed the planner mixes
    in H800s, and says the power limit binds."""
    fleet = {"pools": [{"chip": "h800", "max": 200, "usd_per_device_hour": 2.0},
                       {"chip": "ascend-910b", "max": 200, "usd_per_device_hour": 0.5}]}
    work = {"workloads": [{"name": "chat", "kind": "serve", "model": "llama3-8b", "rate": 300,
                           "measured": {"h800": [[10]], "ascend-910b": [[3]]}, "slice_factor": 4}]}
    free = xpuplan.fleet(fleet=fleet, workloads=work).to_dict()
    assert _where(xpuplan.fleet(fleet=fleet, workloads=work))["chat"] == ("ascend-910b",)
    tight = xpuplan.fleet(fleet=dict(fleet, site={"power": "40kW", "pue": 1.3}), workloads=work).to_dict()
    assert {r["pool"] for r in tight["allocation"]} == {"h800", "ascend-910b"}
    assert tight["usd_per_hour"] > free["usd_per_hour"]
    assert any(c["constraint"] == "power" for c in tight["binding_constraints"]), tight["binding_constraints"]
    with pytest.raises(DoesNotFit, match="site power"):
        xpuplan.fleet(fleet=dict(fleet, site={"power": "20kW"}), workloads=work)


def test_a_daily_profile_scales_the_services_by_window():
    fleet, work = _docs(MELANGE)
    work["workloads"][0]["profile"] = [0.5, 1.0]
    d = xpuplan.fleet(fleet=fleet, workloads=work).to_dict()
    assert all(len(r["devices_by_window"]) == 2 for r in d["allocation"])
    assert d["usd_per_hour"] < 6.70


def test_replica_devices_caps_each_replica_as_one_device_instances_do():
    """Mélange's bins are one-GPU instances: with ``replica_devices: 1`` no replica spans devices, where the free
    search serves a KV-bound 7B model on 24 GB cards with tensor-parallel replicas and fewer devices."""
    fleet = {"pools": [{"chip": "a10g", "max": 64, "usd_per_device_hour": 1.01}]}
    service = {"name": "chat", "kind": "serve", "model": "llama2-7b", "rate": 1, "input_len": [1536],
               "output_len": [768], "slo": {"ttft": "10s", "tpot": "120ms"}, "engine": "vllm"}
    free = xpuplan.fleet(fleet=fleet, workloads={"workloads": [service]}).to_dict()
    single = xpuplan.fleet(fleet=fleet, workloads={"workloads": [dict(service, replica_devices=1)]}).to_dict()
    assert {r["plan"]["devices_per_replica"] for r in single["allocation"]} == {1}
    assert max(r["plan"]["devices_per_replica"] for r in free["allocation"]) > 1
    assert single["usd_per_hour"] >= free["usd_per_hour"]  # a cap can only cost more


def test_a_tail_slo_needs_at_least_the_devices_of_a_mean_one():
    """``slo: {percentile: p99}`` bounds the 99th percentile under Poisson arrivals, as `inference --search
    --slo-percentile` does: never fewer devices than the mean (closed-loop) SLO at the same targets."""
    fleet = {"pools": [{"chip": "h100-sxm", "max": 64, "usd_per_device_hour": 2.0}]}
    service = {"name": "chat", "kind": "serve", "model": "llama3-8b", "rate": 40, "input_len": [1024],
               "output_len": [256], "slo": {"ttft": "1s", "tpot": "30ms"}, "engine": "vllm"}
    mean = xpuplan.fleet(fleet=fleet, workloads={"workloads": [service]}).to_dict()
    tail = xpuplan.fleet(fleet=fleet, workloads={"workloads": [dict(service, slo=dict(service["slo"], percentile="p99"))]})
    assert tail.to_dict()["usd_per_hour"] >= mean["usd_per_hour"]


def test_an_rl_run_is_placed_from_the_rl_step_model():
    fleet = {"pools": [{"chip": "h100-sxm", "devices": 64}]}
    work = {"workloads": [{"name": "grpo", "kind": "rl", "model": "llama3-8b", "steps": 200, "devices": [16, 32],
                           "rollouts_per_step": 64, "train_global_batch": 32, "prompt_len": 256,
                           "response_len": 512, "max_seq_len": 2048, "deadline": "10d"}]}
    row = xpuplan.fleet(fleet=fleet, workloads=work).to_dict()["allocation"][0]
    assert row["kind"] == "rl" and row["devices"] in (16, 32) and "train" in row["plan"]


# ------------------------------------------------------------------------------------------- refusals

def _write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(path)


def _bad_seeds(tmp_path, change):
    fleet, work = (copy.deepcopy(d) for d in _docs(SEEDS))
    change(fleet, work)
    return _write(tmp_path, "fleet.yaml", fleet), _write(tmp_path, "work.yaml", work)


@pytest.mark.parametrize("change,file,words", [
    (lambda f, w: f["pools"][0].update(chip="h80"), "fleet.yaml", ["pools[0].chip", "did you mean", "h800"]),
    (lambda f, w: w["workloads"][1].update(model="llama3-7b"), "work.yaml", ["(sft-8b).model", "did you mean"]),
    (lambda f, w: w["workloads"][0].update(deadline="3d"), "work.yaml", ["(foundation).deadline", "needs at least"]),
    (lambda f, w: w["workloads"][3].update(rate=-5), "work.yaml", ["(chat).rate", "must be >= 0"]),
    (lambda f, w: w["workloads"][3].update(kind="serving"), "work.yaml", ["workloads[3].kind", "did you mean 'serve'"]),
    (lambda f, w: w["workloads"][3].update(replica_devices=0), "work.yaml", ["(chat).replica_devices", "whole number"]),
    (lambda f, w: w["workloads"][3]["slo"].update(percentile="p95"), "work.yaml", ["(chat).slo.percentile", "p99"]),
    (lambda f, w: w["workloads"][2].update(chips=["h80"]), "work.yaml", ["(lora-70b).chips", "h800"]),
])
def test_bad_input_is_one_line_naming_the_file_and_field_and_writes_nothing(run_cli, tmp_path, change, file, words):
    fleet, work = _bad_seeds(tmp_path, change)
    plot = tmp_path / "plot.html"
    code, out, err = run_cli("fleet", "--fleet", fleet, "--workloads", work, "--plot", str(plot))
    assert code == 2, err
    line = err.strip()
    assert "\n" not in line and str(tmp_path / file) in line, line
    for word in words:
        assert word in line, (word, line)
    assert not plot.exists()


def test_a_yaml_that_is_not_a_mapping_is_one_line(run_cli, tmp_path):
    path = _write(tmp_path, "list.yaml", "- a\n- b\n")
    code, _, err = run_cli("fleet", "--fleet", path, "--workloads", SEEDS[1])
    assert code == 2 and "list.yaml: expected a mapping" in err and err.count("\n") == 1


def test_bad_what_if_and_baseline_are_refused_before_solving():
    with pytest.raises(BadInput, match="what-if 'swap h800'"):
        xpuplan.fleet(fleet=MELANGE[0], workloads=MELANGE[1], what_if=["swap h800"])
    with pytest.raises(BadInput, match="did you mean"):
        xpuplan.fleet(fleet=MELANGE[0], workloads=MELANGE[1], baseline="a100-sxm-80")


def test_an_infeasible_fleet_names_the_binding_constraint(run_cli, tmp_path):
    fleet, work = _docs(MELANGE)
    fleet["pools"][1]["max"] = 1
    work["workloads"][0]["chips"] = ["a100-80gb"]
    code, _, err = run_cli("fleet", "--fleet", _write(tmp_path, "f.yaml", fleet), "--workloads",
                           _write(tmp_path, "w.yaml", work))
    assert code == 3 and err.count("\n") == 1
    assert "serving demand arena needs 2 a100-sxm-80gb at the SLO; pool a100-80gb has 1" in err, err
    work["workloads"][0]["chips"] = []
    work["workloads"][0]["rate"] = 300
    code, _, err = run_cli("fleet", "--fleet", _write(tmp_path, "f.yaml", fleet), "--workloads",
                           _write(tmp_path, "w.yaml", work))
    assert code == 3 and err.count("\n") == 1 and "pool" in err, err
    with pytest.raises(DoesNotFit, match="budget"):
        xpuplan.fleet(fleet=MELANGE[0], workloads=MELANGE[1], budget_usd=1000)


def test_http_answers_422_naming_the_field():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from xpuplan.web.app import app

    client = TestClient(app)
    fleet, work = _docs(MELANGE)
    work["workloads"][0]["rate"] = -1
    res = client.post("/api/fleet", json={"fleet": fleet, "workloads": work})
    assert res.status_code == 422 and res.json()["detail"][0]["loc"][-1] == "rate", res.text
    res = client.post("/api/fleet", json={"fleet": MELANGE[0], "workloads": MELANGE[1]})  # file names: refused
    assert res.status_code == 422
    res = client.post("/api/fleet", json={"fleet": fleet, "workloads": _docs(MELANGE)[1]})
    assert res.status_code == 200 and res.json()["usd_per_hour"] == pytest.approx(6.70)


# ------------------------------------------------------------------------------- Mélange's published savings
@pytest.mark.parametrize("engine", ["vllm", "vllm@0.2"])
def test_the_mixed_fleet_saves_within_melanges_published_ranges(engine, benchmark_script):
    """Mélange states its savings as reductions against single-GPU strategies, one range per dataset and TPOT SLO
    (docs/index.md of tyler-griggs/melange-release): with xpuplan's own serving estimates, the median saving over
    those strategies, every rate where the plan is one type alone counted as 0%, lies inside each range."""
    import numpy as np

    fc = benchmark_script("fleet_check")  # the one place Mélange's settings (mixes, prices, SLOs, ranges) are written
    for (kind, tpot_s), (low, high) in fc.PUBLISHED.items():
        _, every, _, _ = fc.savings(kind, tpot_s, engine)
        assert low <= float(np.median(every)) <= high, (kind, tpot_s, np.median(every))
