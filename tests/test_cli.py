"""The command line: tables, JSON contract, and one-line errors with the right exit codes."""

import json

import pytest

TRAIN = ["train", "--model", "llama3-70b", "--chip", "h100-sxm", "--devices", "256", "--tp", "8", "--pp", "4",
         "--seq-len", "8192", "--global-batch", "256", "--tokens", "15T"]
JSON_KEYS = {"step_time_s", "tokens_per_s", "tokens_per_s_per_device", "mfu", "hfu", "memory_per_device_bytes", "fits",
             "total_time_s", "device_hours", "breakdown", "plan", "task"}
BREAKDOWN_KEYS = {"compute_s", "tp_comm_s", "cp_comm_s", "ep_comm_s", "pp_bubble_s", "pp_comm_s", "dp_comm_s", "optimizer_s",
                  "offload_s", "moe_route_s", "moe_imbalance_s", "reference_s", "encoder_s"}


def test_train_table_shows_units(run_cli):
    code, out, err = run_cli(*TRAIN)
    assert code == 0, err
    for text in ("step time", " s ", "tokens/s", "MFU", "GiB", "days", "device-h"):
        assert text in out


def test_train_json_contract(run_cli):
    code, out, _ = run_cli(*TRAIN, "--json")
    data = json.loads(out)
    assert code == 0
    assert JSON_KEYS <= set(data)
    assert BREAKDOWN_KEYS == set(data["breakdown"])
    assert data["plan"] == {"tp": 8, "pp": 4, "dp": 8, "cp": 1, "ep": 1, "etp": 8, "vpp": 1, "micro_batch": 1,
                            "zero": 1, "recompute": "selective", "precision": "bf16"}
    assert data["total_time_s"] == pytest.approx(15e12 / data["tokens_per_s"])


def test_compare_puts_chips_side_by_side(run_cli):
    code, out, err = run_cli("compare", "--model", "telechat3-36b", "--chip", "h800", "--chip", "ascend-910b",
                             "--devices", "64", "--tp", "4", "--pp", "2", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["chip"] for r in rows] == ["h800", "ascend-910b"]


@pytest.mark.parametrize("argv,message", [
    (["--chip", "h100-sxn"], "did you mean h100-sxm"),
    (["--model", "llama-70b"], "did you mean"),
    (["--tp", "3"], "not divisible by tp*pp*cp = 12"),
    (["--devices", "-256"], "--devices must be a positive whole number"),
    (["--devices", "100000000"], "--devices must be at most 10,000,000"),
    (["--tokens", "-5T"], "--tokens must be > 0"),
    (["--tokens", "lots"], "cannot read 'lots'"),
    (["--seq-len", "99999999"], "--seq-len must be at most 10,000,000"),
    (["--global-batch", "255"], "global batch 255 is not divisible by dp*micro_batch"),
    (["--recompute", "most"], "Invalid value for '--recompute'"),
    (["--recompute", "selectiv"], "Did you mean selective?"),
    (["--optimizer-state=bf16-moment"], "Did you mean bf16-moments?"),
    (["--devices", "many"], "Invalid value for '--devices'"),
])
def test_bad_input_is_one_line_exit_2(run_cli, argv, message):
    args = list(TRAIN)
    flag = argv[0]
    if flag in args:
        i = args.index(flag)
        args[i:i + 2] = argv
    else:
        args += argv
    code, out, err = run_cli(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_malformed_chip_file_is_one_line(run_cli, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: broken\npeak_flops: [1, 2\n")
    code, _, err = run_cli(*TRAIN[:3], "--chip", str(bad), *TRAIN[5:])
    assert code == 2
    assert "broken.yaml: malformed YAML at line" in err
    assert len(err.strip().splitlines()) == 1


def test_does_not_fit_is_exit_3_with_reason(run_cli):
    code, _, err = run_cli("train", "--model", "llama3-405b", "--chip", "h100-sxm", "--devices", "64", "--tp", "8")
    assert code == 3
    assert "does not fit: needs" in err and "GiB per device" in err


def test_does_not_fit_under_json_is_one_document_with_its_estimate(run_cli):
    """A script reads stdout with one json.loads: the estimate (the memory it would need) with the error keys."""
    code, out, err = run_cli("train", "--model", "llama3-405b", "--chip", "h100-sxm", "--devices", "64", "--tp", "8",
                             "--json")
    result = json.loads(out)
    assert code == 3 and result["exit_code"] == 3 and result["fits"] is False
    assert result["error"] in err and result["memory_per_device_bytes"] > 80 * 2**30


def test_catalog_lists_every_chip_with_confidence(run_cli):
    code, out, _ = run_cli("catalog", "chips", "--json")
    rows = json.loads(out)
    assert code == 0
    assert {"h100-sxm", "ascend-910b", "p800", "mtt-s5000"} <= {r["name"] for r in rows}
    assert all(r["confidence"] in ("high", "medium", "low") and r["sources"] for r in rows)


PLAN = ["plan", "--model", "llama3-70b", "--chip", "h100-sxm", "--devices", "256", "--seq-len", "8192",
        "--global-batch-tokens", "2M", "--tokens", "1T"]


def test_plan_table_and_why(run_cli):
    code, out, err = run_cli(*PLAN, "--top", "3")
    assert code == 0, err
    assert "fitting plans" in out and "why #1 wins" in out and "headroom" in out


def test_plan_json_is_a_list_of_train_objects_best_first(run_cli):
    code, out, _ = run_cli(*PLAN, "--json", "--top", "4")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4
    assert all(JSON_KEYS <= set(r) for r in rows)
    assert [r["step_time_s"] for r in rows] == sorted(r["step_time_s"] for r in rows)


def test_plan_range_writes_a_plot(run_cli, tmp_path):
    target = tmp_path / "scaling.html"
    code, out, err = run_cli("plan", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8..64",
                             "--plot", str(target))
    assert code == 0, err
    assert "best plan per cluster size" in out
    html = target.read_text()
    assert "throughput (tokens" in html and "MFU (%)" in html
    assert 'src="https://cdn.plot.ly' not in html  # plotly is embedded: the page works offline


@pytest.mark.parametrize("argv,message", [
    (["--devices", "9..3"], "--devices must be a count"),
    (["--objective", "devices"], "needs --deadline"),
    (["--top", "0"], "--top must be"),
])
def test_plan_bad_input(run_cli, argv, message):
    args = list(PLAN)
    if argv[0] in args:
        i = args.index(argv[0])
        args[i:i + 2] = argv
    else:
        args += argv
    code, _, err = run_cli(*args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_plan_two_pools(run_cli):
    code, out, err = run_cli("plan", "--model", "llama3-8b", "--pool", "h800:16", "--pool", "ascend-910b:16",
                             "--seq-len", "4096", "--global-batch", "64")
    assert code == 0, err
    assert "h800 alone" in out and "pipeline split" in out


def test_cli_contract_is_locked():
    """DESIGN.md §3: the commands and the train/plan/inference flags other tools rely on."""
    import typer.main

    from xpuplan.cli import app

    command = typer.main.get_command(app)
    assert {"train", "plan", "inference", "validate", "probe", "catalog", "web", "compare"} <= set(command.commands)

    def flags(name):
        return {opt for p in command.commands[name].params for opt in getattr(p, "opts", [])}

    assert {"--model", "--chip", "--devices", "--tokens", "--seq-len", "--global-batch", "--global-batch-tokens",
            "--micro-batch", "--tp", "--pp", "--dp", "--cp", "--ep", "--vpp", "--zero", "--recompute", "--precision",
            "--json"} <= flags("train")
    assert {"--top", "--objective", "--json", "--pool", "--deadline", "--allow-cross-domain-tp"} <= flags("plan")
    assert {"--tp", "--pp", "--dp", "--ep", "--precision", "--kv-precision", "--input-len", "--output-len",
            "--concurrency", "--request-rate", "--json", "--search", "--slo-ttft", "--slo-tpot"} <= flags("inference")
    assert {"--device", "--out"} <= flags("probe")
    assert {"--data", "--json"} <= flags("validate")
    assert {"--host", "--port"} <= flags("web")


def test_errors_under_json_are_json_on_stdout(run_cli):
    """Bad input under --json: exit 2, the one line on stderr, and stdout still parses as JSON naming the field."""
    code, out, err = run_cli("train", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "96", "--json")
    assert code == 2
    error = json.loads(out)
    assert error["exit_code"] == 2 and "--global-batch 960 or 1056" in error["error"] and error["field"] == "plan"
    assert err.startswith("xpuplan: error:")
    code, out, _ = run_cli("train", "--model", "llama3-8b", "--bogus", "--json")
    assert code == 2 and "--bogus" in json.loads(out)["error"]
    code, out, _ = run_cli(*TRAIN, "--recompute", "selectiv", "--json")  # the parser's own errors name the field too
    assert code == 2 and json.loads(out)["field"] == "recompute" and "Did you mean selective?" in json.loads(out)["error"]


# ------------------------------------------------------------------ issue 18: every catalog chip, honestly

def _low_figures(name: str) -> tuple[set[str], set[str]]:
    """The step figures (and the bf16/fp16 peak) a chip file holds, and those it marks low, read from the YAML."""
    import yaml

    from xpuplan.catalog import CATALOG_DIR

    raw = yaml.safe_load((CATALOG_DIR / "chips" / f"{name}.yaml").read_text())
    field = raw.get("field_confidence") or {}
    peak = "peak_flops.bf16" if raw["peak_flops"].get("bf16") is not None else "peak_flops.fp16"
    keys = [peak, "hbm.capacity", "hbm.bandwidth", "scale_up.bandwidth", "scale_up.domain", "scale_out.bandwidth"]
    present = {k for k in keys if (raw.get(k.split(".")[0]) or {}).get(k.split(".")[1]) is not None}
    return present, {k for k in present if field.get(k, raw.get("confidence", "low")) == "low"}


@pytest.mark.parametrize("chip", __import__("xpuplan.catalog", fromlist=["names"]).names("chips"))
def test_every_catalog_chip_trains_plans_and_serves(run_cli, chip):
    """Issue 18: train, plan and inference on every catalog chip exit 0 or 3 (does not fit), never 2 and never a
    traceback; a result resting on a figure the chip file marks low names that figure in its warnings."""
    small = ["--model", "llama3-8b", "--chip", chip, "--seq-len", "2048", "--global-batch", "64"]
    runs = {"train": ["train", *small, "--devices", "8", "--json"],
            "plan": ["plan", *small, "--devices", "8", "--top", "1", "--json"],
            "inference": ["inference", "--model", "llama3-8b", "--chip", chip, "--devices", "1", "--json"]}
    present, low = _low_figures(chip)
    for command, argv in runs.items():
        code, out, err = run_cli(*argv)
        assert code in (0, 3), (command, err)
        assert "Traceback" not in err
        if code == 3:
            assert "does not fit" in err
        result = json.loads(out)
        result = result[0] if isinstance(result, list) else result
        if "warnings" not in result:  # an error object alone (plan or inference with nothing that fits)
            continue
        warned = " ".join(w for w in result["warnings"] if "low-confidence" in w)
        for key in present:
            assert (key in warned) == (key in low), (command, key, result["warnings"])


def test_low_confidence_figures_are_a_footer_line_of_every_table(run_cli):
    for argv in (["train", "--model", "llama3-8b", "--chip", "mtt-s5000", "--devices", "8"],
                 ["plan", "--model", "llama3-8b", "--chip", "mtt-s5000", "--devices", "8", "--top", "2"],
                 ["inference", "--model", "llama3-8b", "--chip", "mtt-s5000", "--devices", "1"],
                 ["compare", "--model", "llama3-8b", "--chip", "h100-sxm", "--chip", "mtt-s5000", "--devices", "8"]):
        code, out, err = run_cli(*argv)
        assert code == 0, err
        flat = " ".join(out.split())
        assert "warning: mtt-s5000 rests on low-confidence figures: peak_flops.bf16" in flat, argv[0]
    code, out, _ = run_cli("train", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8")
    assert code == 0 and "low-confidence" not in out


def test_shell_completion_is_on():
    """Issue 20: `xpuplan --show-completion bash` prints a completion script for the command (and --install-completion
    installs it)."""
    import subprocess
    import sys

    import shlex

    # typer detects the shell from the process tree (the first shell above the command): run it under bash, which
    # stays its parent (``; true``), so the test does not depend on what launched pytest (make's /bin/sh, a CI shell)
    command = f"{shlex.quote(sys.executable)} -m xpuplan --show-completion; true"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "complete" in done.stdout and "xpuplan" in done.stdout.lower()


def test_every_part_of_the_step_has_a_label_in_the_table_and_on_the_page():
    """A named cost the step sums must show in `train`'s table and the page's breakdown plot, or it looks as if the
    parts do not add up to the step (the vision encoder's encoder_s was missing from both)."""
    from pathlib import Path

    from xpuplan.cost.step import BREAKDOWN_KEYS
    from xpuplan.report.training import BREAKDOWN_LABELS

    assert set(BREAKDOWN_LABELS) == set(BREAKDOWN_KEYS)
    page = (Path(__file__).parents[1] / "src/xpuplan/web/static/plan.js").read_text()
    assert all(f'"{key}"' in page for key in BREAKDOWN_KEYS)


@pytest.mark.parametrize("argv,flag,fix", [
    (["plan", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--deadline", "30d"], "--deadline",
     "add --objective devices (with --tokens)"),
    (["plan", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--inter-pool-bandwidth", "100Gbps"],
     "--inter-pool-bandwidth", "give both pools"),
    (["train", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--failure-rate", "0.002"],
     "--failure-rate", "add --tokens (e.g. 15T)"),
    (["train", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--sync-checkpoint"],
     "--async-checkpoint", "add --tokens"),
    (["train", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--moe-balancing", "forced"],
     "--moe-balancing", "llama3-8b is dense: drop it"),
    (["inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--decode-chip", "h800"],
     "--decode-chip", "add --prefill-devices and --decode-devices"),
    (["inference", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--slo-percentile", "p99"],
     "--slo-percentile", "add --search"),
    (["rl", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--rollouts-per-step", "256",
      "--train-global-batch", "64", "--prompt-len", "512", "--response-len", "1024", "--max-seq-len", "4096",
      "--objective", "cost"], "--objective", "add --search"),
])
def test_an_option_that_means_nothing_without_another_is_refused_not_dropped(run_cli, argv, flag, fix):
    code, _, err = run_cli(*argv)
    assert code == 2 and err.startswith(f"xpuplan: error: {flag} ") and fix in err, err
