"""Every user option, declared once: name, type, default, bounds, unit, help, and the commands that take it.

The CLI's typer options (:func:`typer_command`) and the HTTP API's pydantic request bodies (:func:`request_body`)
are both generated from ``OPTIONS``, so a default, a bound or a help text cannot differ between them. A field's
JSON name is the flag with ``-`` written ``_`` (``--seq-len`` is ``seq_len``). Options that name a file on the
machine or an output channel (``costs``, ``plot``, ``json``) are CLI-only (``http=False``): a request never makes
the server read or write a file.

Values are checked where they are used (:mod:`xpuplan.api` and below), with one-line messages naming the flag; the
bounds here are also enforced by the HTTP schema, so a request is refused before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..specs.framework import OPTIMIZER_STATES
from ..units import UNIT_KINDS
from .rl import RL_ROWS
from .serving import SERVING_ROWS, SPECULATIVE

COMMANDS = ("train", "compare", "plan", "inference", "rl", "fleet", "export", "catalog", "validate", "web", "probe",
            "sweep", "scenarios", "schema")
HTTP_COMMANDS = ("train", "compare", "plan", "inference", "rl", "fleet", "export")
"""commands the HTTP API serves, at ``POST /api/<command>``"""
PANELS = ("job", "plan", "serving", "rl", "fleet", "reliability", "cost", "output")
CATALOG_ID = r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,99}$"
"""what a catalog id looks like: no path separators, no leading dot"""
MAX_TEXT = 255
"""longest free-text value, characters"""
MAX_LIST = 16
"""most values of a repeatable option in one request"""

TRAIN_LIKE = ("train", "compare", "plan")


@dataclass(frozen=True, kw_only=True, slots=True)
class Option:
    """One user option."""

    name: str
    """Python and JSON name; the CLI flag is ``--`` + name with ``-`` for ``_`` unless ``flag`` says otherwise"""
    kind: type
    """int, float, str or bool"""
    help: str
    """one line for --help and the HTTP schema"""
    commands: tuple[str, ...]
    """commands that take it"""
    default: Any = None
    """default value; a dict maps a command to its own default"""
    required: tuple[str, ...] = ()
    """commands where it must be given"""
    choices: tuple[str, ...] | None = None
    """allowed values"""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    unit: str = ""
    """the unit of a number, or the quantity kind a text value is parsed as (``count``, ``seconds``, ``bytes_per_s``)"""
    many: bool = False
    """repeatable on the CLI (``--chip a --chip b``); one value or a list in JSON"""
    flag: str | None = None
    """CLI spelling when it is not derived from ``name``"""
    off_flag: str | None = None
    """a yes/no option whose default (None) defers to a profile: the CLI spelling of no (``--sync-checkpoint``)"""
    http: bool = True
    """False: CLI only (names a file on the machine, or an output channel)"""
    argument: bool = False
    """positional CLI argument"""
    catalog_id: bool = False
    """over HTTP only a catalog id is accepted, never a file path"""
    document: bool = False
    """a YAML document: a file (or inline YAML/JSON text) on the CLI, the mapping itself (a JSON object) over HTTP"""
    panel: str = "job"
    """--help panel"""
    example: Any = None
    """a valid value other than the default, for the base job of each command (used by the HTTP = CLI test)"""

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def default_for(self, command: str) -> Any:
        return self.default.get(command) if isinstance(self.default, dict) else self.default

    @property
    def quantity(self) -> bool:
        """A text value holding a number with a unit ("15T", "100GB/s", "90d")."""
        return self.kind is str and self.unit in UNIT_KINDS


def _o(name, kind, help, commands, **kw) -> Option:
    return Option(name=name, kind=kind, help=help, commands=tuple(commands), **kw)


def _rl(name, kind, help, **kw) -> Option:
    return _o(name, kind, help, ("rl",), panel="rl", **kw)


def _fleet(name, kind, help, **kw) -> Option:
    return _o(name, kind, help, ("fleet",), panel="fleet", **kw)


RUN = ("train", "compare", "plan")  # commands that price a whole run's reliability and cost
OPTIONS: tuple[Option, ...] = (
    # ------------------------------------------------------------------------------------------------ job
    _o("model", str, "catalog model id, a model YAML file, or a Hugging Face config.json (file or folder)", ("train", "compare", "plan", "inference", "rl"),
       required=("train", "compare", "plan", "inference", "rl"), catalog_id=True, example="llama3-8b"),
    _o("chip", str, "catalog chip id or a chip YAML file (e.g. from `xpuplan probe`)", ("train",),
       required=("train",), catalog_id=True, example="h800"),
    _o("chip", str, "catalog chip id or chip YAML file", ("plan",), catalog_id=True, example="h800"),
    _o("chip", str, "chip id or file; repeat to compare", ("compare",), many=True,
       required=("compare",), catalog_id=True, example=["h800", "h100-sxm"]),
    _o("chip", str, "chip id or file (repeat with --search to compare chips)", ("inference",),
       many=True, required=("inference",), catalog_id=True, example=["h800"]),
    _o("devices", int, "number of devices", ("train", "compare"), required=("train", "compare"), ge=1,
       le=10_000_000, example=16),
    _o("devices", str, "a count (1024) or a range (1024..16384)", ("plan",), unit="devices", example="16"),
    _o("devices", int, "devices serving (all replicas)", ("inference",), ge=1, le=10_000_000, example=4),
    _o("pools", str, "CHIP:COUNT; give two to plan one job over two chip kinds", ("plan",), flag="--pool",
       many=True, default=[], example=["h800:8", "h100-sxm:8"]),
    _o("override", str, "what-if: set one chip figure for this run, KEY=VALUE with its unit (scale_up.domain=72, "
       "scale_out.bandwidth=800Gbps, peak_flops.bf16=600TFLOPS, hbm.capacity=96GiB, price.usd_per_hour=2; repeat); "
       "reported at confidence 'user'", ("train", "compare", "plan", "inference", "rl"), many=True, default=[],
       example=["scale_up.domain=16"]),
    _o("seq_len", int, "tokens per sequence", TRAIN_LIKE, default=4096, ge=1, le=10_000_000, unit="tokens",
       example=2048),
    _o("global_batch", int, "sequences per optimizer step", TRAIN_LIKE, ge=1, le=1 << 30, unit="sequences",
       example=256),
    _o("global_batch_tokens", str, "tokens per optimizer step, e.g. 16M", TRAIN_LIKE, unit="count", example="2M"),
    _o("tokens", str, "token budget of the run, e.g. 15T", TRAIN_LIKE, unit="count", example="1T"),
    _o("framework", str, "training framework profile: megatron, mindspeed, torch, torch-compile, llm-foundry, "
       "deepspeed, xla, ... (see `xpuplan catalog frameworks`)", TRAIN_LIKE, default="megatron", catalog_id=True,
       example="mindspeed"),
    _o("memory_margin", float, "fraction of device memory kept free", TRAIN_LIKE,
       default={"train": 0.0, "compare": 0.0, "plan": 0.05}, ge=0.0, lt=1.0, unit="fraction", example=0.1),
    # ----------------------------------------------------------------------------------------------- plan
    _o("micro_batch", int, "sequences per micro-batch (default 1)", ("train", "compare"), ge=1, panel="plan",
       example=2),
    _o("tp", int, "tensor parallel (with sequence parallel)", ("train", "compare", "inference"), ge=1, panel="plan",
       example=2),
    _o("pp", int, "pipeline stages", ("train", "compare", "inference"), ge=1, panel="plan", example=2),
    _o("dp", int, "data parallel (default: devices / (tp*pp*cp))", ("train", "compare"), ge=1, panel="plan",
       example=16),
    _o("dp", int, "replicas (default: devices / (tp*pp))", ("inference",), ge=1, panel="plan", example=2),
    _o("cp", int, "context parallel", ("train", "compare"), ge=1, panel="plan", example=2),
    _o("ep", int, "expert parallel (carved from dp*cp; from tp*dp*cp with --etp 1)", ("train", "compare", "inference"),
       ge=1, panel="plan", example=1),
    _o("etp", int, "expert tensor parallel (default: tp); 1 keeps experts whole and folds tp into the expert groups",
       ("train", "compare"), ge=1, panel="plan", example=1),
    _o("vpp", int, "virtual pipeline stages per device", ("train", "compare"), ge=1, panel="plan", example=2),
    _o("zero", int, "0, 1 (distributed optimizer, default), 2, 3 (FSDP)", ("train", "compare"), ge=0, le=3,
       panel="plan", example=3),
    _o("recompute", str, "activation recompute (default selective)", ("train", "compare"),
       choices=("none", "selective", "full"), panel="plan", example="full"),
    _o("precision", str, "GEMM precision (default bf16)", ("train", "compare"), choices=("bf16", "fp16", "fp8"),
       panel="plan", example="fp8"),
    _o("precision", str, "GEMM precision of every plan", ("plan",), default="bf16", choices=("bf16", "fp16", "fp8"),
       panel="plan", example="fp8"),
    _o("tp_overlap", float, "fraction of TP communication hidden (0..1)", TRAIN_LIKE, default=0.0, ge=0.0, le=1.0,
       unit="fraction", panel="plan", example=0.5),
    _o("no_dp_overlap", bool, "do not overlap DP communication with compute", TRAIN_LIKE, default=False,
       panel="plan", example=True),
    _o("ep_overlap", float, "share of the EP all-to-all that hides behind another micro-batch's compute (0..1; "
       "never more than that compute; default: the framework's, 0 unless it overlaps by default)", TRAIN_LIKE, ge=0.0,
       le=1.0, unit="fraction", panel="plan", example=0.85),
    _o("ep_dedup", bool, "expert dispatch sends a token once per remote node and fans out inside it (DeepEP, "
       "HybridEP); --no-ep-dedup: one copy per routed expert (default: the framework's)", TRAIN_LIKE,
       off_flag="--no-ep-dedup", panel="plan", example=True),
    _o("moe_grouped_gemm", bool, "a MoE layer's local experts run as one grouped GEMM (Megatron --moe-grouped-gemm, "
       "which NVIDIA's and MindSpeed's MoE recipes pass); --no-moe-grouped-gemm: a loop of per-expert GEMMs "
       "(Megatron-LM's default without the flag, DeepSpeed-MoE). Default: the framework's", TRAIN_LIKE,
       off_flag="--no-moe-grouped-gemm", panel="plan", example=False),
    _o("moe_balancing", str, "the router's balancing: aux_loss, loss_free, forced (random logits, benchmarking) or "
       "capacity (dropped and padded to capacity 1); sets the hottest expert rank's excess (default: the model's)",
       TRAIN_LIKE, choices=("aux_loss", "loss_free", "forced", "capacity"), panel="plan", example="forced"),
    _o("offload_layers", int, "layers per stage whose activations wait in host memory (Megatron "
       "--cpu-offloading-num-layers; cheap over NVLink-C2C on GB200/GB300)", TRAIN_LIKE, default=0, ge=0, le=1000,
       panel="plan", example=2),
    _o("distribute_saved_activations", bool, "with --recompute full and no sequence parallelism: each "
       "tensor-parallel rank keeps 1/tp of the saved layer inputs and gathers them before the recompute (Megatron-LM "
       "--distribute-saved-activations, metaseq --distribute-checkpointed-activations)", TRAIN_LIKE, default=False,
       panel="plan", example=True),
    _o("task", str, "what the job trains: pretrain; sft (full fine-tuning); lora or qlora (adapters on a frozen base, "
       "bf16 or 4-bit NF4); dpo (chosen and rejected sequences, --global-batch counts pairs)", TRAIN_LIKE,
       default="pretrain", choices=("pretrain", "sft", "lora", "qlora", "dpo"), panel="job", example="lora"),
    _o("lora_rank", int, "lora/qlora: adapter rank (default 32, Megatron-Bridge's)", TRAIN_LIKE, ge=1, le=65536,
       panel="job", example=16),
    _o("lora_targets", str, "lora/qlora: the linear layers adapted, comma-separated: qkv, o, mlp (default all)",
       TRAIN_LIKE, panel="job", example="qkv,o"),
    _o("packed", bool, "fine-tuning: examples packed into --seq-len rows, each attending within itself (default); "
       "--no-packed: one example a row, padded", TRAIN_LIKE, off_flag="--no-packed", panel="job", example=False),
    _o("mean_seq_len", int, "fine-tuning: mean example length of the dataset, tokens (default: --seq-len)", TRAIN_LIKE,
       ge=1, le=10_000_000, unit="tokens", panel="job", example=512),
    _o("reference", str, "dpo: the reference model's log-probs computed in the step (live, the default) or "
       "beforehand (precomputed)", TRAIN_LIKE, choices=("live", "precomputed"), panel="job",
       example="precomputed"),
    _o("remat_saved", str, "with --recompute selective: the layer tensors kept for the backward, comma-separated "
       "(MaxText remat names: decoder_layer_input, query_proj, key_proj, value_proj, qkv_proj, context, out_proj, "
       "mlpwi, mlpwi_0, mlpwi_1, mlpwo); the rest is computed again. Default: the framework's selective policy",
       TRAIN_LIKE, panel="plan", example="qkv_proj,out_proj"),
    _o("remat_offloaded", str, "with --recompute selective: layer tensors that wait in host memory (same names)",
       TRAIN_LIKE, panel="plan", example="context"),
    _o("vocab_tiles", int, "the loss over the tokens in this many chunks, one chunk's logits in memory at a time and "
       "computed again in the backward (MaxText's num_vocab_tiling)", TRAIN_LIKE, default=1, ge=1, le=4096,
       panel="plan", example=4),
    _o("cuda_graphs", str, "layer parts the framework replays from CUDA graphs, comma-separated: attn, mlp, moe, "
       "moe_router, moe_preprocess, layer (Megatron --cuda-graph-modules); a graphed MoE router pays no per-op host "
       "dispatch on a slow host (Grace). Default: none, every op dispatched from the host", TRAIN_LIKE, panel="plan",
       example="attn,moe_router,moe_preprocess"),
    _o("grad_reduce", str, "dtype gradients are accumulated and reduced in: fp32 (Megatron-LM's bf16 default), bf16 "
       "(grad_reduce_in_fp32 off: half the gradient memory and traffic) or fp16; default: the framework's, fp16 for "
       "--precision fp16", TRAIN_LIKE, choices=("fp32", "bf16", "fp16"), panel="plan", example="bf16"),
    _o("optimizer_state", str, "precision of Adam's state, bytes a parameter: fp32 (fp32 master weights and "
       "moments, 12; Megatron-Core's default), fp32-remainder (the master's low 16 bits beside the bf16 weight, 10; "
       "NeMo 1.x's apex optimizer, Megatron --use-precision-aware-optimizer), bf16-moments (fp32 master, bf16 "
       "moments, 8; DeepSeek-V3), bf16 (bf16 moments and a 2-byte master, 6; apex's optim dtype bf16 with fp8 "
       "weights, Megatron --use-precision-aware-optimizer --exp-avg-dtype bf16 --exp-avg-sq-dtype bf16) or "
       "bf16-no-master (bf16 moments, the bf16 weight updated in place, 4); default: the framework's", TRAIN_LIKE,
       choices=tuple(OPTIMIZER_STATES), panel="plan",
       example="bf16-moments"),
    _o("grad_accumulation_fusion", bool, "the weight-gradient GEMMs add into the fp32 main gradients themselves "
       "(Megatron-Core's default); --no-grad-accumulation-fusion: a backward hook adds each micro-batch's gradients "
       "to them, a pass over every local weight (Megatron --no-gradient-accumulation-fusion, MindSpeed-LLM's 2024 "
       "scripts). Default: the framework's", TRAIN_LIKE, off_flag="--no-grad-accumulation-fusion", panel="plan",
       example=False),
    _o("zero_shard", int, "data-parallel ranks one ZeRO/FSDP shard group spans, e.g. 8 = within a node (hybrid "
       "sharding: HSDP, --num-distributed-optimizer-instances, ZeRO++ hpZ); 0: all of them", TRAIN_LIKE, default=0,
       ge=0, le=10_000_000, unit="devices", panel="plan", example=8),
    _o("top", int, "how many plans to show", ("plan",), default=5, ge=1, le=100, panel="plan", example=2),
    _o("objective", str, "time, cost, or devices (fewest meeting --deadline)", ("plan",), default="time",
       choices=("time", "cost", "devices"), panel="plan", example="cost"),
    _o("deadline", str, "with --objective devices: e.g. 90d, 2000h", ("plan",), unit="seconds", panel="plan",
       example="90d"),
    _o("allow_cross_domain_tp", bool, "let tp*ep span scale-up domains", ("plan",), default=False, panel="plan",
       example=True),
    _o("inter_pool_bandwidth", str, "per-device link between pools, e.g. 100Gbps", ("plan",), unit="bytes_per_s",
       panel="plan", example="100Gbps"),
    # ------------------------------------------------------------------------------------------ reliability
    _o("failure_rate", str, "failures per device-day (default: the chip's catalog rate)", RUN, unit="count",
       panel="reliability", example="0.002"),
    _o("checkpoint_bandwidth", str, "aggregate checkpoint write bandwidth (default: 125 MB/s per device, storage "
       "that grows with the cluster)", RUN, unit="bytes_per_s", panel="reliability", example="1TB/s"),
    _o("async_checkpoint", bool, "checkpoints block only for the device-to-host copy (--sync-checkpoint: for the whole "
       "write; default: as the framework does)", RUN, off_flag="--sync-checkpoint", panel="reliability",
       example=False),
    _o("checkpoint_interval", str, "training time between checkpoints, e.g. 30min (default: optimal)", RUN,
       unit="seconds", panel="reliability", example="30min"),
    _o("restart_time", str, "detection + reschedule + reload, e.g. 5min (overrides --restart-tier)", RUN,
       unit="seconds", panel="reliability", example="5min"),
    _o("restart_tier", str, "manual (2 h), automated (15 min), advanced (3 min), in-memory (45 s)", RUN,
       default="automated", choices=("manual", "automated", "advanced", "in-memory"), panel="reliability",
       example="advanced"),
    _o("spares", int, "spare devices standing by (default: enough; the report gives the P99 need)", RUN, ge=0,
       panel="reliability", example=8),
    _o("trials", int, "Monte Carlo trials for the P10/P50/P90 run time", RUN,
       default={"train": 2000, "compare": 500, "plan": 500}, ge=1, le=20_000, panel="reliability", example=300),
    _o("seed", int, "random seed (Monte Carlo, open-loop arrivals)", RUN + ("inference",), default=0, ge=0,
       le=2**32 - 1, panel="reliability", example=7),
    # ------------------------------------------------------------------------------------------------ cost
    _o("costs", str, "YAML file of cost settings (the flags below override it); usd_per_device_hour and purchase_usd "
       "may map chip ids to prices", RUN, http=False, panel="cost"),
    _o("usd_per_device_hour", str, "rental price in USD per device-hour: one number for every chip, or CHIP=PRICE "
       "per chip (h800=2.1,ascend-910b=1.1; repeat) (default: the chip's catalog price)", RUN + ("inference",),
       many=True, default=[], unit="USD/device-hour", panel="cost", example=["h800=2.5"]),
    _o("ownership", bool, "price owned hardware: depreciation + energy", RUN, default=False, panel="cost",
       example=True),
    _o("purchase_usd", float, "purchase price per device (default: catalog)", RUN, gt=0.0, le=5_000_000.0,
       unit="USD", panel="cost", example=30000.0),
    _o("depreciation_years", float, "straight-line depreciation, years (default 4)", RUN, gt=0.0, le=30.0,
       unit="years", panel="cost", example=5.0),
    _o("residual_fraction", float, "value left after depreciation (default 0.2)", RUN, ge=0.0, lt=1.0,
       unit="fraction", panel="cost", example=0.1),
    _o("power_usd_per_kwh", float, "electricity price (default 0.08)", RUN, gt=0.0, le=10.0, unit="USD/kWh",
       panel="cost", example=0.12),
    _o("pue", float, "site power usage effectiveness (default 1.3)", RUN, gt=1.0, le=5.0, panel="cost",
       example=1.2),
    _o("power_utilisation", float, "fraction of TDP drawn while training (default 0.8)", RUN, gt=0.0, le=1.5,
       unit="fraction", panel="cost", example=0.7),
    # --------------------------------------------------------------------------------------------- serving
    _o("input_len", int, "prompt tokens per request", ("inference",), default=1024, ge=1, le=10_000_000,
       unit="tokens", panel="serving", example=512),
    _o("output_len", int, "generated tokens per request", ("inference",), default=1024, ge=1, le=10_000_000,
       unit="tokens", panel="serving", example=256),
    _o("precision", str, "weights/activations: bf16, fp8, int8, int4 (weight-only), fp4 (default bf16; with --search "
       "each chip's best)", ("inference",), choices=("bf16", "fp16", "fp8", "int8", "int4", "fp4"), panel="serving",
       example="fp8"),
    _o("kv_precision", str, "KV cache: bf16, fp8, int8 (default follows --precision)", ("inference",),
       choices=("bf16", "fp16", "fp8", "int8"), panel="serving", example="fp8"),
    _o("concurrency", int, "closed loop: sequences in flight (default: as many as fit)", ("inference",), ge=1,
       le=10_000_000, panel="serving", example=16),
    _o("request_rate", float, "open loop: Poisson arrivals per second", ("inference",), gt=0.0, lt=1e6,
       unit="requests/s", panel="serving", example=2.0),
    _o("length_range_ratio", float, "each request's lengths drawn between this and 1 times a top whose mean is "
       "--input-len/--output-len, as a random dataset's --random-range-ratio (0: SGLang bench_serving's default; "
       "default 1: every request at the mean)", ("inference",), ge=0.0, le=1.0, unit="fraction", panel="serving",
       example=0.8),
    _o("prefill_devices", int, "disaggregated: devices of the prefill pool", ("inference",), ge=1, le=10_000_000,
       panel="serving", example=2),
    _o("decode_devices", int, "disaggregated: devices of the decode pool", ("inference",), ge=1, le=10_000_000,
       panel="serving", example=2),
    _o("prefill_chip", str, "disaggregated: chip of the prefill pool", ("inference",), catalog_id=True,
       panel="serving", example="h100-sxm"),
    _o("decode_chip", str, "disaggregated: chip of the decode pool", ("inference",), catalog_id=True,
       panel="serving", example="h100-sxm"),
    _o("search", bool, "cheapest configuration per chip meeting --slo-ttft/--slo-tpot", ("inference",),
       default=False, panel="serving", example=True),
    _o("slo_ttft", str, "e.g. 2s", ("inference",), unit="seconds", panel="serving", example="2s"),
    _o("slo_tpot", str, "e.g. 50ms", ("inference",), unit="seconds", panel="serving", example="50ms"),
    _o("engine", str, "serving engine: auto (each chip's vendor's own: trt-llm on NVIDIA, mindie on Ascend, vllm "
       "elsewhere), trt-llm, vllm (vllm-ascend on Ascend), sglang, mindie, lmdeploy, lmdeploy-pytorch or roofline "
       "(ideal); name@release for an older release (vllm@0.10)", ("inference",),
       default="auto",
       catalog_id=True, panel="serving", example="vllm"),
    *(_o(name, kind, text, ("inference", "rl") if name in SPECULATIVE else ("inference",), panel="serving", **kw)
      for name, kind, text, kw in SERVING_ROWS),
    # ------------------------------------------------------------------------------------------------- rl
    *(_rl(name, kind, text, **kw) for name, kind, text, kw in RL_ROWS),
    # ---------------------------------------------------------------------------------------------- fleet
    _fleet("fleet", str, "FLEET.yaml: pools (chip, devices or max, price) and the site (power, PUE); over HTTP the "
           "mapping itself", required=("fleet",), document=True),
    _fleet("workloads", str, "WORKLOADS.yaml: pre-training, fine-tuning and rl runs, services; over HTTP the mapping "
           "itself", required=("fleet",), document=True),
    _fleet("objective", str, "cost (the cheapest meeting every constraint) or makespan (every run done soonest, then "
           "the cheapest)", default="cost", choices=("cost", "makespan"), example="makespan"),
    _fleet("budget_usd", float, "the most the whole plan may cost", gt=0.0, lt=1e15, unit="USD", example=1e6),
    _fleet("horizon", str, "span planned, e.g. 180d (default: the workloads file's; else 180d, or the latest "
           "deadline)", unit="seconds", example="90d"),
    _fleet("baseline", str, "the chip of the single-chip-kind fleet to compare with (default: the cheapest NVIDIA "
           "kind in the fleet)", catalog_id=True, example="a100-sxm-80gb"),
    _fleet("what_if", str, "a variant solved too: 'replace 30% of h800 with ascend-910b', 'add 512 h800', 'remove "
           "25% of h800', 'price ascend-910b 1.2' (repeat for more)", many=True, default=[], example=["price a10g 0.9"]),
    # --------------------------------------------------------------------------------------- other commands
    _o("spec", str, "SPEC.yaml: command, fixed options, grid of lists (docs/sweep.md)", ("sweep",), argument=True,
       required=("sweep",), http=False),
    _o("out", str, "Parquet file, a row per point; points already in it are skipped (resume)", ("sweep",),
       required=("sweep",), http=False, panel="output"),
    _o("ray", str, "run as Ray tasks: auto (a running cluster, else a local one) or ADDRESS (the ray extra)",
       ("sweep",), http=False),
    _o("workers", int, "local processes (default: one per core); with --ray, most tasks at once", ("sweep",), ge=1,
       le=1024, http=False),
    _o("kind", str, "chips, systems, models, frameworks, serving or kernels", ("catalog",), argument=True,
       required=("catalog",), choices=("chips", "systems", "models", "frameworks", "serving", "kernels")),
    _o("kind", str, "chip, model or job: the file to print the JSON Schema of", ("schema",), argument=True,
       required=("schema",), http=False),
    _o("command", str, "with job: the command whose options the file holds (default train)", ("schema",), http=False),
    _o("data", str, "a validation YAML file or folder", ("validate",), http=False),
    _o("role", str, "only runs of this role: main or holdout", ("validate",), choices=("main", "holdout")),
    _o("inference", bool, "serving runs (data/validation/inference) instead", ("validate",), default=False),
    _o("cv", bool, "leave-one-source-out: refit without each source of main runs and predict it (minutes)",
       ("validate",), default=False),
    _o("markdown", bool, "print a Markdown table (for reports)", ("validate",), default=False, panel="output"),
    _o("host", str, "address to listen on", ("web",), default="127.0.0.1"),
    _o("port", int, "port to listen on", ("web",), default=8000, ge=1, le=65535),
    _o("device", str, "device kind: cuda, npu, musa, mlu, xpu or cpu", ("probe",), required=("probe",)),
    _o("out", str, "chip profile YAML to write (its stem names the chip)", ("probe",), required=("probe",),
       http=False),
    _o("quick", bool, "small shapes and few steps (a cpu probe takes seconds)", ("probe",), default=False),
    _o("like", str, "catalog chip whose links, power and price to copy", ("probe",), catalog_id=True),
    _o("kernels", str, "also time the kernel tables (GEMM, grouped GEMM, attention, memory-bound): FILE.csv every "
       "row, FILE.yaml a kernel table a chip profile can name (efficiency: {kernels: FILE.yaml})", ("probe",),
       http=False),
    # ---------------------------------------------------------------------------------------------- output
    _o("plot", str, "with a --devices range: write tokens/s and MFU vs devices to this HTML file", ("plan",),
       http=False, panel="output"),
    _o("plot", str, "write a Gantt chart by pool and the cost bars to this HTML file", ("fleet",), http=False,
       panel="output"),
    _o("out", str, "Markdown page to write; the plots go beside it (same name, .html)", ("scenarios",),
       default="docs/scenarios.md", http=False, panel="output"),
    _o("json", bool, "print the result as JSON", ("train", "compare", "plan", "inference", "rl", "fleet", "catalog",
       "validate", "sweep", "scenarios"), default=False, http=False, panel="output"),
)

RUN_OPTION_NAMES = tuple(o.name for o in OPTIONS if o.panel in ("reliability", "cost") and "train" in o.commands)
"""the reliability and cost options of a run (parsed into ``training.RunOptions``)"""


def options(command: str, http: bool = False) -> list[Option]:
    """The options of one command, in table order (only those the HTTP API takes when ``http``)."""
    if command not in COMMANDS:
        raise KeyError(command)
    return [o for o in OPTIONS if command in o.commands and (o.http or not http)]


def defaults(command: str, http: bool = False) -> dict[str, Any]:
    """Every option of a command at its default (lists copied)."""
    return {o.name: list(o.default_for(command)) if o.many and o.default_for(command) is not None
            else o.default_for(command) for o in options(command, http)}


from .export import export_rows  # noqa: E402  (export's rows: its own and train's, inference's serving ones)
from .jobs import shared_rows  # noqa: E402  (--config on every command, --csv/--parquet on those with rows)
OPTIONS = OPTIONS + export_rows(OPTIONS) + shared_rows(COMMANDS)
from .build import request_body, typer_command  # noqa: E402, F401  (the faces' builders, generated from the table)
from .check import check  # noqa: E402, F401  (values against the table)
