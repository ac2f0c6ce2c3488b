"""Which device the probe runs on: import torch and the vendor plugin, describe the device.

Each backend is data (plugin module, install hint, collective library, vendor);
:func:`open_device` turns a ``--device`` name into a :class:`Backend` with the
handful of operations the benchmarks need (synchronise, count, memory, name).
"""

from __future__ import annotations

import importlib
import os
import platform
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import BadInput

# device -> (plugin module imported before use, install hint, collective library, vendor)
BACKENDS: dict[str, tuple[str | None, str, str, str]] = {
    "cuda": (None, "a CUDA or ROCm build of PyTorch: see pytorch.org/get-started", "nccl", "NVIDIA"),
    "npu": ("torch_npu", "pip install torch-npu (Ascend CANN)", "hccl", "Huawei"),
    "musa": ("torch_musa", "pip install torch_musa (Moore Threads MUSA SDK)", "mccl", "Moore Threads"),
    "mlu": ("torch_mlu", "pip install torch_mlu (Cambricon Neuware)", "cncl", "Cambricon"),
    "xpu": (None, "an XPU build of PyTorch (pip install torch --index-url https://download.pytorch.org/whl/xpu)",
            "xccl", "Intel"),
    "cpu": (None, "", "gloo", "unknown"),
}
SUPPORTED_DEVICES = tuple(BACKENDS)


def import_torch():
    """The torch module, or BadInput telling how to install it."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise BadInput("xpuplan probe needs PyTorch: pip install 'xpuplan[probe]'", "device") from None


@dataclass(frozen=True, kw_only=True)
class Backend:
    """One device kind as the benchmarks use it."""

    kind: str
    """--device name: cuda, npu, musa, mlu, xpu or cpu"""
    torch: Any
    """the torch module"""
    module: Any
    """torch.cuda, torch.npu, ... (None on cpu)"""
    device: Any
    """torch.device of device 0"""
    device_count: int
    """devices of this kind visible to the process"""
    dist_backend: str
    """torch.distributed backend of the vendor's collective library"""
    vendor: str
    """maker of the device"""
    device_name: str
    """human name reported by the runtime"""
    runtime_version: str
    """driver / runtime / plugin version, '' if unknown"""

    @property
    def is_cpu(self) -> bool:
        return self.kind == "cpu"

    def synchronize(self) -> None:
        """Wait for queued work on the device (nothing to wait for on cpu)."""
        if self.module is not None:
            self.module.synchronize()

    def event_class(self) -> Callable | None:
        """The runtime's timing Event class, when it has one."""
        return getattr(self.module, "Event", None) if self.module is not None else None

    def memory_bytes(self) -> float:
        """Device memory capacity (host RAM on cpu), bytes."""
        if self.is_cpu:
            return host_memory_bytes()
        return float(self.module.get_device_properties(0).total_memory)


def host_memory_bytes() -> float:
    """Physical host memory, bytes: /proc/meminfo MemTotal, else sysconf."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return float(line.split()[1]) * 1024  # the kernel writes kB meaning KiB
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _vendor(device_name: str, default: str) -> str:
    first = device_name.split()[0] if device_name.split() else ""
    known = {"NVIDIA": "NVIDIA", "AMD": "AMD", "Intel(R)": "Intel", "Intel": "Intel", "Ascend": "Huawei"}
    return known.get(first, default if default != "unknown" else first or "unknown")


def open_device(kind: str) -> Backend:
    """Import torch (and the vendor plugin) and describe device 0 of ``kind``; BadInput when unusable."""
    if kind not in BACKENDS:
        raise BadInput(f"unknown device {kind!r}; supported devices: {', '.join(SUPPORTED_DEVICES)}", "device")
    torch = import_torch()
    plugin_name, hint, dist_backend, vendor = BACKENDS[kind]
    plugin = None
    if plugin_name:
        try:
            plugin = importlib.import_module(plugin_name)
        except ImportError:
            raise BadInput(f"device {kind} needs {plugin_name}: {hint}", "device") from None
    if kind == "cpu":
        name = _cpu_name()
        return Backend(kind=kind, torch=torch, module=None, device=torch.device("cpu"), device_count=1,
                       dist_backend=dist_backend, vendor=_vendor(name, vendor), device_name=name,
                       runtime_version=f"{torch.get_num_threads()} threads")
    module = getattr(torch, kind, None)
    available = module is not None and bool(getattr(module, "is_available", lambda: False)())
    if not available or module.device_count() < 1:
        raise BadInput(f"device {kind}: PyTorch {torch.__version__} sees no {kind} device; it needs {hint} "
                       "and the vendor driver", "device")
    name = str(module.get_device_name(0))
    version = getattr(plugin, "__version__", "") if plugin else ""
    version = version or getattr(torch.version, "hip", None) or getattr(torch.version, kind, None) or ""
    return Backend(kind=kind, torch=torch, module=module, device=torch.device(kind, 0),
                   device_count=int(module.device_count()), dist_backend=dist_backend,
                   vendor=_vendor(name, vendor), device_name=name, runtime_version=str(version))
