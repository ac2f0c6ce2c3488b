"""Specifications: what a chip, a system, a model, a framework, a job and a serving engine are.

Frozen dataclasses with one line per field giving its meaning and unit. They hold facts only; what follows
from them (parameter counts, FLOPs, times) lives in :mod:`xpuplan.cost`. Construction checks ranges and raises
:class:`~xpuplan.errors.BadInput` naming the field.

* :mod:`.hardware` — Chip, Efficiency, System, Pool
* :mod:`.model` — Model, MoE, Encoder
* :mod:`.framework` — Framework, RECOMPUTE
* :mod:`.job` — TrainJob
* :mod:`.serving` — ServeEngine, number formats
"""

from .hardware import CONFIDENCES, DTYPES, HOST_LINK_BYTES_PER_S, SCALE_UP_TOPOLOGIES, Chip, Efficiency, Pool, System
from .framework import FRAMEWORK_RANGES, RECOMPUTE, Framework
from .job import PLAN_MEMORY_MARGIN, TrainJob
from .model import Encoder, Model, MoE
from .serving import KV_BYTES, ROOFLINE, WEIGHT_FORMATS, ServeEngine

__all__ = ["CONFIDENCES", "DTYPES", "HOST_LINK_BYTES_PER_S", "FRAMEWORK_RANGES", "KV_BYTES", "PLAN_MEMORY_MARGIN", "RECOMPUTE", "ROOFLINE",
           "SCALE_UP_TOPOLOGIES", "WEIGHT_FORMATS", "Chip", "Efficiency", "Encoder", "Framework", "Model", "MoE", "Pool",
           "ServeEngine", "System", "TrainJob"]
