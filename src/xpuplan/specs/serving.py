"""Serving facts: number formats an engine runs weights and KV cache in, a serving engine's profile (kernels and
scheduler), and speculative decoding."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import BadInput
from ..units import parse_quantity

WEIGHT_FORMATS = {  # precision -> (bytes per weight, peak used for the GEMMs, chip peak that must exist or None)
    "bf16": (2.0, "bf16", None),
    "fp16": (2.0, "fp16", None),
    "fp8": (1.0, "fp8", "fp8"),
    "int8": (1.0, "int8", "int8"),
    "int4": (0.5, "bf16", None),   # weight-only (W4A16): dequantised in the kernel, bf16 math
    "fp4": (0.5, "fp4", "fp4"),
    "w4a16": (0.5, "bf16", None),  # 4-bit weights (int4, MXFP4, NVFP4) on a chip without 4-bit math: dequantised, bf16
    "w8a16": (1.0, "bf16", None),  # 8-bit weights (fp8, int8) on a chip without that math: dequantised, bf16 math
}
WEIGHT_ONLY = {0.5: "w4a16", 1.0: "w8a16"}
"""the weight-only format an engine runs a quantised checkpoint in where the chip has no math for its format (vLLM's
Marlin kernels: FP8 and MXFP4 checkpoints on Ampere and Hopper; LMDeploy/TGI W4A16), by bytes per weight"""
FOUR_BIT_FORMAT = {"fp4": "nvfp4", "w4a16": "nvfp4", "int4": "int4-g128"}
"""the block format (``specs.model.QUANT_FORMATS``) a 4-bit precision stores its weights in unless the model names its
own (``Model.quant_format``): an FP4 checkpoint NVFP4 (NVIDIA's Blackwell checkpoints, MLPerf's), also where a chip
without FP4 math runs it weight-only (``w4a16``); weight-only int4 AWQ/GPTQ's group of 128"""
KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}
"""bytes per cached key/value element by KV-cache precision"""
SEARCH_PRECISIONS = ("fp8", "bf16")
"""precisions ``inference --search`` tries per chip, best first: FP8 where the chip has FP8 math (what engines serve
with on Hopper, Blackwell, MI300), else bf16. FP4 and W8A8 change accuracy enough that we only take them when asked."""
HOST_COSTS = ("eager_launch_s", "iteration_overhead_s", "sequence_overhead_s", "request_overhead_s", "stream_token_s")
"""an engine's costs paid in host (CPU) time, in seconds: they scale with the chip's ``host_time_scale``"""
ENGINE_ALIASES = {"trtllm": "trt-llm", "tensorrt-llm": "trt-llm"}
"""other spellings of catalog engine ids"""
AUTO_ENGINE = "auto"
"""``--engine auto`` (the default): each chip gets its vendor's own serving engine (``VENDOR_ENGINES``)"""
VENDOR_ENGINES = {"NVIDIA": "trt-llm", "Huawei": "mindie"}
"""the engine a vendor ships for its devices (TensorRT-LLM, MindIE); every other vendor: vllm, which every accelerator in
the catalog runs through its plugins or the vendor's fork"""


VENDOR_PLUGINS = {("vllm", "Huawei"): "vllm-ascend", ("sglang", "Huawei"): "sglang-ascend"}
"""the build of an engine that a vendor's devices run, where its defaults differ (vLLM on Ascend is the vllm-ascend
plugin, SGLang there runs its NPU defaults): ``--engine vllm`` (the current release) means that profile on those
chips"""


def engine_name_for(chip, name: str) -> str:
    """The engine profile ``name`` means on ``chip``: ``auto`` is the chip vendor's own; an engine with a vendor
    plugin of its own defaults (``VENDOR_PLUGINS``) is that plugin there."""
    name = ENGINE_ALIASES.get(name, name)
    if name == AUTO_ENGINE:
        return VENDOR_ENGINES.get(chip.vendor, "vllm")
    return VENDOR_PLUGINS.get((name, chip.vendor), name)


SPECULATIVE_METHODS = ("mtp", "eagle", "draft")


@dataclass(frozen=True, kw_only=True, slots=True)
class Speculative:
    """Speculative decoding: a cheap drafter proposes ``draft_tokens`` tokens, the target verifies them in one pass.

    Expected tokens per decode iteration with per-token acceptance a and k drafts (Leviathan et al. 2023,
    arXiv 2211.17192, eq. 1): tau = (1 - a^(k+1)) / (1 - a)."""

    method: str
    """mtp (the model's own multi-token-prediction layers, DeepSeek-V3), eagle (a one-layer draft head) or draft
    (a separate small model)"""
    accept_rate: float = 0.8
    """probability that each drafted token is accepted, given the ones before it were"""
    draft_tokens: int = 1
    """tokens drafted per decode iteration (k)"""

    def __post_init__(self) -> None:
        if self.method not in SPECULATIVE_METHODS:
            raise BadInput(f"--speculative must be one of {', '.join(SPECULATIVE_METHODS)}, got {self.method!r}",
                           "speculative")
        if not 0 <= self.accept_rate < 1:
            raise BadInput(f"--accept-rate must be in [0, 1), got {self.accept_rate}", "accept_rate")
        if not 1 <= self.draft_tokens <= 16:
            raise BadInput(f"--draft-tokens must be 1 to 16, got {self.draft_tokens}", "draft_tokens")

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens a sequence gains per decode iteration, tau."""
        a, k = self.accept_rate, self.draft_tokens
        return (1 - a ** (k + 1)) / (1 - a)

    @classmethod
    def from_tokens_per_step(cls, method: str, draft_tokens: int, tokens_per_step: float) -> "Speculative":
        """The per-token acceptance whose tau is a published mean acceptance length (vLLM's "mean acceptance
        length", TensorRT-LLM's "acceptance rate" in tokens per step): tau rises from 1 to k + 1 as a goes 0 -> 1."""
        k = int(draft_tokens)
        if not 1 <= tokens_per_step < k + 1:
            raise BadInput(f"tokens_per_step must be in [1, {k + 1}) with {k} draft tokens, got {tokens_per_step}",
                           "tokens_per_step")
        lo, hi = 0.0, 1.0
        for _ in range(60):  # bisection: tau is increasing in a
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if (1 - mid ** (k + 1)) / (1 - mid) < tokens_per_step else (lo, mid)
        return cls(method=method, accept_rate=lo, draft_tokens=k)


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeEngine:
    """A serving engine's profile (data in catalog/serving): which kernels it runs, what it costs outside them, and how
    its scheduler forms each iteration. No efficiency is fitted: kernel speeds are the chip's (its kernel table)."""

    name: str
    """catalog id"""
    display_name: str = ""
    """human name"""
    version: str = ""
    """release the scheduler defaults are read from"""
    covers: tuple[str, ...] = ()
    """other releases this profile describes (``--engine vllm@0.11`` finds the ``vllm@0.10`` profile that covers it)"""
    attention_kernel: str = "flash2"
    """the attention kernel kind it runs, priced at the chip's kernel-table figure for that kind (cudnn: the
    FlashAttention-3 class fused kernels of Hopper; flash2; aiter on MI300; any kind the table lacks gets the chip's
    reference attention)"""
    moe_kernel: str = "grouped"
    """how it runs a MoE layer's routed experts: ``fused_moe`` (vLLM's Triton fused MoE kernel, SGLang's copy of it),
    priced from the chip's timed rows of that kernel where its table has them; ``grouped``: a grouped GEMM"""
    max_batched_tokens: int = 8192
    """token budget of one iteration (decode tokens first, then prefill chunks): vLLM max_num_batched_tokens,
    SGLang chunked_prefill_size, TensorRT-LLM max_num_tokens, MindIE maxPrefillTokens"""
    max_batch: int = 1024
    """most sequences running at once (max_num_seqs, max_running_requests, max_batch_size)"""
    chunked_prefill: bool = True
    """a prompt may be split across iterations to fill the token budget (vLLM V1, SGLang, LMDeploy TurboMind); False:
    each prompt is prefilled whole in one iteration, prompts packed only while they fit the budget whole, one alone
    when it is larger (TensorRT-LLM's ``enable_chunked_prefill`` False, vLLM 0.2)"""
    mixed_batches: bool = True
    """an iteration carries prompts and decoding sequences together; False: an iteration prefills the waiting prompts
    alone and the running sequences decode only when no prompt waits (vLLM 0.2-0.3's scheduler: a prompt run, or a
    decode run)"""
    max_batch_chips: tuple[tuple[str, int], ...] = ()
    """``max_batch`` on the catalog chips whose id contains a key (a mapping in the file: LMDeploy's
    get_max_batch_size by device name)"""
    small_device_bytes: float | None = None
    """devices with less memory than this (or named in ``small_device_names``) take the ``small_device_*`` values
    instead (vLLM picks its defaults by device: 70 GiB; SGLang: 60 GiB); None: no such tier"""
    small_device_names: tuple[str, ...] = ()
    """catalog chip ids containing one of these take the small-device defaults whatever their memory (vLLM: "a100")"""
    small_device_batched_tokens: int | None = None
    """``max_batched_tokens`` on a small device"""
    small_device_batch: int | None = None
    """``max_batch`` on a small device"""
    large_device_bytes: float | None = None
    """devices with at least this much memory take the ``large_device_*`` values (vLLM from 0.28 and SGLang: 160 GiB,
    the B200/B300 and MI300X class); None: no such tier"""
    large_device_batched_tokens: int | None = None
    """``max_batched_tokens`` on a large device"""
    large_device_batch: int | None = None
    """``max_batch`` on a large device"""
    reserve_bytes: float | None = None
    """device memory the engine keeps out of weights and KV cache by its own rule (SGLang's reserved_mem: activations,
    graph buffers, runtime), in place of the runtime reserve and one prefill chunk's activations; None: those"""
    small_device_reserve_bytes: float | None = None
    """``reserve_bytes`` on a small device"""
    large_device_reserve_bytes: float | None = None
    """``reserve_bytes`` on a large device"""
    graph_max_batch: int = 1 << 20
    """largest decode batch replayed as a captured graph (CUDA graph; 0: none); larger batches and iterations carrying
    prefill launch their kernels from the host"""
    graph_max_batch_chips: tuple[tuple[str, int], ...] = ()
    """``graph_max_batch`` on the catalog chips whose id contains a key (a mapping in the file: vLLM 0.28 on
    captures up to 1,024 on Blackwell's compute-capability-10 family: b200, gb200, b300, gb300)"""
    eager_launch_s: float = 0.0
    """host time to launch one op outside a graph, seconds: a floor under an eager iteration with
    ``cost.launches.eager_kernels`` ops (a compiled launcher's CUDA latency, or a Python model's op dispatch)"""
    iteration_overhead_s: float = 0.0
    """host time per iteration not hidden behind the device (scheduling, sampling), seconds"""
    sequence_overhead_s: float = 0.0
    """host time per sequence an iteration carries, seconds: the engine's scheduler and input/output work for each
    running sequence (vLLM V1's scheduler; vLLM 0.2.7's whole Python loop, streaming included); 0 where that work is
    vectorised away (SGLang, TensorRT-LLM)"""
    fp8_attention: bool = True
    """with an FP8 KV cache, attention's matmuls run in FP8 (vLLM's FlashAttention-3 quantizes the queries to FP8 too;
    TensorRT-LLM's builder turns its FP8 context FMHA on with an FP8 cache); False: an engine that dequantizes its FP8
    cache and computes in 16 bits. With a 16-bit cache every engine runs 16-bit attention, whatever the weights'
    format"""
    async_scheduling: bool = False
    """the scheduler runs a step ahead (vLLM ``--async-scheduling``, its default from 0.14 on its uni and mp
    executors): an iteration takes the longer of its device time and its sequences' host work, not their sum"""
    late_first_token: bool = False
    """the scheduler processes an iteration's outputs only after launching the next one (an overlap scheduler), so
    each token, the first included, reaches the client one iteration after the iteration that made it: TTFT and a
    request's end one iteration later, TPOT unchanged (SGLang's overlap scheduler, on by default since PR 2067, whose
    fix for the first token, PR 25772, was closed unmerged; TensorRT-LLM's PyTorch executor with its overlap
    scheduler, on by default)"""
    request_overhead_s: float = 0.0
    """fixed time a request spends outside the device before its first token (HTTP, tokeniser, admission), seconds"""
    stream_token_s: float = 0.0
    """host time the front end (the API server process: detokenising, building and sending each streamed chunk)
    spends per output token, seconds; one serial process per replica, so a replica streams at most 1 /
    ``stream_token_s`` tokens per second; 0: no front end (an offline harness)"""
    mxfp4_layout: tuple[int, int, int] = (1, 1, 0)
    """how a checkpoint's MXFP4 experts (``Model.quant_format``) sit in device memory under this engine on this chip:
    (multiple the expert's intermediate width is padded to, multiple its hidden width is padded to, extra copies of the
    block scales kept), the kernel reading the padded matrices; (1, 1, 0): as the checkpoint stores them. Set per chip
    by ``mxfp4_layout_chips`` (:meth:`for_chip`)"""
    mxfp4_layout_chips: tuple[tuple[str, tuple[int, int, int]], ...] = ()
    """``mxfp4_layout`` on the catalog chips whose id contains a key (a mapping in the file: vLLM picks its MXFP4 MoE
    backend by compute capability: Marlin on Ampere and Ada, Triton or Marlin on Hopper, FlashInfer on Blackwell)"""
    runtime_bytes: float | None = None
    """device memory besides weights and activations that the engine's own accounting keeps out of its KV cache, on
    a replica of one device (vLLM V1: the non-torch memory its profile measures, NCCL and all-reduce buffers; the CUDA
    context lies outside its budget from 0.9.1); None: the chip's runtime reserve (``Efficiency.reserve_bytes``)"""
    runtime_tp_bytes: float | None = None
    """``runtime_bytes`` for a replica over several devices (communicators and all-reduce buffers grow with them)"""
    sampler_bytes_per_logit: float = 0.0
    """bytes per (sequence x vocabulary entry) the engine's memory profile holds at its dummy sampler run, over
    min(``max_batch``, ``max_batched_tokens``) rows of the whole vocabulary on every tensor-parallel rank (vLLM V1 sizes
    its KV cache after a profile that samples that many rows with top-k and top-p on; the peak depends on the path the
    release takes: a sort, FlashInfer, or a Triton kernel); the profile holds back the larger of this and the forward's
    activations; 0: no sampler in the profile"""
    memory_utilization: float = 1.0
    """share of each device the engine may fill with weights, activations and KV cache (vLLM
    ``gpu_memory_utilization``); 1: all of it"""
    kv_free_fraction: float = 1.0
    """share of the memory the weights and activations leave that becomes KV cache (TensorRT-LLM
    ``free_gpu_memory_fraction``, LMDeploy ``cache_max_entry_count``); 1: all of it"""
    speculative: Speculative | None = None
    """speculative decoding, when asked for (``--speculative``)"""
    sources: tuple[str, ...] = ()
    """where the figures come from"""
    scheduler_sources: tuple[str, ...] = ()
    """where the scheduler defaults (token budget, max batch, graph sizes) come from: file or URL of the release"""
    vendors: tuple[str, ...] = ()
    """chip vendors (a chip's ``vendor``) whose devices the engine runs on, from its own platform list; empty: any
    (vLLM, whose vendor plugins and forks cover every accelerator in the catalog)"""
    elsewhere: str = ""
    """the catalog profile of the same project that runs on other vendors' devices (LMDeploy's PyTorch engine, where
    TurboMind does not run), named when this one is refused"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "scheduler_sources", tuple(str(s) for s in self.scheduler_sources or ()))
        object.__setattr__(self, "vendors", tuple(str(v) for v in self.vendors or ()))
        object.__setattr__(self, "small_device_names", tuple(str(v) for v in self.small_device_names or ()))
        object.__setattr__(self, "covers", tuple(str(v) for v in self.covers or ()))
        for key in ("async_scheduling", "fp8_attention", "late_first_token"):
            if not isinstance(getattr(self, key), bool):
                raise BadInput(f"serving/{self.name}.yaml: {key} must be true or false", key)
        for key in ("small_device_bytes", "large_device_bytes", "reserve_bytes", "small_device_reserve_bytes",
                    "large_device_reserve_bytes", "runtime_bytes", "runtime_tp_bytes"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, parse_quantity(getattr(self, key), "bytes"))
        for key in ("graph_max_batch_chips", "max_batch_chips"):
            pairs = getattr(self, key) or ()
            if isinstance(pairs, dict):
                pairs = tuple(pairs.items())
            if not all(isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in pairs):
                raise BadInput(f"serving/{self.name}.yaml: {key} must map chip ids to batch sizes", key)
            object.__setattr__(self, key, tuple((str(k), v) for k, v in pairs))
        layouts = self.mxfp4_layout_chips or ()
        if isinstance(layouts, dict):
            layouts = tuple(layouts.items())
        checked = []
        for key, value in layouts:
            if not (isinstance(value, (tuple, list)) and len(value) == 3 and all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value) and value[0] >= 1
                    and value[1] >= 1 and value[2] >= 0):
                raise BadInput(f"serving/{self.name}.yaml: mxfp4_layout_chips.{key} must be [intermediate multiple >= 1, "
                               f"hidden multiple >= 1, scale copies >= 0], got {value!r}", "mxfp4_layout_chips")
            checked.append((str(key), tuple(value)))
        object.__setattr__(self, "mxfp4_layout_chips", tuple(checked))
        object.__setattr__(self, "mxfp4_layout", tuple(self.mxfp4_layout))
        if self.moe_kernel not in ("fused_moe", "grouped"):
            raise BadInput(f"serving/{self.name}.yaml: moe_kernel must be fused_moe or grouped, got "
                           f"{self.moe_kernel!r}", "moe_kernel")
        sampler = self.sampler_bytes_per_logit
        if isinstance(sampler, bool) or not isinstance(sampler, (int, float)) or not 0 <= sampler < 1000:
            raise BadInput(f"serving/{self.name}.yaml: sampler_bytes_per_logit must be bytes in [0, 1000), got "
                           f"{sampler!r}", "sampler_bytes_per_logit")
        for key in ("memory_utilization", "kv_free_fraction"):
            if not 0 < getattr(self, key) <= 1:
                raise BadInput(f"serving/{self.name}.yaml: {key} must be in (0, 1]", key)
        graphs = self.graph_max_batch
        if isinstance(graphs, bool) or not isinstance(graphs, int) or graphs < 0:
            raise BadInput(f"serving/{self.name}.yaml: graph_max_batch must be a whole number >= 0 (0: no graphs), got "
                           f"{self.graph_max_batch!r}", "graph_max_batch")
        counts = [(key, getattr(self, key)) for key in ("max_batched_tokens", "max_batch")]
        counts += [(key, getattr(self, key)) for key in ("small_device_batched_tokens", "small_device_batch",
                                                          "large_device_batched_tokens", "large_device_batch")
                   if getattr(self, key) is not None]
        counts += [(f"max_batch_chips.{k}", v) for k, v in self.max_batch_chips]
        counts += [(f"graph_max_batch_chips.{k}", v) for k, v in self.graph_max_batch_chips if v != 0]
        for key, value in counts:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadInput(f"serving/{self.name}.yaml: {key} must be a whole number >= 1, got {value!r}", key)
        for key in HOST_COSTS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 10:
                raise BadInput(f"serving/{self.name}.yaml: {key} must be seconds in [0, 10), got {value!r}", key)

    def for_chip(self, chip) -> "ServeEngine":
        """The profile with the defaults the engine picks on ``chip`` (its small- or large-device token budget and
        batch where the chip is one by the engine's rule, its captured graph sizes there), its host costs at the
        chip's host speed (``Chip.host_time_scale``: measured on x86 server hosts, longer on a Grace)."""
        engine, scale = self, chip.host_time_factor
        if scale != 1.0:
            engine = dataclasses.replace(engine, **{key: getattr(engine, key) * scale for key in HOST_COSTS})
        by_name = {key: max(values) for key, pairs in (("graph_max_batch", self.graph_max_batch_chips),
                                                       ("max_batch", self.max_batch_chips))
                   if (values := [v for k, v in pairs if k in chip.name])}
        layout = [v for k, v in self.mxfp4_layout_chips if k in chip.name]
        if layout:
            by_name["mxfp4_layout"] = layout[0]
        if by_name:
            engine = dataclasses.replace(engine, **by_name)
        small = self.small_device_bytes is not None and (
            chip.hbm_bytes < self.small_device_bytes or any(n in chip.name for n in self.small_device_names))
        large = not small and self.large_device_bytes is not None and chip.hbm_bytes >= self.large_device_bytes
        if not (small or large):
            return engine
        tier = "small_device_" if small else "large_device_"
        return dataclasses.replace(  # the tier's own value where it sets one
            engine, max_batch=getattr(self, tier + "batch") or engine.max_batch,
            max_batched_tokens=getattr(self, tier + "batched_tokens") or self.max_batched_tokens,
            reserve_bytes=getattr(self, tier + "reserve_bytes") or self.reserve_bytes)

    def check_runs_on(self, chip) -> None:
        """Refuse, in one line, a chip whose vendor the engine does not run on."""
        if self.vendors and chip.vendor not in self.vendors:
            other = f"--engine {self.elsewhere} or " if self.elsewhere else ""
            raise BadInput(f"engine {self.name} runs on {', '.join(self.vendors)} devices, not {chip.name} "
                           f"({chip.vendor}); use {other}--engine vllm (vendor plugins for every accelerator)"
                           + (" or mindie" if chip.vendor == "Huawei" else ""), "engine")

    def offline(self) -> "ServeEngine":
        """The profile without its HTTP front end (an offline harness: trtllm-bench, MLPerf's LoadGen, the Python
        ``LLM`` API): no per-request server time and no streaming cost."""
        return dataclasses.replace(self, request_overhead_s=0.0, stream_token_s=0.0)

    @property
    def tokens_per_step(self) -> float:
        """Tokens a decoding sequence gains per iteration (1 without speculative decoding)."""
        return self.speculative.tokens_per_step if self.speculative else 1.0

    @property
    def verify_tokens(self) -> int:
        """Tokens per decoding sequence the target model runs per iteration (1 + drafts)."""
        return 1 + (self.speculative.draft_tokens if self.speculative else 0)


ROOFLINE = ServeEngine(name="roofline", display_name="every kernel at the chip's calibrated roofline")
"""the ideal engine: an upper bound, and the profile of a ServePlan that names none"""
