"""`--csv` and `--parquet` on every command with rows (issue 20): the `--json` object's rows, nested fields as dotted
columns, written with pandas and read back unchanged."""

import json
import math
from pathlib import Path

import pytest

from xpuplan import flags
from xpuplan.report.frames import flatten, rows

pd = pytest.importorskip("pandas")


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b or (a is None and isinstance(b, float) and math.isnan(b))


def test_every_list_command_takes_csv_and_parquet():
    for command in ("train", "compare", "plan", "inference", "rl", "fleet", "catalog", "validate"):
        names = [o.name for o in flags.options(command)]
        assert "csv" in names and "parquet" in names, command


def test_nested_fields_become_dotted_columns_and_lists_json_text():
    row = flatten({"a": 1, "plan": {"tp": 8, "inner": {"x": 0.5}}, "warnings": ["w"], "bad": float("inf")})
    assert row == {"a": 1, "plan.tp": 8, "plan.inner.x": 0.5, "warnings": '["w"]', "bad": None}
    assert len(rows({"allocation": [{"pool": "a"}, {"pool": "b"}], "usd_total": 1.0})) == 2  # fleet: its allocation
    assert len(rows({"summary": {}, "runs": [{"id": 1}]})) == 1  # validate: its runs
    assert rows([{"x": {"y": 1}}]) == [{"x.y": 1}]


def test_plan_rows_round_trip_through_parquet_and_csv(run_cli, tmp_path):
    parquet, csv = tmp_path / "plans.parquet", tmp_path / "plans.csv"
    code, out, err = run_cli("plan", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "64", "--top", "3",
                             "--json", "--parquet", str(parquet), "--csv", str(csv))
    assert code == 0, err
    want = [flatten(r) for r in json.loads(out)]
    for got in (pd.read_parquet(parquet), pd.read_csv(csv)):
        assert len(got) == 3 and list(got.columns) == list(want[0])
        for i, row in enumerate(want):
            for key in ("plan.tp", "plan.pp", "plan.dp", "plan.recompute", "step_time_s", "mfu", "breakdown.compute_s"):
                assert same(row[key], got[key][i].item() if hasattr(got[key][i], "item") else got[key][i]), key
    assert "rows written to" in err


def test_catalog_and_compare_rows(run_cli, tmp_path):
    target = tmp_path / "chips.parquet"
    code, out, err = run_cli("catalog", "chips", "--json", "--parquet", str(target))
    assert code == 0, err
    chips = json.loads(out)
    got = pd.read_parquet(target)
    assert list(got["name"]) == [c["name"] for c in chips]
    target = tmp_path / "compare.csv"
    code, _, err = run_cli("compare", "--model", "llama3-8b", "--chip", "h100-sxm", "--chip", "h800", "--devices", "8",
                           "--csv", str(target))
    assert code == 0, err
    assert list(pd.read_csv(target)["chip"]) == ["h100-sxm", "h800"]


def test_validate_and_inference_search_rows(run_cli, tmp_path):
    target = tmp_path / "runs.csv"
    data = Path(__file__).resolve().parents[1] / "data" / "validation" / "torchtitan.yaml"
    code, out, err = run_cli("validate", "--data", str(data), "--json", "--csv", str(target))
    assert code == 0, err
    assert len(pd.read_csv(target)) == len(json.loads(out)["runs"])
    target = tmp_path / "search.csv"
    code, out, err = run_cli("inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--chip", "h800", "--search",
                             "--slo-ttft", "2s", "--slo-tpot", "100ms", "--json", "--csv", str(target))
    assert code == 0, err
    assert len(pd.read_csv(target)) == len(json.loads(out))


def test_a_missing_folder_is_refused_before_any_work(run_cli, tmp_path):
    code, out, err = run_cli("plan", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "64", "--json",
                             "--csv", str(tmp_path / "no" / "plans.csv"))
    assert code == 2 and "folder" in err and json.loads(out)["field"] == "csv"
