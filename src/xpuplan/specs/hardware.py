"""Hardware facts: a chip, its achievable fractions (efficiency) and the systems built from it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadInput
from ..units import format_bytes, format_si

HOST_LINK_BYTES_PER_S = 25e9
"""device -> host copy rate when the chip file gives none: PCIe Gen5 x16 (64 GB/s) at about 40% achieved by pinned
copies beside training traffic"""
DTYPES = ("bf16", "fp16", "fp8", "int8", "fp4")
CONFIDENCES = ("high", "medium", "low")
FIGURE_CONFIDENCES = CONFIDENCES + ("user",)
"""a figure's confidence: a vendor number (high), reputable press (medium), an estimate or rumour (low, its reasoning
in the chip file), or set for this run by ``--override`` (user)"""
STEP_FIGURES = ("hbm.capacity", "hbm.bandwidth", "scale_up.bandwidth", "scale_up.domain", "scale_out.bandwidth")
"""the figures besides the compute peak that every step estimate rests on"""
FIGURES = {  # chip-file key -> (Chip attribute, unit kind of units.parse_quantity, unit label)
    "hbm.capacity": ("hbm_bytes", "bytes", "bytes"),
    "hbm.bandwidth": ("hbm_bytes_per_s", "bytes_per_s", "bytes/s"),
    "scale_up.bandwidth": ("scale_up_bytes_per_s", "bytes_per_s", "bytes/s"),
    "scale_up.domain": ("scale_up_domain", "count", "devices"),
    "scale_out.bandwidth": ("scale_out_bytes_per_s", "bytes_per_s", "bytes/s"),
    "host_link.bandwidth": ("host_link_bytes_per_s", "bytes_per_s", "bytes/s"),
    "host_cpu.time_scale": ("host_time_scale", "count", "x an x86 server host's time"),
    "tdp": ("tdp_watts", "watts", "W"),
    "price.purchase_usd": ("purchase_usd", "count", "USD"),
    "price.usd_per_hour": ("usd_per_hour", "count", "USD/device-hour"),
    "failures_per_device_day": ("failures_per_device_day", "count", "failures/device-day"),
    "domain_failures_per_day": ("domain_failures_per_day", "count", "failures/domain-day"),
}
"""every numeric chip figure besides the peaks (``peak_flops.<dtype>``, FLOP/s), by its chip-file key"""
SCALE_UP_TOPOLOGIES = ("switch", "full_mesh")


def figure_text(key: str, value: float) -> str:
    """A figure in a human unit: ``figure_text("scale_out.bandwidth", 1e11)`` -> '100 GB/s'."""
    if key.startswith("peak_flops."):
        return format_si(value, "FLOP/s")
    unit = FIGURES[key][2]
    if unit == "bytes":
        return format_bytes(value)
    return format_si(value, "B/s") if unit == "bytes/s" else f"{value:g} {unit}"


def _positive(owner: str, **values: float | int | None) -> None:
    for name, value in values.items():
        if value is not None and not value > 0:
            raise BadInput(f"{owner}: {name} must be > 0, got {value}", name)


@dataclass(frozen=True, kw_only=True, slots=True)
class Efficiency:
    """Achievable fractions of a chip's peaks; calibrated data, not datasheet facts.

    GEMM efficiency follows a saturating curve in the GEMM's size:
    ``eff(f) = gemm_max * f / (f + gemm_half_flops)``, so small GEMMs run
    further below peak than large ones.
    """

    gemm_max: float = 0.80
    """fraction of the dense peak a large bf16/fp16 GEMM reaches"""
    gemm_fp8_max: float = 0.65
    """fraction of the fp8 peak a large fp8 GEMM reaches"""
    gemm_half_flops: float = 2.0e9
    """GEMM size (FLOPs of one call) at which efficiency is half of its maximum"""
    gemm_fp8_half_flops: float | None = None
    """the same for fp8 GEMMs (at twice the rate, a fixed per-call latency costs twice the FLOPs); None: as bf16"""
    gemm_fp4_max: float | None = None
    """fraction of the fp4 peak a large fp4 (NVFP4/MXFP4) GEMM reaches, from a kernel table; None: the fp8 curve"""
    gemm_fp4_half_flops: float | None = None
    """GEMM size at which an fp4 GEMM reaches half of ``gemm_fp4_max``; None: the fp8 curve's"""
    attention_fwd: float = 0.55
    """fraction of the bf16 peak a flash-style attention forward reaches at long sequences"""
    attention_bwd: float = 0.45
    """same for the attention backward"""
    attention_block_tokens: float = 256.0
    """query tokens at which a flash-style kernel reaches half of ``attention_fwd``: its efficiency at s queries
    per call is ``attention_fwd * s / (s + attention_block_tokens)``, short blocks leaving the device's tiles
    part-empty (FlashAttention-2's forward tiles are 128-256 queries; Dao 2023, arXiv 2307.08691 §3.3)"""
    attention_kernels: tuple[tuple[str, float, float], ...] = ()
    """(kind, forward, backward) efficiencies of each attention kernel kind a kernel table measured (cudnn, flash2,
    flash3, mem_efficient, ...); a framework that names its kind gets these, any other the reference pair above"""
    kernel_table: str = ""
    """the kernel table (catalog/kernels/<name>.yaml) the GEMM curve and attention figures come from ("" when they
    are priors or end-to-end calibrated)"""
    hbm: float = 0.80
    """fraction of the HBM bandwidth streaming kernels reach (STREAM-like copies; weights read by small GEMMs)"""
    hbm_fp4: float | None = None
    """fraction of the HBM bandwidth at which fp4 GEMMs read their packed weights at decode batches (the fp4 GEMV
    kernels measured stream far below a bf16 GEMV), from a kernel table; None: ``hbm``"""
    hbm_elementwise: float | None = None
    """fraction of the HBM bandwidth a layer's fused element-wise kernels reach (norms, residual adds, activation),
    from the kernel table's memory rows; None: ``hbm``. Norm kernels read and reduce along rows and reach less than
    a plain copy (0.51-0.56 of the H200's 4.8 TB/s against 0.85 for STREAM triad)"""
    hbm_optimizer: float | None = None
    """fraction of the HBM bandwidth the fused Adam step reaches, from the kernel table; None: ``hbm``"""
    grouped_gemm_max: float | None = None
    """fraction of the dense peak a grouped GEMM (a MoE layer's experts in one kernel) reaches at large groups, from
    the kernel table's grouped rows; None: ``gemm_max``"""
    grouped_gemm_half_flops: float | None = None
    """one group's FLOPs at which a grouped GEMM reaches half of ``grouped_gemm_max``; None: ``gemm_half_flops``"""
    hbm_grouped: float | None = None
    """fraction of the HBM bandwidth a grouped GEMM reads its experts' weights at with few tokens a group (decode);
    None: ``hbm``"""
    fused_moe: tuple[tuple[str, float, float, tuple[tuple[float, float, float, float, float, float], ...]], ...] = ()
    """the fused MoE kernel engines serve with, timed (the kernel table's ``fused_moe`` rows): per weight dtype (dtype,
    HBM bytes/s and peak FLOP/s of the timing device, rows of (experts, n, k, top_k, tokens, seconds)), to which
    :func:`xpuplan.cost.fused_moe.figures` fits the kernel; a dtype not listed keeps grouped GEMMs"""
    hbm_gather: float = 0.77
    """fraction of the HBM bandwidth a row gather (token permutation, ``index_select``) reaches: 3.68 of the H200's
    4.8 TB/s (benchmarks/results/probe-h200.md)"""
    hbm_scatter_add: float = 0.054
    """fraction of the HBM bandwidth an eager bf16 scatter-add of expert outputs back to their tokens (``index_add_``,
    atomics) reaches: fitted to the H200's MoE-layer phases (probe-h200.md)"""
    moe_layer_fixed_s: float = 2.65e-4
    """seconds one MoE layer spends per micro-batch and direction outside its GEMMs and its bytes: router softmax and
    top-k, the sort by expert, the device-to-host sync of per-expert token counts, and their launch gaps; fitted with
    ``hbm_scatter_add`` to the H200's MoE-layer phases (five shapes, PyTorch eager; probe-h200.md)"""
    scale_up: float = 0.75
    """fraction of the scale-up link bandwidth collectives reach (bus bandwidth)"""
    scale_out: float = 0.80
    """fraction of the NIC bandwidth collectives reach across domains"""
    scale_up_latency_s: float = 5e-6
    """latency of one collective step inside the scale-up domain, seconds"""
    scale_out_latency_s: float = 15e-6
    """latency of one collective step across the scale-out network, seconds"""
    kernel_overhead_s: float = 4e-6
    """launch and synchronisation cost per kernel not hidden by the framework, seconds"""
    reserve_bytes: float = 3 * 2**30
    """device memory taken by the runtime, communication buffers and fragmentation, bytes"""
    source: str = "xpuplan generic defaults (docs/model.md)"
    """where these fractions come from"""

    @property
    def elementwise_hbm(self) -> float:
        """The fraction element-wise layer work is priced at."""
        return self.hbm if self.hbm_elementwise is None else self.hbm_elementwise

    @property
    def optimizer_hbm(self) -> float:
        """The fraction the optimizer step is priced at."""
        return self.hbm if self.hbm_optimizer is None else self.hbm_optimizer

    def fused_moe_for(self, dtype: str) -> tuple | None:
        """(HBM bytes/s, peak FLOP/s, rows) of the fused MoE kernel's timings in weight dtype ``dtype``, or None."""
        for name, *timed in self.fused_moe:
            if name == dtype:
                return tuple(timed)
        return None

    def attention(self, kind: str) -> tuple[float, float]:
        """(forward, backward) efficiency of attention kernel ``kind`` on this chip: the kernel table's figure
        where it measured that kind, else the reference pair (``attention_fwd``, ``attention_bwd``)."""
        for name, fwd, bwd in self.attention_kernels:
            if name == kind:
                return fwd, bwd
        return self.attention_fwd, self.attention_bwd

    def __post_init__(self) -> None:
        for name in ("gemm_max", "gemm_fp8_max", "gemm_fp4_max", "attention_fwd", "attention_bwd", "hbm", "scale_up",
                     "scale_out", "hbm_fp4", "hbm_elementwise", "hbm_optimizer", "hbm_gather", "hbm_scatter_add",
                     "grouped_gemm_max", "hbm_grouped"):
            value = getattr(self, name)
            if value is None:
                continue
            if not 0 < value <= 1:
                raise BadInput(f"efficiency: {name} must be a fraction in (0, 1], got {value}", name)
        _positive("efficiency", gemm_half_flops=self.gemm_half_flops, attention_block_tokens=self.attention_block_tokens)


@dataclass(frozen=True, kw_only=True, slots=True)
class Chip:
    """One accelerator as the cost model sees it (per device, dense, per direction)."""

    name: str
    """catalog id, e.g. ``h100-sxm``"""
    vendor: str = "unknown"
    """maker"""
    display_name: str = ""
    """human name"""
    peak_flops_per_s: dict[str, float | None] = field(default_factory=dict)
    """dense peak FLOP/s by dtype (bf16, fp16, fp8, int8, fp4); None = has it, figure unknown"""
    hbm_bytes: float | None = None
    """device memory capacity, bytes"""
    hbm_bytes_per_s: float | None = None
    """device memory bandwidth, bytes/s"""
    scale_up_name: str = ""
    """name of the scale-up link (NVLink 4, HCCS, ICI, ...)"""
    scale_up_bytes_per_s: float | None = None
    """scale-up bandwidth per device, per direction, bytes/s"""
    scale_up_domain: int = 1
    """devices in one scale-up domain (8 for an HGX node, 72 for NVL72)"""
    scale_up_topology: str = "switch"
    """how the domain is wired: ``switch`` (any group gets the full scale-up bandwidth, as through NVSwitch)
    or ``full_mesh`` (one direct link to each of the other ``domain - 1`` devices, so a group of k members
    of one domain reaches only k - 1 of them: HCCS on Atlas 800T A2, xGMI on MI300X, Gaudi's RoCE ports)"""
    scale_out_bytes_per_s: float | None = None
    """scale-out (NIC) bandwidth per device, per direction, bytes/s"""
    host_link_bytes_per_s: float | None = None
    """device <-> host memory bandwidth per direction, bytes/s (PCIe, or NVLink-C2C to a Grace CPU); None: the
    ``HOST_LINK_BYTES_PER_S`` stand-in"""
    host_time_scale: float | None = None
    """how long host (CPU) work takes on this device's host against the x86 server hosts (Xeon, EPYC) that the
    serving engines' host costs were measured on: None for those (1x); more for a slower host (Grace, whose torch op
    dispatch takes 2.75x a Xeon's)"""
    tdp_watts: float | None = None
    """board power, watts"""
    purchase_usd: float | None = None
    """purchase price per device, USD"""
    usd_per_hour: float | None = None
    """rental price per device-hour, USD"""
    failures_per_device_day: float | None = None
    """failure rate per device per day"""
    domain_failures_per_day: float | None = None
    """failures that take a whole scale-up domain down (rack, supernode), per domain per day"""
    confidence: str = "low"
    """overall confidence in the figures: high | medium | low"""
    field_confidence: dict[str, str] = field(default_factory=dict)
    """confidence of single fields that differ from the overall one"""
    notes: str = ""
    """what is measured, claimed or rumoured"""
    sources: tuple[str, ...] = ()
    """where the figures come from"""
    efficiency: Efficiency = field(default_factory=Efficiency)
    """achievable fractions of the peaks"""
    kernels: Efficiency | None = None
    """the kernel speeds its family's kernel table measured, over ``efficiency`` (catalog/kernels/*.yaml ``chips``):
    serving prices its iterations with these; None: no table describes the chip, ``efficiency`` stands in"""
    measured: dict | None = None
    """probe provenance when the profile was measured"""
    unpublished: tuple[str, ...] = ()
    """figures the catalog leaves unknown (``scale_up.domain``, ``scale_out.bandwidth``, ...): a plan is still priced,
    with a warning naming each one and the stand-in used"""
    figure_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """the sources behind each figure, by chip-file key (``peak_flops.bf16``, ``hbm.capacity``, ...)"""
    price_date: str = ""
    """when the price figures were quoted (``2026-03``)"""
    price_note: str = ""
    """what the price is (list, street, import report) or, with no figure, ``no public price`` and why"""

    def __post_init__(self) -> None:
        if self.confidence not in CONFIDENCES:
            raise BadInput(f"chip {self.name}: confidence must be one of {', '.join(CONFIDENCES)}", "confidence")
        _positive(
            f"chip {self.name}",
            hbm_bytes=self.hbm_bytes,
            hbm_bytes_per_s=self.hbm_bytes_per_s,
            scale_up_bytes_per_s=self.scale_up_bytes_per_s,
            scale_up_domain=self.scale_up_domain,
            scale_out_bytes_per_s=self.scale_out_bytes_per_s,
            host_link_bytes_per_s=self.host_link_bytes_per_s,
            tdp_watts=self.tdp_watts,
        )
        if self.scale_up_topology not in SCALE_UP_TOPOLOGIES:
            raise BadInput(
                f"chip {self.name}: scale_up.topology must be one of {', '.join(SCALE_UP_TOPOLOGIES)}, "
                f"not {self.scale_up_topology!r}", "scale_up.topology")
        for dtype, value in self.peak_flops_per_s.items():
            if dtype not in DTYPES:
                raise BadInput(f"chip {self.name}: unknown dtype {dtype!r} in peak_flops (use {', '.join(DTYPES)})", "peak_flops")
            if value is not None and not 1e9 <= value <= 1e17:
                raise BadInput(f"chip {self.name}: peak_flops.{dtype}={value:g} FLOP/s is absurd (expect 1e12..1e16)", "peak_flops")

    @property
    def host_time_factor(self) -> float:
        """How much longer host work takes on this device's host than on an x86 server's (1 where the file says
        nothing: ``host_time_scale``)."""
        return self.host_time_scale or 1.0

    def peak(self, dtype: str) -> float:
        """Dense peak FLOP/s for ``dtype``; fp8/int8 fall back to bf16 when the chip lacks them."""
        value = self.peak_flops_per_s.get(dtype)
        if value is None and dtype in ("fp8", "int8", "fp4"):
            return self.peak("bf16")
        if value is None and dtype == "bf16":
            value = self.peak_flops_per_s.get("fp16")
        if value is None:
            raise BadInput(
                f"chip {self.name} has no published {dtype} peak; set peak_flops.{dtype} in a chip file (--chip FILE, "
                f"or measure it with `xpuplan probe`) or give --override peak_flops.{dtype}=VALUE", "chip")
        return value

    def figures(self) -> dict[str, float | int | None]:
        """Every numeric figure by its chip-file key, in canonical units (None: unpublished)."""
        out: dict[str, float | int | None] = {f"peak_flops.{k}": v for k, v in self.peak_flops_per_s.items()}
        return out | {key: None if key in self.unpublished else getattr(self, attr)
                      for key, (attr, _, _) in FIGURES.items()}

    def figure_confidence(self, key: str) -> str:
        """high, medium, low or user: the figure's own confidence, else the chip's overall one."""
        return self.field_confidence.get(key, self.confidence)

    def peak_key(self, dtype: str) -> str:
        """The ``peak_flops`` figure :meth:`peak` reads for ``dtype`` (after its fallbacks)."""
        if self.peak_flops_per_s.get(dtype) is not None:
            return f"peak_flops.{dtype}"
        if dtype in ("fp8", "int8", "fp4", "int4", "bf16") and self.peak_flops_per_s.get("bf16") is None:
            return "peak_flops.fp16"
        return "peak_flops.bf16" if dtype in ("fp8", "int8", "fp4", "int4") else f"peak_flops.{dtype}"

    def figure_warnings(self, keys) -> list[str]:
        """One line naming the low-confidence figures among ``keys`` that this chip publishes, and one naming every
        figure set by ``--override``, used or not (empty when neither)."""
        values = self.figures()
        used = [k for k in dict.fromkeys(keys) if values.get(k) is not None]
        low = [k for k in used if self.figure_confidence(k) == "low"]
        user = [k for k, c in self.field_confidence.items() if c == "user"]
        out = []
        if low:
            out.append(f"{self.name} rests on low-confidence figures: {', '.join(low)} (estimates; why in "
                       "`xpuplan catalog chips --json`)")
        if user:
            out.append(f"{self.name} figures set for this run (--override or a per-chip price; confidence user): "
                       + ", ".join(f"{k}={self._user_text(k, values)}" for k in user))
        return out

    def _user_text(self, key: str, values: dict) -> str:
        if key.startswith("efficiency."):
            return f"{getattr(self.efficiency, key.partition('.')[2]):g}"
        if key == "scale_up.topology":
            return self.scale_up_topology
        return "unset" if values.get(key) is None else figure_text(key, values[key])

    def stand_in_notes(self) -> list[str]:
        """One warning per unpublished figure the estimate works around, naming the stand-in used."""
        stand_ins = {
            "scale_up.domain": "planned as if each device were its own scale-up domain (every collective over the NIC)",
            "scale_up.bandwidth": "collectives inside a node run at the NIC bandwidth",
            "scale_out.bandwidth": "collectives across nodes run at the scale-up bandwidth",
        }
        return [f"{self.name} has no published {field}: {stand_ins[field]}" for field in self.unpublished
                if field in stand_ins]

    def require(self, *names: str) -> None:
        """Raise BadInput if a figure the estimate needs is unknown for this chip."""
        keys = {"hbm_bytes": ("HBM capacity", "hbm.capacity"), "hbm_bytes_per_s": ("HBM bandwidth", "hbm.bandwidth")}
        for name in names:
            if getattr(self, name) is None:
                label, key = keys.get(name, (name, name))
                raise BadInput(
                    f"chip {self.name} has no published {label} ({key}); give it in a chip file (--chip FILE) or "
                    f"measure it with `xpuplan probe`, or give --override {key}=VALUE", "chip")


@dataclass(frozen=True, kw_only=True, slots=True)
class System:
    """A node or rack built from one chip kind, with its networks."""

    name: str
    """catalog id"""
    chip: str
    """chip catalog id"""
    display_name: str = ""
    """human name"""
    devices_per_node: int = 8
    """devices in one node"""
    nodes: int = 1
    """nodes in this system"""
    scale_up_domain: int | None = None
    """devices per scale-up domain, overriding the chip's"""
    scale_up_bytes_per_s: float | None = None
    """scale-up bandwidth per device per direction, overriding the chip's"""
    scale_up_topology: str | None = None
    """switch | full_mesh, overriding the chip's"""
    scale_out_bytes_per_s: float | None = None
    """NIC bandwidth per device per direction, overriding the chip's"""
    power_watts: float | None = None
    """whole-system power, watts"""
    confidence: str = "low"
    """high | medium | low"""
    notes: str = ""
    """free text"""
    sources: tuple[str, ...] = ()
    """where the figures come from"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Pool:
    """Devices of one chip kind that a job may use."""

    chip: Chip
    """the chip (with its system's network figures)"""
    devices: int
    """how many"""
