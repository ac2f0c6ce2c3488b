"""Load on the HTTP API (issue 7): 1,000 POST /api/train requests from 8 concurrent clients on loopback.

    .venv/bin/python benchmarks/bench_web.py

Starts uvicorn on 127.0.0.1 (a free port) in this process, reports p50/p99 latency; any failed
request is an error. Bounded in count and time; talks to nothing but this machine.
"""

from __future__ import annotations

import concurrent.futures
import socket
import statistics
import threading
import time

import httpx
import uvicorn

from xpuplan.web.app import app

REQUESTS, CLIENTS = 1000, 8
BODY = {"model": "llama3-70b", "chip": "h100-sxm", "devices": 1024, "tp": 8, "pp": 4, "seq_len": 8192,
        "global_batch": 1024}


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/api/train"

    def client(n: int) -> list[tuple[float, int]]:
        out = []
        with httpx.Client(timeout=30) as c:
            for _ in range(n):
                start = time.perf_counter()
                status = c.post(url, json=BODY).status_code
                out.append((time.perf_counter() - start, status))
        return out

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        results = [r for chunk in pool.map(client, [REQUESTS // CLIENTS] * CLIENTS) for r in chunk]
    wall = time.perf_counter() - start
    server.should_exit = True
    latencies = sorted(t for t, _ in results)
    failed = sum(status != 200 for _, status in results)
    p50, p99 = statistics.median(latencies), latencies[int(0.99 * len(latencies)) - 1]
    print(f"| {len(results)} requests, {CLIENTS} clients | p50 {p50 * 1e3:.1f} ms | p99 {p99 * 1e3:.1f} ms | "
          f"{len(results) / wall:.0f} requests/s | failed: {failed} |")
    if failed:
        raise SystemExit(f"{failed} requests failed")


if __name__ == "__main__":
    main()
