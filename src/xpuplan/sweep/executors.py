"""Where the points run: in this process, in local worker processes, or as Ray tasks.

Each executor takes batches of points and yields each batch's rows as it finishes (any order; the table sorts them).
A batch that is lost (a worker process killed, a Ray task failed) yields rows of status ``error``, which a resumed
sweep runs again. Ray is imported only here, and only for ``--ray``.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
from collections.abc import Iterator

from ..errors import BadInput
from .points import KEY, cell, run_batch

Batch = list[tuple[int, str, dict]]
"""``(index, key, inputs)`` of the points one task runs"""


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def batches(points: list, workers: int) -> list[Batch]:
    """Points in batches: about eight per worker, so the work evens out, and at most 64 points each, so progress
    moves and an interruption loses little."""
    size = max(1, min(64, len(points) // (8 * max(1, workers))))
    items = [(p.index, p.key, p.inputs) for p in points]
    return [items[i:i + size] for i in range(0, len(items), size)]


def lost(batch: Batch, exc: BaseException) -> list[dict]:
    """Rows for a batch whose worker was lost."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    return [{"point": i, "status": "error", "error": f"worker lost: {text}",
             **{name: cell(value) for name, value in inputs.items()}, KEY: key}
            for i, key, inputs in batch]


def run_inline(command: str, work: list[Batch]) -> Iterator[list[dict]]:
    """One batch after the other in this process (``--workers 1``)."""
    for batch in work:
        yield run_batch(command, batch)


def _quiet_worker() -> None:
    """A worker leaves Ctrl-C to the sweep, which stops handing out work and saves what is done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_local(command: str, work: list[Batch], workers: int) -> Iterator[list[dict]]:
    """Batches on ``workers`` local processes (started fresh: ``spawn``, the same on every platform)."""
    if workers == 1 or len(work) <= 1:
        yield from run_inline(command, work)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=min(workers, len(work)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_quiet_worker)
    finished = False
    try:
        futures = {pool.submit(run_batch, command, batch): batch for batch in work}
        for future in as_completed(futures):
            try:
                rows = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker (BrokenProcessPool, ...): its points rerun later
                rows = lost(futures[future], exc)
            yield rows
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)  # interrupted: the running batches end on their own


def ray_module():
    """Ray, or one line naming the extra that brings it."""
    try:
        import ray
    except ImportError:
        raise BadInput("--ray needs Ray, which is not installed: pip install 'xpuplan[ray]'", "ray") from None
    return ray


def connect(ray, address: str) -> bool:
    """Join the Ray cluster at ``address``; ``auto``: a running one (RAY_ADDRESS, or the latest started on this
    machine), else a new local instance. True when this call started the connection (the sweep ends it)."""
    if ray.is_initialized():
        return False
    settings = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        ray.init(**settings) if address == "auto" else ray.init(address=address, **settings)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, ValueError, RuntimeError, grpc errors
        reason = " ".join(str(exc).split())[:200]
        raise BadInput(f"--ray {address}: cannot join a Ray cluster ({reason}); give its address (host:6379 or "
                       "ray://host:10001) or auto", "ray") from None
    return True


def run_ray(command: str, work: list[Batch], address: str, workers: int | None) -> Iterator[list[dict]]:
    """Batches as Ray tasks (one CPU each), at most ``workers`` in flight when given. The cluster's workers need
    xpuplan installed (the same version); a local instance shares this environment."""
    ray = ray_module()
    started = connect(ray, address)
    task = ray.remote(num_cpus=1, max_retries=2)(run_batch)
    todo = iter(work)
    pending = {task.remote(command, batch): batch for batch in itertools.islice(todo, workers or len(work))}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                batch = pending.pop(ref)
                try:
                    rows = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - RayTaskError, WorkerCrashedError: its points rerun later
                    rows = lost(batch, exc)
                nxt = next(todo, None)
                if nxt is not None:
                    pending[task.remote(command, nxt)] = nxt
                yield rows
    finally:
        for ref in pending:
            ray.cancel(ref)
        if started:
            ray.shutdown()
