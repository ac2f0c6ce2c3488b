"""`--config job.yaml` on every command (issue 20): the file's keys are the options' table names, flags on the
command line override it, and a bad key or value is one line naming it (the closest option for an unknown key)."""

import json

import pytest

from xpuplan import flags
from xpuplan.errors import BadInput
from xpuplan.flags.jobs import config_path, with_job_file


def job(tmp_path, text: str):
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return str(path)


def test_every_command_takes_a_job_file():
    for command in flags.COMMANDS:
        assert "config" in [o.name for o in flags.options(command)], command
    assert "config" not in [o.name for o in flags.options("train", http=True)]  # a request never names a file


def test_the_file_sets_options_and_the_command_line_overrides_it(run_cli, tmp_path):
    path = job(tmp_path, "model: llama3-8b\nchip: h100-sxm\ndevices: 16\nseq_len: 8192\nglobal-batch: 256\n"
                         "recompute: full\n")
    code, out, err = run_cli("train", "--config", path, "--json")
    assert code == 0, err
    got = json.loads(out)
    assert (got["seq_len"], got["global_batch"], got["plan"]["recompute"]) == (8192, 256, "full")
    code, out, err = run_cli("train", "--config", path, "--seq-len", "4096", "--recompute=selective", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert (got["seq_len"], got["global_batch"], got["plan"]["recompute"]) == (4096, 256, "selective")


def test_lists_switches_and_positional_arguments_come_from_the_file(run_cli, tmp_path):
    code, out, err = run_cli("compare", "--config", job(tmp_path, "model: llama3-8b\nchip: [h100-sxm, h800]\n"
                                                                  "devices: 8\ntp: 2\njson: true\n"))
    assert code == 0, err
    assert [r["chip"] for r in json.loads(out)] == ["h100-sxm", "h800"]
    code, out, err = run_cli("catalog", "--config", job(tmp_path, "kind: models\njson: true\n"))
    assert code == 0 and any(r["name"] == "llama3-8b" for r in json.loads(out))
    argv = with_job_file("train", ["--model", "m"], {"ep_dedup": False, "no_dp_overlap": True, "packed": True}, "f")
    assert argv == ["--no-ep-dedup", "--no-dp-overlap", "--packed", "--model", "m"]


def test_export_reads_its_plan_from_a_job_file(run_cli, tmp_path):
    path = job(tmp_path, "format: megatron\nmodel: llama3-8b\nchip: h100-sxm\ndevices: 16\ntp: 2\nzero: 1\n")
    code, out, err = run_cli("export", "--config", path)
    assert code == 0, err
    assert "--tensor-model-parallel-size 2\n" in out and "--use-distributed-optimizer\n" in out


def test_an_unknown_key_names_the_closest_option(run_cli, tmp_path):
    code, out, err = run_cli("train", "--config", job(tmp_path, "model: llama3-8b\nseq_lne: 4096\n"), "--chip",
                             "h100-sxm", "--devices", "8", "--json")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "unknown option 'seq_lne' for train; did you mean 'seq_len'?" in err
    assert json.loads(out)["field"] == "seq_lne"


@pytest.mark.parametrize("text,words", [("tp: two\n", "--tp must be a whole number"),
                                        ("recompute: fulll\n", "--recompute must be one of none, selective, full"),
                                        ("seq_len: [1, 2]\n", "seq_len takes one value"),
                                        ("json: maybe\n", "json is yes/no"),
                                        ("- model: x\n", "a job file is a mapping")])
def test_a_bad_value_names_the_file_and_the_option(run_cli, tmp_path, text, words):
    path = job(tmp_path, text)
    code, _, err = run_cli("train", "--config", path, "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8")
    assert code == 2 and words in err and path in err and len(err.strip().splitlines()) == 1


def test_a_missing_or_malformed_file_is_one_line(run_cli, tmp_path):
    code, _, err = run_cli("train", "--config", str(tmp_path / "none.yaml"))
    assert code == 2 and "cannot read file" in err
    code, _, err = run_cli("train", "--config", job(tmp_path, "model: [\n"))
    assert code == 2 and "malformed YAML" in err
    with pytest.raises(BadInput, match="--config needs a file"):
        config_path(["--config"])
    assert config_path(["--tp", "2", "--config=a.yaml"]) == "a.yaml"
