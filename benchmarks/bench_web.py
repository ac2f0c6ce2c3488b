"""Load on the HTTP API (issues 7 and 14): 8 concurrent clients on loopback, 250 requests each.

    .venv/bin/python benchmarks/bench_web.py

Two loads: 1,000 POST /api/train without a token budget (issue 7's), and issue 14's mixed load — train with a
token budget (the Monte Carlo), closed- and open-loop inference, and a plan search in one request of ten. Starts
uvicorn on 127.0.0.1 (a free port) in this process and reports p50/p99 latency per endpoint; a 5xx other than 503
(a search queue full, by design) is an error. Bounded in count and time; talks to nothing but this machine.
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
MIXED = [  # issue 14's mix, one plan search in ten requests
    ("train", BODY | {"tokens": "15T"}), ("train", BODY | {"tokens": "15T", "trials": 5000}),
    ("inference", {"model": "llama3-70b", "chip": "h100-sxm", "devices": 8, "concurrency": 64}),
    ("inference", {"model": "llama3-8b", "chip": "h100-sxm", "devices": 1, "request_rate": 20.0}),
    ("train", {"model": "deepseek-v3", "chip": "h800", "devices": 2048, "pp": 16, "ep": 64, "precision": "fp8",
               "tokens": "14.8T", "global_batch": 15360}),
    ("inference", {"model": "deepseek-v3", "chip": "h200", "devices": 16, "ep": 16, "precision": "fp8"}),
    ("train", {"model": "llama3-8b", "chip": "ascend-910b", "devices": 64, "tp": 2, "tokens": "1T"}),
    ("inference", {"model": "qwen3-30b-a3b", "chip": "ascend-910b", "devices": 2}),
    ("inference", {"model": "llama3-70b", "chip": "mi300x", "devices": 8}),
    ("plan", {"model": "llama3-8b", "chip": "h800", "devices": "64", "tokens": "1T"}),
]


def _serve():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/api"


def _load(url: str, requests: list[tuple[str, dict]]) -> tuple[list[tuple[str, float, int]], float]:
    def client(k: int) -> list[tuple[str, float, int]]:
        out = []
        with httpx.Client(timeout=60) as c:
            for i in range(k, len(requests), CLIENTS):
                path, body = requests[i]
                start = time.perf_counter()
                status = c.post(f"{url}/{path}", json=body).status_code
                out.append((path, time.perf_counter() - start, status))
        return out

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        results = [r for chunk in pool.map(client, range(CLIENTS)) for r in chunk]
    return results, time.perf_counter() - start


def _row(name: str, results, wall: float) -> str:
    latencies = sorted(t for _, t, _ in results)
    p50, p99 = statistics.median(latencies), latencies[max(int(0.99 * len(latencies)) - 1, 0)]
    busy = sum(status == 503 for *_, status in results)
    failed = sum(status >= 500 and status != 503 or 400 <= status < 500 for *_, status in results)
    return (f"| {name} | {len(results)} | p50 {p50 * 1e3:.1f} ms | p99 {p99 * 1e3:.1f} ms | "
            f"{len(results) / wall:.1f} requests/s | busy (503): {busy} | failed: {failed} |"), failed


def main() -> None:
    server, url = _serve()
    print("| load | requests | p50 | p99 | rate | queue full | failures |")
    print("|---|---|---|---|---|---|---|")
    results, wall = _load(url, [("train", BODY)] * REQUESTS)
    row, failed = _row("train, no token budget, 8 clients", results, wall)
    print(row)
    mixed = [MIXED[i % len(MIXED)] for i in range(250 * CLIENTS)]
    results, wall = _load(url, mixed)
    row, failed_mixed = _row("mixed (issue 14), 8 clients x 250", results, wall)
    print(row)
    for path in ("train", "inference", "plan"):
        print(_row(f"  of which {path}", [r for r in results if r[0] == path], wall)[0])
    server.should_exit = True
    if failed or failed_mixed:
        raise SystemExit(f"{failed + failed_mixed} requests failed")


if __name__ == "__main__":
    main()
