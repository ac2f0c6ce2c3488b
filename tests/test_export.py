"""Launch files (issue 20): what `xpuplan export` writes parses with each framework's own flag list or config schema,
names the version it follows, and reads back into the plan it came from.

The frameworks are not installed here (vLLM, SGLang and Megatron-LM need CUDA builds); their flag lists were
recorded once from the released sources named in each tests/data/export/*.json (the parser built, or its
add_argument calls read), and the tests build argparse parsers from them. Plans come from published runs
(data/validation): Llama 3 405B on 8,192 H100 (tp 8, pp 16, vpp 2), DeepSeek-V3 (ep 64, FP8, MLA), a
Qwen3 MoE run, MindSpeed-LLM's Llama 3 70B, torchtitan's FSDP + compile + float8 run, BLOOM's Megatron-DeepSpeed
topology, and Ant Group's DeepSeek-R1 decode on 16 H20 (SGLang, EP 16).
"""

import argparse
import json
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from xpuplan.cost.pipeline import ENDS, stage_layer_counts
from xpuplan.errors import BadInput
from xpuplan.export import FORMATS, VERSIONS, plan_from_export, render
from xpuplan.export.launch import ServeLaunch, from_result

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "data" / "export"
VALIDATION = ROOT / "data" / "validation"
RECORD_OF = {"megatron": "megatron-core_v0.19.0", "mindspeed": "mindspeed-llm_26.1.0", "vllm": "vllm_0.34.0",
             "sglang": "sglang_0.5.23", "deepspeed": "deepspeed_0.19.8", "torchtitan": "torchtitan_0.2.2"}


def recorded(fmt: str) -> dict:
    return json.loads((RECORDED / f"{RECORD_OF[fmt]}.json").read_text())


class Strict(argparse.ArgumentParser):
    def error(self, message):
        raise AssertionError(f"the framework's parser refuses it: {message}")


def framework_parser(fmt: str) -> Strict:
    """An argparse parser with every flag of the recorded version, its number of values and its choices."""
    parser = Strict(add_help=False, allow_abbrev=False)
    for flag, (nargs, choices) in recorded(fmt)["flags"].items():
        if nargs == 0:
            parser.add_argument(flag, action="store_true")
        elif nargs in ("+", "*", "?"):
            parser.add_argument(flag, nargs=nargs, choices=choices)
        else:
            parser.add_argument(flag, choices=choices)
    return parser


def words(text: str, head: tuple[str, ...] = ()) -> list[str]:
    """The arguments of a flags file, as the shell would pass them (comments dropped, the program left out)."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#")).replace("\\\n", " ")
    argv = shlex.split(body)
    assert argv[:len(head)] == list(head), argv[:5]
    return argv[len(head):]


def parse_with_framework(fmt: str, text: str, head: tuple[str, ...] = ()) -> argparse.Namespace:
    return framework_parser(fmt).parse_args(words(text, head))


# ------------------------------------------------------------------------------------------ published runs

def published(run_id: str):
    """(setup, result) of a published training run, as `xpuplan validate` prices it."""
    from xpuplan.training import estimate
    from xpuplan.validate.train import run_setup

    for path in sorted(VALIDATION.glob("*.yaml")):
        for run in yaml.safe_load(path.read_text()).get("runs", []):
            if run["id"] == run_id:
                setup = run_setup(run, path.name)
                return setup, estimate(setup.model, setup.chip, setup.job, setup.devices, setup.plan)
    raise KeyError(run_id)


LLAMA3_405B = "llama3-2024-405b-8192"
DEEPSEEK_V3 = "deepseek2024-v3-pretrain-2048"
QWEN3_MOE = "mbridge-25.11-qwen3-30b-a3b-8gpu-b200-fp8"
MINDSPEED_70B = "mindspeed-llm-llama3-70b-8k-8x8"
TORCHTITAN_FP8 = "torchtitan-llama3-8b-8gpu-fsdp-compile-fp8"
BLOOM = "bigscience-tr11-0225-72l-dp8-tp8-pp6-mbs4-gbs2048"
CASES = [(LLAMA3_405B, "megatron"), (LLAMA3_405B, "mindspeed"), (DEEPSEEK_V3, "megatron"), (QWEN3_MOE, "megatron"),
         (MINDSPEED_70B, "mindspeed"), (MINDSPEED_70B, "megatron"), (TORCHTITAN_FP8, "torchtitan"),
         (TORCHTITAN_FP8, "megatron"), (BLOOM, "deepspeed"), (BLOOM, "megatron")]


def expected(setup) -> dict:
    return {**setup.plan.to_dict(), "global_batch": setup.job.global_batch, "seq_len": setup.job.seq_len}


def assert_same_plan(read: dict, setup) -> None:
    want = expected(setup)
    keys = [k for k in want if k != "etp" or want["ep"] > 1]
    assert {k: read[k] for k in keys} == {k: want[k] for k in keys}


@pytest.mark.parametrize("run_id,fmt", CASES)
def test_a_published_plan_exports_parses_with_the_framework_and_reads_back(run_id, fmt):
    setup, result = published(run_id)
    done = render(fmt, from_result(result))
    named_in = done.launcher if fmt == "deepspeed" else done.text  # JSON has no comments: its flags file names it
    assert done.version == VERSIONS[fmt] and named_in.startswith(f"# {VERSIONS[fmt]}: ")
    if fmt in ("megatron", "mindspeed"):
        parse_with_framework(fmt, done.text)
        back = plan_from_export(fmt, done.text, devices=setup.devices)
    elif fmt == "torchtitan":
        check_torchtitan_schema(tomllib.loads(done.text))
        back = plan_from_export(fmt, done.text, layers=setup.model.layers)
    else:
        check_deepspeed_schema(json.loads(done.text))
        parse_with_framework(fmt, done.launcher)
        back = plan_from_export(fmt, done.text, launcher=done.launcher)
    assert_same_plan(back, setup)


def test_the_405b_plan_keeps_its_interleaved_stages_over_126_layers():
    """126 layers on 16 ranks of 2 virtual stages: the embedding and the loss counted as layers, 7, 14 x 8, 7 (the split
    the cost model prices, and the one Megatron-Bridge's Llama 3.1 405B recipes ask for)."""
    setup, result = published(LLAMA3_405B)
    args = parse_with_framework("megatron", render("megatron", from_result(result)).text)
    assert (args.tensor_model_parallel_size, args.pipeline_model_parallel_size) == ("8", "16")
    assert args.num_virtual_stages_per_pipeline_rank == "2" and args.sequence_parallel
    assert args.use_distributed_optimizer
    assert args.account_for_embedding_in_pipeline_split and args.account_for_loss_in_pipeline_split
    assert args.decoder_first_pipeline_num_layers is None and args.decoder_last_pipeline_num_layers is None
    megatron_core_accepts_accounted(126, 16, 2)


def megatron_core_accepts_accounted(layers: int, pp: int, vpp: int) -> None:
    """Megatron-Core's check of a split that counts the embedding and the loss as layers (transformer_block.py,
    core_v0.19.0): layers + 2 divide by pp, and a rank's share by vpp."""
    assert (layers + 2) % pp == 0 and ((layers + 2) // pp) % vpp == 0


def uneven_ends(layers: int, pp: int, vpp: int = 1) -> tuple[int, int] | None:
    """(first, last) where the split priced sets the ends explicitly (--decoder-first/last-pipeline-num-layers)."""
    first, _, last, how = stage_layer_counts(layers, pp, vpp)
    return (int(first), int(last)) if how == ENDS else None


def megatron_core_accepts(layers: int, pp: int, vpp: int, first: int, last: int) -> None:
    """Megatron-Core's checks of an uneven split (TransformerConfig.__post_init__, core_v0.17.0-0.19.0): the counts
    are per pipeline rank, positive, each divisible by vpp, and the middle ranks share the rest evenly, a multiple of
    vpp each."""
    middle_layers, middle_ranks = layers - first - last, pp - 2
    assert first > 0 and last > 0 and first % vpp == 0 and last % vpp == 0
    assert bool(middle_layers) == bool(middle_ranks)
    if middle_ranks:
        assert middle_layers % middle_ranks == 0 and (middle_layers // middle_ranks) % vpp == 0


@pytest.mark.parametrize("layers,pp,vpp", [(61, 16, 1), (61, 4, 1), (7, 2, 1), (95, 8, 1), (93, 8, 1), (52, 4, 2)])
def test_an_uneven_split_is_one_megatron_core_accepts_with_no_rank_fuller_than_needed(layers, pp, vpp):
    """Per rank, as Megatron-Core reads --decoder-first/last-pipeline-num-layers (a virtual-stage count passed there
    failed its checks whenever vpp > 1), and no rank fuller than the approximation's ceil(layers / pp) once the last
    rank's head is counted as a layer."""
    first, last = uneven_ends(layers, pp, vpp)
    megatron_core_accepts(layers, pp, vpp, first, last)
    middle = (layers - first - last) // max(pp - 2, 1)
    full = -(-layers // pp)
    assert max(first, middle if pp > 2 else 0, last + 1) <= max(full, layers - (pp - 1) * full + 1)


def test_each_split_exports_the_flags_megatron_core_reads_for_it():
    """Even: no flag; the embedding and the loss as layers: the two account flags; explicit ends: the two counts; no
    split Megatron-Core accepts: one line naming pp."""
    from xpuplan.cost.pipeline import ACCOUNTED, APPROXIMATE, EVEN

    assert [int(stage_layer_counts(*shape)[3]) for shape in [(80, 4, 1), (126, 16, 1), (61, 16, 1, 3), (126, 16, 7)]] \
        == [EVEN, ACCOUNTED, ENDS, APPROXIMATE]
    # DeepSeek-V3's 61 layers and its MTP module (the head counted three times): Megatron-Bridge's layout
    assert [int(x) for x in stage_layer_counts(61, 16, 1, 3)[:3]] == [4, 4, 1]
    assert uneven_ends(126, 16, 1) is None and uneven_ends(80, 1) is None and uneven_ends(126, 16, 7) is None
def test_deepseek_v3_exports_fp8_mla_and_deepep_expert_parallelism():
    _, result = published(DEEPSEEK_V3)
    args = parse_with_framework("megatron", render("megatron", from_result(result)).text)
    assert args.fp8_format == "hybrid" and args.multi_latent_attention and args.expert_model_parallel_size == "64"
    assert args.moe_token_dispatcher_type == "flex" and args.moe_flex_dispatcher_backend == "deepep"
    assert args.overlap_moe_expert_parallel_comm and args.num_experts == "256" and args.moe_router_topk == "8"
    assert args.moe_layer_freq == "[0]*3+[1]*58"


# ------------------------------------------------------------------------------------------ schemas

def check_torchtitan_schema(data: dict) -> None:
    """Every table and field of the job file is one of torchtitan 0.2.2's JobConfig, with a value of its type."""
    sections, converters = recorded("torchtitan")["sections"], recorded("torchtitan")["converters"]

    def walk(table: dict, prefix: str) -> None:
        for key, value in table.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(value, name)
                continue
            assert prefix in sections and key in sections[prefix], f"[{prefix}] {key} is not a JobConfig field"
            kind = sections[prefix][key]
            ok = {"bool": isinstance(value, bool), "int": isinstance(value, int) and not isinstance(value, bool),
                  "str": isinstance(value, str), "list": isinstance(value, list)}
            assert any(ok[t] for t in ok if t in kind) or ("Literal" in kind and repr(value) in kind), (name, kind)
    walk(data, "")
    assert set(data["model"]["converters"]) <= set(converters)


def check_deepspeed_schema(cfg: dict) -> None:
    keys = recorded("deepspeed")["config"]
    assert set(cfg) <= set(keys["top"])
    assert set(cfg["zero_optimization"]) <= set(keys["zero_optimization"])
    assert set(cfg.get("activation_checkpointing", {})) <= set(keys["activation_checkpointing"])
    for half in ("bf16", "fp16"):
        assert set(cfg.get(half, {})) <= set(keys[half])


def test_torchtitan_writes_fsdp_float8_and_compile_as_its_job_config_names_them():
    _, result = published(TORCHTITAN_FP8)
    data = tomllib.loads(render("torchtitan", from_result(result)).text)
    assert data["model"]["converters"] == ["quantize.linear.float8"] and data["compile"]["enable"] is True
    assert data["parallelism"]["data_parallel_shard_degree"] == 8 and data["quantize"]["linear"]["float8"][
        "enable_fsdp_float8_all_gather"] is True


def test_deepspeed_batch_sizes_agree_as_deepspeed_checks_them():
    setup, result = published(BLOOM)
    done = render("deepspeed", from_result(result))
    cfg = json.loads(done.text)
    p = setup.plan
    assert cfg["train_batch_size"] == cfg["train_micro_batch_size_per_gpu"] * cfg["gradient_accumulation_steps"] * p.dp
    args = parse_with_framework("deepspeed", done.launcher)
    assert args.deepspeed and args.deepspeed_config == "ds_config.json" and args.zero_stage == str(p.zero)
    assert args.checkpoint_activations and args.deepspeed_activation_checkpointing  # the run recomputed everything


# ------------------------------------------------------------------------------------------ serving

def serving_run(run_id: str):
    """(run, ServeResult) of a published serving run."""
    from xpuplan import api

    for path in sorted((VALIDATION / "inference").glob("*.yaml")):
        for run in yaml.safe_load(path.read_text()).get("runs", []):
            if run["id"] == run_id:
                plan = run["plan"]
                result = api.inference(model=run["model"], chip=run["chip"], devices=run["devices"], **plan,
                                       precision=run.get("precision"), kv_precision=run.get("kv_precision"),
                                       input_len=run.get("input_len") or 1024, output_len=run.get("output_len") or 1024,
                                       concurrency=run.get("concurrency"), engine="sglang")
                return run, result
    raise KeyError(run_id)


SERVING_CASES = [("antgroup-dsr1-h20-decode-ep16", "sglang"), ("antgroup-dsr1-h20-decode-ep16", "vllm"),
                 ("inferencebench-llama31-8b-h100-vllm-c4-tpot", "vllm"),
                 ("inferencebench-llama31-8b-h100-vllm-c4-tpot", "sglang")]
HEADS = {"vllm": ("vllm", "serve", "$MODEL"), "sglang": ("python", "-m", "sglang.launch_server")}


@pytest.mark.parametrize("run_id,fmt", SERVING_CASES)
def test_a_published_serving_plan_exports_parses_with_the_engine_and_reads_back(run_id, fmt):
    run, result = serving_run(run_id)
    done = render(fmt, from_result(result))
    assert done.text.startswith(f"# {VERSIONS[fmt]}: ")
    args = parse_with_framework(fmt, done.text, HEADS[fmt])
    back = plan_from_export(fmt, done.text)
    assert {k: back[k] for k in ("tp", "pp", "dp", "ep")} == {k: run["plan"][k] for k in ("tp", "pp", "dp", "ep")}
    assert back["precision"] == result.plan.precision and back["kv_precision"] == result.plan.kv_precision
    if run["plan"]["ep"] > 1 and fmt == "sglang":
        assert (args.tp_size, args.attn_dp_size, args.ep_size, args.kv_cache_dtype) == ("16", "16", "16", "fp8_e4m3")
    if run["plan"]["ep"] > 1 and fmt == "vllm":
        assert args.enable_expert_parallel and args.quantization == "fp8"


def serve(**kw) -> ServeLaunch:
    base = dict(model_name="m", model=None, devices=16, tp=8, pp=1, dp=2, ep=1, precision="bf16", kv_precision="bf16",
                input_len=1000, output_len=200, concurrency=64)
    return ServeLaunch(**{**base, **kw})


def test_speculative_decoding_is_written_as_each_engine_spells_it():
    from xpuplan.specs.serving import Speculative

    launch = serve(speculative=Speculative(method="eagle", draft_tokens=3))
    v = parse_with_framework("vllm", render("vllm", launch).text, HEADS["vllm"])
    assert json.loads(v.speculative_config) == {"method": "eagle", "num_speculative_tokens": 3,
                                                "model": "DRAFT_MODEL_PATH"}
    s = parse_with_framework("sglang", render("sglang", launch).text, HEADS["sglang"])
    assert (s.speculative_algorithm, s.speculative_num_steps, s.speculative_num_draft_tokens) == ("EAGLE", "3", "4")


# ------------------------------------------------------------------------------------------ what cannot be said

@pytest.mark.parametrize("run_id,fmt,field", [(LLAMA3_405B, "torchtitan", "zero"), (LLAMA3_405B, "deepspeed", "vpp"),
                                              (DEEPSEEK_V3, "mindspeed", "precision"),
                                              (DEEPSEEK_V3, "deepspeed", "precision")])
def test_a_plan_a_format_cannot_express_is_one_line_naming_it(run_id, fmt, field):
    _, result = published(run_id)
    with pytest.raises(BadInput) as err:
        render(fmt, from_result(result))
    assert err.value.field == field and "\n" not in str(err.value) and str(err.value).startswith(f"{fmt} cannot")


@pytest.mark.parametrize("launch,fmt,field", [(serve(ep=8), "vllm", "ep"), (serve(precision="int4"), "sglang",
                                                                               "precision"),
                                              (serve(kv_precision="int8"), "vllm", "kv_precision")])
def test_a_serving_plan_an_engine_cannot_express_is_one_line(launch, fmt, field):
    with pytest.raises(BadInput) as err:
        render(fmt, launch)
    assert err.value.field == field


def test_a_training_format_refuses_a_serving_plan_and_back():
    with pytest.raises(BadInput, match="use --format megatron, mindspeed, torchtitan or deepspeed"):
        render("vllm", from_result(published(BLOOM)[1]))
    with pytest.raises(BadInput, match="use --format vllm or sglang"):
        render("megatron", serve())


# ------------------------------------------------------------------------------------------ the command line

def test_export_from_a_plan_json_file_picks_an_entry(run_cli, tmp_path):
    code, out, err = run_cli("plan", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "64", "--top", "2",
                             "--json")
    assert code == 0, err
    plans = json.loads(out)
    (tmp_path / "plans.json").write_text(out)
    code, out, err = run_cli("export", "--format", "megatron", "--from", str(tmp_path / "plans.json"), "--pick", "2",
                             "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["version"] == VERSIONS["megatron"] and done["plan"] == plans[1]["plan"]
    back = plan_from_export("megatron", done["text"], devices=64)
    assert {k: back[k] for k in ("tp", "pp", "dp", "cp", "vpp", "micro_batch", "zero")} == \
        {k: plans[1]["plan"][k] for k in ("tp", "pp", "dp", "cp", "vpp", "micro_batch", "zero")}


def test_export_from_flags_writes_the_file_and_deepspeed_flags_go_to_stdout(run_cli, tmp_path):
    target = tmp_path / "ds.json"
    code, out, err = run_cli("export", "--format", "deepspeed", "--model", "llama3-8b", "--chip", "h100-sxm",
                             "--devices", "16", "--tp", "2", "--pp", "2", "--out", str(target))
    assert code == 0, err
    cfg = json.loads(target.read_text())
    assert cfg["train_batch_size"] == cfg["train_micro_batch_size_per_gpu"] * cfg["gradient_accumulation_steps"] * 4
    assert out.startswith(f"# {VERSIONS['deepspeed']}") and "--deepspeed_config ds.json" in out


def test_export_serving_flags_price_the_plan_with_that_engine(run_cli):
    code, out, err = run_cli("export", "--format", "vllm", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices",
                             "2", "--tp", "1", "--precision", "fp8")
    assert code == 0, err
    args = parse_with_framework("vllm", out, HEADS["vllm"])
    assert (args.data_parallel_size, args.quantization, args.max_num_batched_tokens) == ("2", "fp8", "8192")


@pytest.mark.parametrize("argv,field", [
    (("--format", "megatron", "--model", "llama3-8b", "--chip", "h100-sxm"), "devices"),
    (("--format", "vllm", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "1", "--seq-len", "8"),
     "seq_len"),
    (("--format", "megatron", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--input-len", "8"),
     "input_len"),
    (("--format", "megatron", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--precision", "int4"),
     "precision"),
    (("--format", "torchtitan", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices", "8", "--zero", "1"),
     "zero"),
])
def test_bad_export_input_is_one_line_and_json_names_the_field(run_cli, argv, field):
    code, out, err = run_cli("export", *argv, "--json")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert json.loads(out)["field"] == field


def test_export_from_a_file_that_is_not_a_plan_names_what_is_wrong(run_cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"plan": {"tp": "x"}}))
    code, _, err = run_cli("export", "--format", "megatron", "--from", str(bad))
    assert code == 2 and "'tp' must be a whole number" in err
    code, _, err = run_cli("export", "--format", "megatron", "--from", str(bad), "--tp", "2")
    assert code == 2 and "leave out --tp" in err
    code, _, err = run_cli("export", "--format", "megatron", "--from", str(tmp_path / "none.json"))
    assert code == 2 and "cannot read file" in err


def test_every_format_has_a_recorded_flag_list_and_a_version():
    assert set(FORMATS) == set(RECORD_OF) == set(VERSIONS)
    for fmt in FORMATS:
        assert recorded(fmt)["version"].split(" ")[0] in VERSIONS[fmt]


@pytest.mark.parametrize("flag,value", [("--remat-offloaded", "context"), ("--vocab-tiles", "4")])
def test_maxtexts_options_are_refused_by_the_launch_formats_not_dropped(run_cli, flag, value):
    code, _, err = run_cli("export", "--format", "megatron", "--model", "llama3-8b", "--chip", "h100-sxm", "--devices",
                           "8", "--recompute", "selective", flag, value)
    assert code == 2 and f"{flag} is MaxText's" in err and "drop it to export" in err, err
