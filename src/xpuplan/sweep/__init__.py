"""Sweeps: a grid of ``train``, ``plan``, ``inference`` or ``rl`` calls, in local processes or on Ray; Parquet out.

``xpuplan sweep SPEC.yaml --out results.parquet [--ray auto|ADDRESS] [--workers N]``, or from Python
``xpuplan.sweep("SPEC.yaml", out="results.parquet")`` -> a pandas DataFrame. SPEC.yaml::

    command: train              # train | plan (each point keeps its best plan) | inference | rl
    fixed:                      # options every point shares: the command's flags, `seq_len` or `seq-len`
      seq_len: 4096
      global_batch: 512
      tokens: 1T
    grid:                       # a list of values per option; the points are their product (first key slowest)
      model: [llama3-8b, llama3-70b]
      chip: [h100-sxm, ascend-910b]
      devices: [64, 128, 256]
      precision: [bf16, fp8]

``grid`` may also be a list of such mappings: the points are their products one after the other (a chip with its
own prices, say), each point once. Any option of the command can be fixed or swept (``task``, ``precision``,
``usd_per_device_hour``, ``tp``, ``override``, ...); ``json``, ``plot`` and ``top`` cannot, and a plan point takes
one device count (list the counts rather than a range). The spec is checked on load: an unknown key or option is
one line naming it and the closest known one (exit 2); a required option missing from both ``fixed`` and ``grid``
likewise. Values are checked per point.

Output: one row per point, in the spec's order: ``point`` (0, 1, ...), ``status`` (``ok``, ``does_not_fit``,
``bad_input``, or ``error`` for a bug), ``error`` (the one-line reason), the inputs as given, the result's
``--json`` object flattened (``step_time_s``, ``mfu``, ``breakdown.compute_s``, ``cost.usd``, ``plan.tp``, ...;
lists as JSON text; a result field equal to an input is not repeated, one that differs is ``result.<name>``: the
``tokens`` "1T" given and the ``result.tokens`` 1e12 counted), and ``key`` (the point's identity). A point that does
not fit or has a bad value is a row, never a failed sweep. Column order and types depend only on the rows, so the
same spec gives the same file locally and on Ray, in one go or resumed.

Resumption: with an existing ``--out`` file, the points already in it are skipped (by key: the command and the
inputs), except rows of status ``error``, which run again. The file is rewritten whole every
:data:`FLUSH_S` seconds while the sweep runs (less often when writing takes over a tenth of that) and at its end (also
after Ctrl-C), so an interrupted sweep keeps its work.

Local processes (``spawn``; a script calling :func:`sweep` needs the usual ``if __name__ == "__main__":`` guard)
are the default, ``--workers`` of them (default one per core; 1 runs in this process). ``--ray auto`` joins a
running Ray cluster or starts a local instance; ``--ray ADDRESS`` joins that cluster, whose nodes need xpuplan
installed. pandas, pyarrow and Ray load only here; Ray only with ``--ray``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .executors import batches, cores, ray_module, run_local, run_ray
from .points import KEY, STATUSES
from .spec import Spec, load_spec, parse_spec
from .table import frame, pandas, read_rows, write

__all__ = ["FLUSH_S", "Spec", "load_spec", "parse_spec", "run", "sweep"]

FLUSH_S = 10.0
"""seconds between writes of the output file while a sweep runs"""


def sweep(spec: Any, *, out: str | Path | None = None, ray: str | None = None, workers: int | None = None,
          progress: bool = False):
    """Run every point of ``spec`` (a SPEC.yaml path, YAML text or the mapping) and return the table as a pandas
    DataFrame, one row per point (see the module docstring). ``out``: a Parquet file also written, and resumed
    from when it exists; ``ray``: ``"auto"`` or a cluster address; ``workers``: local processes (default: one per
    core); ``progress``: a progress bar on stderr."""
    return run(spec, out=out, ray=ray, workers=workers, progress=progress)[0]


def run(spec: Any, *, out: str | Path | None = None, ray: str | None = None, workers: int | None = None,
        progress: bool = False, flush_s: float = FLUSH_S):
    """:func:`sweep`, and a summary: ``points``, ``ran``, ``skipped`` (already in ``out``), one count per status,
    ``seconds`` and ``out``."""
    spec = load_spec(spec)
    workers = _workers(workers)
    if ray is not None:
        if not isinstance(ray, str) or not ray.strip():
            raise BadInput("--ray takes auto or a cluster address (host:6379, ray://host:10001)", "ray")
        ray_module()
    pandas()
    path = _out(out) if out is not None else None
    rows = read_rows(path, spec) if path else {}
    skipped, start = len(rows), time.monotonic()
    todo = [p for p in spec.points if p.key not in rows]
    work = batches(todo, workers or cores())
    stream = iter(()) if not work else (run_ray(spec.command, work, ray.strip(), workers) if ray else
                                       run_local(spec.command, work, workers or cores()))
    last, interval = start, flush_s
    with _bar(progress, len(spec.points), skipped, spec.command) as advance:
        try:
            for done in stream:
                rows.update((r[KEY], r) for r in done)
                advance(len(done))
                if path and time.monotonic() - last >= interval:
                    began = time.monotonic()
                    write(frame(list(rows.values()), spec), path)
                    last = time.monotonic()
                    interval = max(flush_s, 10 * (last - began))  # a big table: writing stays a tenth of the time
        finally:
            if hasattr(stream, "close"):
                stream.close()
            table = frame(list(rows.values()), spec)
            if path:
                write(table, path)
    counts = table["status"].value_counts()
    summary = {"points": len(spec.points), "ran": len(rows) - skipped, "skipped": skipped,
               **{s: int(counts.get(s, 0)) for s in STATUSES}, "seconds": time.monotonic() - start,
               "out": None if path is None else str(path)}
    return table, summary


def _workers(workers) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024:
        raise BadInput(f"--workers must be a whole number from 1 to 1024, got {workers!r}", "workers")
    return workers


def _out(out) -> Path:
    path = Path(out).expanduser()
    if path.is_dir():
        raise BadInput(f"--out {out}: is a folder; give a file (results.parquet)", "out")
    if not path.resolve().parent.is_dir():
        raise BadInput(f"--out {out}: folder {path.resolve().parent} does not exist; create it or write elsewhere",
                       "out")
    return path


@contextmanager
def _bar(show: bool, total: int, done: int, command: str):
    """A rich progress bar on stderr (points done of all, rate, time left), or nothing."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn(f"sweep: {command}"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(command, total=total, completed=done)
        yield lambda n: bar.advance(task, n)
