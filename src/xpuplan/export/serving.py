"""Server command lines for a serving plan: ``vllm serve`` and ``python -m sglang.launch_server``.

vLLM flags follow vLLM 0.34.0: vllm/engine/arg_utils.py EngineArgs.add_cli_args, with the fields of
vllm/config/parallel.py, scheduler.py, cache.py, model.py and speculative.py it generates them from. With
--enable-expert-parallel vLLM spreads each MoE layer's experts over all tp x dp devices, so an expert-parallel degree
other than tp x dp has no flag. SGLang flags follow SGLang 0.5.23: the ServerArgs fields of
sglang/srt/arg_groups/fields/ (parallel.py, schedule.py, model.py, spec.py) that
sglang/srt/server_args.py turns into flags. There, data-parallel attention is --attn-dp-size (it replaced
--dp-size with --enable-dp-attention, which 0.5.23 still takes but calls deprecated): --tp-size counts every device
of the instance, attention runs on --attn-dp-size groups of tp devices, experts on --ep-size devices.

Pre-quantized weights (int8, int4, fp4) come from the checkpoint, which no flag sets, so only bf16, fp16 and fp8
(quantised online, --quantization fp8) are exported.
"""

from __future__ import annotations

import json

from .launch import ServeLaunch
from .text import Flag, cannot, command, comments, read_flags, whole

VERSIONS = {"vllm": "vLLM 0.34.0", "sglang": "SGLang 0.5.23"}
SOURCES = {"vllm": "vllm/engine/arg_utils.py (vllm 0.34.0)",
           "sglang": "sglang/srt/server_args.py, sglang/srt/arg_groups/fields/*.py (sglang 0.5.23)"}
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp8": "bfloat16"}
"""activation dtype per weight precision (fp8 weights are quantised from a bf16 model at load)"""
DRAFT = "DRAFT_MODEL_PATH"
"""placeholder the user replaces with the draft model's or draft head's weights"""


def _refuse(fmt: str, launch: ServeLaunch) -> None:
    if launch.precision not in DTYPES:
        raise cannot(fmt, f"--precision {launch.precision}: those weights come from a pre-quantized checkpoint, "
                     "which no flag sets; export --precision bf16 or fp8 and point the server at the quantized "
                     "weights", "precision")
    if launch.kv_precision not in ("bf16", "fp16", "fp8"):
        raise cannot(fmt, f"--kv-precision {launch.kv_precision}: use bf16 or fp8", "kv_precision")
    if fmt == "vllm" and launch.ep > 1 and launch.ep != launch.tp * launch.dp:
        raise cannot(fmt, f"--ep {launch.ep}: --enable-expert-parallel spreads the experts over all tp x dp = "
                     f"{launch.tp * launch.dp} devices", "ep")
    if fmt == "sglang" and launch.ep > 1 and (launch.tp * launch.dp) % launch.ep:
        raise cannot(fmt, f"--ep {launch.ep}: --ep-size must divide --tp-size = tp x dp = {launch.tp * launch.dp}",
                     "ep")


def _vllm_speculative(launch: ServeLaunch) -> list[Flag]:
    spec = launch.speculative
    if spec is None:
        return []
    method = {"mtp": "mtp", "eagle": "eagle", "draft": "draft_model"}[spec.method]
    value = {"method": method, "num_speculative_tokens": spec.draft_tokens}
    if spec.method != "mtp":
        value["model"] = DRAFT
    return [("--speculative-config", json.dumps(value))]


def vllm_flags(launch: ServeLaunch) -> list[Flag]:
    _refuse("vllm", launch)
    out: list[Flag] = [("--tensor-parallel-size", launch.tp), ("--pipeline-parallel-size", launch.pp),
                       ("--data-parallel-size", launch.dp)]
    if launch.ep > 1:
        out.append(("--enable-expert-parallel", None))
    out += [("--dtype", DTYPES[launch.precision]), ("--max-model-len", launch.input_len + launch.output_len),
            ("--max-num-seqs", launch.max_seqs)]
    if launch.engine is not None:
        out += [("--max-num-batched-tokens", launch.engine.max_batched_tokens)]
        if launch.engine.memory_utilization < 1:  # 1: 0.34's default, the extensible KV cache fills the device
            out.append(("--gpu-memory-utilization", launch.engine.memory_utilization))
    if launch.precision == "fp8":
        out.append(("--quantization", "fp8"))
    if launch.kv_precision == "fp8":
        out.append(("--kv-cache-dtype", "fp8"))
    return out + _vllm_speculative(launch)


def _sglang_speculative(launch: ServeLaunch) -> list[Flag]:
    spec = launch.speculative
    if spec is None:
        return []
    algorithm = {"mtp": "NEXTN", "eagle": "EAGLE", "draft": "STANDALONE"}[spec.method]  # NEXTN: DeepSeek's MTP
    out: list[Flag] = [("--speculative-algorithm", algorithm)]
    if spec.method != "mtp":
        out.append(("--speculative-draft-model-path", DRAFT))
    return out + [("--speculative-num-steps", spec.draft_tokens), ("--speculative-eagle-topk", 1),
                  ("--speculative-num-draft-tokens", spec.draft_tokens + 1)]


def sglang_flags(launch: ServeLaunch) -> list[Flag]:
    _refuse("sglang", launch)
    if launch.ep > 1:  # one instance: attention data-parallel over dp groups of tp, experts over ep
        out: list[Flag] = [("--tp-size", launch.tp * launch.dp), ("--pp-size", launch.pp)]
        if launch.dp > 1:
            out.append(("--attn-dp-size", launch.dp))
        out.append(("--ep-size", launch.ep))
    else:
        out = [("--tp-size", launch.tp), ("--pp-size", launch.pp), ("--dp-size", launch.dp)]
    out += [("--dtype", DTYPES[launch.precision]), ("--context-length", launch.input_len + launch.output_len),
            ("--max-running-requests", launch.max_seqs)]
    if launch.engine is not None:
        out += [("--chunked-prefill-size", launch.engine.max_batched_tokens)]
        if launch.engine.memory_utilization < 1:
            out.append(("--mem-fraction-static", launch.engine.memory_utilization))
    if launch.precision == "fp8":
        out.append(("--quantization", "fp8"))
    if launch.kv_precision == "fp8":
        out.append(("--kv-cache-dtype", "fp8_e4m3"))
    return out + _sglang_speculative(launch)


HEADS = {"vllm": ["vllm", "serve", '"$MODEL"'], "sglang": ["python", "-m", "sglang.launch_server", "--model-path",
                                                           '"$MODEL"']}


def flags(fmt: str, launch: ServeLaunch) -> list[Flag]:
    return vllm_flags(launch) if fmt == "vllm" else sglang_flags(launch)


def render(fmt: str, launch: ServeLaunch, header: list[str]) -> str:
    notes = [f"MODEL: the weights of {launch.model_name} (a Hugging Face id or a local folder); "
             f"{launch.devices} devices"]
    if launch.speculative is not None and launch.speculative.method != "mtp":
        notes.append(f"{DRAFT}: the {launch.speculative.method} weights")
    return comments(header + notes) + command(HEADS[fmt], flags(fmt, launch))


ARITY = {"vllm": {"--tensor-parallel-size": 1, "-tp": 1, "--pipeline-parallel-size": 1, "-pp": 1,
                  "--data-parallel-size": 1, "-dp": 1, "--enable-expert-parallel": 0, "--quantization": 1,
                  "--kv-cache-dtype": 1, "--dtype": 1},
         "sglang": {"--tp-size": 1, "--pp-size": 1, "--dp-size": 1, "--attn-dp-size": 1, "--ep-size": 1,
                    "--enable-dp-attention": 0, "--quantization": 1, "--kv-cache-dtype": 1, "--dtype": 1}}


def read(fmt: str, text: str) -> dict:
    """The serving plan a ``vllm serve`` or ``sglang.launch_server`` command states."""
    f = read_flags(text, ARITY[fmt])

    def n(*names: str) -> int:
        return next((whole(f[x], x) for x in names if x in f), 1)

    quantized = f.get("--quantization") == "fp8"
    precision = "fp8" if quantized else ("fp16" if f.get("--dtype") in ("float16", "half") else "bf16")
    kv = "fp8" if str(f.get("--kv-cache-dtype", "auto")).startswith("fp8") else ("bf16" if precision == "fp8" else
                                                                               precision)
    if fmt == "vllm":
        tp, dp = n("--tensor-parallel-size", "-tp"), n("--data-parallel-size", "-dp")
        ep = tp * dp if "--enable-expert-parallel" in f else 1
        pp = n("--pipeline-parallel-size", "-pp")
    else:
        size, pp, ep = n("--tp-size"), n("--pp-size"), n("--ep-size")
        attn_dp = n("--attn-dp-size") if "--attn-dp-size" in f else (n("--dp-size") if "--enable-dp-attention" in f
                                                                      else 1)
        tp, dp = (size // attn_dp, attn_dp) if attn_dp > 1 or ep > 1 else (size, n("--dp-size"))
    return {"tp": tp, "pp": pp, "dp": dp, "ep": ep, "precision": precision, "kv_precision": kv}
