"""The ``export`` command's options: its own (``--format``, ``--from``, ``--pick``, ``--out``, ``--json``) and the
plan options, taken from the table's ``train`` rows (a training format) and the serving rows of ``inference`` (vllm,
sglang), so a flag reads the same in ``train``, ``inference`` and ``export``.

The plan rows lose their defaults here (None: not given), so the command that prices the plan fills in its own;
reliability, cost and output rows are left out (a launch file has no use for them). Over HTTP (``POST /api/export``)
export takes ``format`` and the plan rows; ``--from``, ``--pick``, ``--out`` and ``--json`` name files or output
channels and stay on the CLI.
"""

from __future__ import annotations

from dataclasses import replace

from . import Option

FORMATS = ("megatron", "mindspeed", "torchtitan", "deepspeed", "vllm", "sglang")
SERVING_ROWS = ("input_len", "output_len", "kv_precision", "concurrency", "speculative", "accept_rate",
                "draft_tokens", "attention_dp")
"""the ``inference`` rows export takes besides the ``train`` ones"""
LEFT_OUT_PANELS = ("reliability", "cost", "output")


def _row(o: Option) -> Option:
    keep = o.kind is bool and not o.off_flag  # a plain switch stays off
    return replace(o, commands=("export",), required=(),
                   default=o.default_for("train") if keep else ([] if o.many else None))


def export_rows(table: tuple[Option, ...]) -> tuple[Option, ...]:
    train = [o for o in table if "train" in o.commands and o.panel not in LEFT_OUT_PANELS]
    serve = {o.name: o for o in table if "inference" in o.commands and o.name in SERVING_ROWS}
    precisions = next(o.choices for o in table if "inference" in o.commands and o.name == "precision")
    rows = [_row(o) for o in train]
    rows = [replace(o, choices=precisions, help="GEMM precision: bf16, fp16, fp8 (training); serving also int8, int4, "
                    "fp4 (default bf16)") if o.name == "precision" else o for o in rows]
    own = (
        Option(name="format", kind=str, help="launch file to write: megatron, mindspeed, torchtitan, deepspeed "
               "(training plans) or vllm, sglang (serving plans)", commands=("export",), required=("export",),
               choices=FORMATS, panel="output", example="mindspeed"),
        Option(name="source", kind=str, help="a `train --json`, `plan --json` or `inference --json` file: export "
               "that plan instead of pricing one from the flags", commands=("export",), flag="--from", http=False,
               panel="output"),
        Option(name="pick", kind=int, help="with --from a list (plan, inference --search): which entry, 1 = the "
               "best", commands=("export",), default=1, ge=1, le=1000, http=False, panel="output"),
        Option(name="out", kind=str, help="write the file here (deepspeed: the JSON config; its flags go to "
               "stdout); default: print it", commands=("export",), http=False, panel="output"),
        Option(name="json", kind=bool, help="print format, version, the file's text and the plan as JSON",
               commands=("export",), default=False, http=False, panel="output"),
    )
    return tuple(rows) + tuple(_row(serve[name]) for name in SERVING_ROWS) + own
