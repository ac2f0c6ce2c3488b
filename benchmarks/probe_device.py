"""Probe one accelerator and time its kernel tables, printing each step with the seconds since the start.

Run where PyTorch sees the device (no install needed, only the repository on PYTHONPATH):

    PYTHONPATH=src python3 benchmarks/probe_device.py cuda OUT.yaml KERNELS.csv [LIKE]

It is ``xpuplan probe --device cuda --out OUT.yaml --kernels KERNELS.csv --like LIKE`` with progress lines a
log keeps (the CLI shows them in a spinner).
"""

import sys
import time

from xpuplan import api
from xpuplan.report.probe import probe_lines

start = time.perf_counter()
device, out, kernels = sys.argv[1:4]
like = sys.argv[4] if len(sys.argv) > 4 else None
profile = api.probe(device=device, out=out, kernels=kernels, like=like,
                    progress=lambda line: print(f"[{time.perf_counter() - start:7.1f} s] {line}", flush=True))
for line in probe_lines(profile, out):
    print(line)
print(f"done in {time.perf_counter() - start:.1f} s")
