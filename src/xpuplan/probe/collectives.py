"""Collective bus bandwidth across the devices of one host, measured under torchrun.

Bus bandwidth (the nccl-tests convention) normalises a collective's algorithm
bandwidth ``S / t`` (S the full buffer: the all-gather output, the
reduce-scatter input, the all-reduce / all-to-all buffer) by the share of S each
device must send over its links, so that it compares with the link rate:

    all_reduce        busbw = S / t * 2 (n - 1) / n
    all_gather        busbw = S / t *   (n - 1) / n
    reduce_scatter    busbw = S / t *   (n - 1) / n
    all_to_all        busbw = S / t *   (n - 1) / n

:func:`measure_collectives` re-launches this module with ``torch.distributed.run``
(one process per device); the worker (``main``) writes rows as JSON for the parent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")


def bus_bandwidth_factor(op: str, ranks: int) -> float:
    """Bus bandwidth / algorithm bandwidth of ``op`` over ``ranks`` devices."""
    if op not in OPS:
        raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(OPS)}")
    share = (ranks - 1) / ranks
    return 2.0 * share if op == "all_reduce" else share


def bus_bytes_per_s(op: str, ranks: int, message_bytes: float, seconds: float) -> float:
    """Bus bandwidth of one ``op`` moving a ``message_bytes`` buffer in ``seconds``."""
    return message_bytes / seconds * bus_bandwidth_factor(op, ranks)


def message_sizes_bytes(quick: bool) -> list[int]:
    """Buffer sizes from 1 MiB up to 64 MiB (quick) or 1 GiB."""
    top = 26 if quick else 30
    return [2**e for e in range(20, top + 1, 2)]


def measure_collectives(backend, quick: bool, timeout_s: float = 600.0) -> dict:
    """Launch the worker on every visible device; {'skipped': why} with one device or on failure."""
    n = backend.device_count
    if n < 2:
        return {"skipped": f"one {backend.kind} device visible: collectives not measured"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "collectives.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
               "-m", "xpuplan.probe.collectives", "--device", backend.kind, "--out", str(out)]
        cmd += ["--quick"] if quick else []
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            return {"skipped": f"collectives did not finish in {timeout_s:.0f} s"}
        if done.returncode != 0 or not out.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return {"skipped": f"collectives failed (exit {done.returncode}): {last[:200]}"}
        result = json.loads(out.read_text())
    best = {}
    for op, nbytes, seconds in result["rows"]:
        best[op] = max(best.get(op, 0.0), bus_bytes_per_s(op, n, nbytes, seconds))
    return {"devices": n, "backend": backend.dist_backend, "rows": result["rows"], "best_bus_bytes_per_s": best}


def _run_op(dist, op: str, buf, out, part) -> None:
    """One collective; ``buf`` and ``out`` hold S bytes, ``part`` S / n."""
    if op == "all_reduce":
        dist.all_reduce(buf)
    elif op == "all_gather":
        dist.all_gather_into_tensor(out, part)
    elif op == "reduce_scatter":
        dist.reduce_scatter_tensor(part, buf)
    else:
        dist.all_to_all_single(out, buf)


def _worker(kind: str, quick: bool) -> list[list]:
    """Rows [op, message_bytes, seconds] measured by this rank (seconds are rank 0's)."""
    import torch
    import torch.distributed as dist

    from .device import open_device

    backend = open_device(kind)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if backend.module is not None:
        backend.module.set_device(local)
    device = torch.device(kind, local) if backend.module is not None else torch.device("cpu")
    dist.init_process_group(backend=backend.dist_backend)
    n = dist.get_world_size()
    rows = []
    try:
        for nbytes in message_sizes_bytes(quick):
            elements = nbytes // 2 // n * n
            buf = torch.rand(elements, device=device, dtype=torch.bfloat16)
            out = torch.empty_like(buf)
            part = torch.rand(elements // n, device=device, dtype=torch.bfloat16)
            for op in OPS:
                for _ in range(2):  # warm-up: communicator set-up and buffer registration
                    _run_op(dist, op, buf, out, part)
                repeats = 5 if quick else 20
                dist.barrier()
                backend.synchronize()
                t0 = time.perf_counter()
                for _ in range(repeats):
                    _run_op(dist, op, buf, out, part)
                backend.synchronize()
                rows.append([op, elements * 2, (time.perf_counter() - t0) / repeats])
    finally:
        dist.destroy_process_group()
    return rows


def main(argv: list[str] | None = None) -> None:
    """Worker entry point under torchrun: measure and (rank 0) write JSON to --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows = _worker(args.device, args.quick)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(args.out).write_text(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
