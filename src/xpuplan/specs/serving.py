"""Serving facts: number formats an engine runs weights and KV cache in, and a serving engine's profile."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadInput

WEIGHT_FORMATS = {  # precision -> (bytes per weight, peak used for the GEMMs, chip peak that must exist or None)
    "bf16": (2.0, "bf16", None),
    "fp16": (2.0, "fp16", None),
    "fp8": (1.0, "fp8", "fp8"),
    "int8": (1.0, "int8", "int8"),
    "int4": (0.5, "bf16", None),   # weight-only (W4A16): dequantised in the kernel, bf16 math
    "fp4": (0.5, "fp4", "fp4"),
}
KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}
"""bytes per cached key/value element by KV-cache precision"""


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeEngine:
    """A serving engine's profile (data in catalog/serving): how close its kernels come to the roofline."""

    name: str
    """catalog id"""
    display_name: str = ""
    """human name"""
    kernel_scale: float = 1.0
    """fraction of the chip's roofline its weight and attention-decode kernels reach"""
    moe_scale: float = 1.0
    """extra factor for MoE models (grouped GEMMs, routing, all-to-all, expert imbalance)"""
    attention_efficiency: float = 1.0
    """its prefill attention kernel's speed as a fraction of the compute peak"""
    sources: tuple[str, ...] = ()
    """where the figures come from"""

    def __post_init__(self) -> None:
        for key in ("kernel_scale", "moe_scale", "attention_efficiency"):
            if not 0 < getattr(self, key) <= 1:
                raise BadInput(f"serving/{self.name}.yaml: {key} must be in (0, 1]", key)


ROOFLINE = ServeEngine(name="roofline", display_name="every kernel at the chip's calibrated roofline")
"""the ideal engine: an upper bound, and the profile of a ServePlan that names none"""
