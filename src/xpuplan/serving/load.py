"""Serving under load: one replica's engine iterations shared by many requests (closed form and event simulation).

Engines (vLLM v1, SGLang, TensorRT-LLM in-flight batching, MindIE) build each iteration the same way: every
running sequence decodes one token (1 + k with k speculative drafts), then the rest of the iteration's token budget
C (max batched tokens / chunk size) takes prefill chunks, first come first served. An engine that does not chunk
prompts (``ServeEngine.chunked_prefill`` False: TensorRT-LLM's default, vLLM 0.2) takes whole prompts only, as many
as fit what the decodes leave, and a prompt larger than that alone: below, B is then the whole prompts' tokens a
full iteration carries, and a prompt's prefill is one iteration. One that never mixes the two (``mixed_batches``
False: vLLM 0.2) runs the waiting prompts alone and decodes only when none waits: the decodes pause for every prompt
run (docs/serving.md, "Scheduling"). Both models below price every
iteration with the one per-iteration cost T(p, d) of :func:`xpuplan.cost.serve.iteration_s` (p prefill tokens, d
decoding sequences), and a request's time is

* **TTFT** = request overhead + (residual of the running iteration + wait behind the prefill tokens ahead +
  its own ceil(I / B) chunk iterations) · T(p_pref, d), where B = C − d·v is the budget left after the decodes;
* **TPOT** = T(p̄, d) / tau: every iteration carries the decodes and, on average, p̄ = X·I·T̄ prefill tokens
  (X requests/s), so the prefill chunks that share a decode's iterations slow it; tau tokens per iteration.

**Closed form** (mean-value analysis, a damped fixed point, vectorised over concurrency): the prefill token queue is
an M/D/1 queue on the budget B: utilisation rho = p̄ / B, wait W = rho·s / (2(1 − rho)) iterations for a request of
s = I / B iterations (capped at (n − 1)·s in a closed loop of n). Closed loop: X = n / (TTFT + (O − 1)·TPOT); open
loop: X = rate. Requests beyond the running limit (KV cache or the engine's max batch) wait for admission:
(n − R) / X more. **Simulation**: a seeded iteration-level event loop with the same T(p, d) (tabulated, linear in
p), giving P50/P90/P99; decode-only iterations between events are taken together.

**Front end**: a request reaches the engine ``request_overhead_s`` after it is sent (HTTP, chat template,
tokenising: a latency), and every token it produces passes through the replica's API server, one process working
alongside the device that spends ``stream_token_s`` detokenising and sending each output token; the client sees a
token when the front end has sent it. It bounds a replica at X·O·s ≤ 1. Where the wait lands once it binds depends
on how the requests share the engine: the closed form takes arrivals at random phases, whose tokens leave a steady
backlog behind them, so TPOT stays the engine's and TTFT takes the rest of Little's law (X capped at 1 / (O·s)); the
simulation queues each iteration's tokens at one first-come-first-served server, so a round of requests decoding
together has its tokens interleaved and each stream sees n·s between tokens: the wait lands in TPOT. An engine whose
scheduler hands an iteration's tokens out only after launching the next (``late_first_token``) delivers every token,
the first included, one iteration later: TTFT and the cycle gain one iteration, TPOT none.
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np

from ..cost.serve import iteration_s
from ..plan import ServePlan
from ..specs import Chip, Model

MIN_PREFILL_TOKENS = 64
"""prefill tokens an iteration takes even when the decodes fill its budget (engines never starve prefill fully)"""
FIXED_POINT_ROUNDS = 80
FIXED_POINT_TOLERANCE = 1e-9
"""the fixed point stops early once no rate, batch or prefill load moves by more than this share in a round"""
PERCENTILES = (50, 90, 99)
WARMUP_SHARE = 10
"""an open-loop simulation leaves out the first 1/WARMUP_SHARE of its arrivals from the latencies, and measures its
rate between the first and last 1/WARMUP_SHARE of completions (steady state, not the fill or the drain)"""


def _context(input_len: int, output_len: int) -> float:
    return input_len + output_len / 2


def running_limit(plan: ServePlan, capacity: int) -> int:
    """Sequences one replica runs at once: its KV cache, then the engine's max batch."""
    return max(1, min(capacity // plan.dp, plan.engine.max_batch))


def steady_state(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int, capacity: int,
                 concurrency=None, request_rate=None) -> dict:
    """Mean TTFT, TPOT and throughput in steady state (closed loop at ``concurrency`` or open loop at
    ``request_rate``, arrays broadcast); see the module docstring for the equations."""
    e = plan.engine
    I, O, C, v, tau = float(input_len), float(output_len), float(e.max_batched_tokens), e.verify_tokens, e.tokens_per_step
    ctx = _context(input_len, output_len)
    R = float(running_limit(plan, capacity))
    closed = request_rate is None
    n = np.maximum(np.asarray(concurrency if closed else 1.0, dtype=float) / plan.dp, 1.0)
    n_run = np.minimum(n, R)

    def T(p, d):
        return iteration_s(model, chip, plan, p, d, input_len, ctx)

    def mixed(p, chunk, B, t0, tc, tb):
        # mean iteration when p prefill tokens per iteration arrive as whole chunks: a share p / chunk of the
        # iterations carries one (engines fill the budget with a prompt's chunk), the rest only decode; T is concave
        # in p (a MoE's experts are all read once a few tokens route to them), so T(p) would overprice a trickle.
        # Beyond one chunk (short prompts several to an iteration) the line from T(chunk) to T(B): three costs a
        # round, as the closed form always took
        beyond = tc + (p - chunk) / np.maximum(B - chunk, 1e-9) * (tb - tc)
        return np.where(p < chunk, t0 + p / chunk * (tc - t0), beyond)

    decode_tokens = max(O - 1.0, 0.0)
    front_end_s = O * e.stream_token_s         # the front end's serial time for one request's tokens
    front_end_rate = np.inf if front_end_s == 0 else 1.0 / front_end_s  # requests/s it streams, at most
    if closed:
        X = np.minimum(n_run / (T(I, 0.0) + decode_tokens / tau * T(0.0, n_run) + e.request_overhead_s), front_end_rate)
    else:
        X = np.full(n.shape, float(request_rate) / plan.dp)
    d = np.minimum(X * decode_tokens / tau * T(0.0, np.maximum(n_run / 2, 1.0)), n_run)
    p_bar = X * I * T(0.0, np.maximum(d, 1.0))
    # an arrival waits out half the running iteration, unless nothing else runs (a closed loop of one)
    residual = 0.5 * (1 - 1 / n_run) if closed else 0.5
    if not e.mixed_batches:  # prompt runs (vLLM 0.2) of up to k whole prompts: their costs do not move with the load
        k = max(np.floor(C / I), 1.0)
        t_one, prompts_cap = T(I, 0.0), k / T(k * I, 0.0)
    for _ in range(FIXED_POINT_ROUNDS):
        if e.mixed_batches:
            B = np.maximum(C - d * v, MIN_PREFILL_TOKENS)
            if not e.chunked_prefill:  # whole prompts: as many as fit what the decodes leave, one alone when larger
                B = np.maximum(np.floor(B / I), 1.0) * I
            p_bar = np.minimum(p_bar, B)
            chunk = np.minimum(I, B)
            grid = np.stack(np.broadcast_arrays(np.zeros_like(chunk), chunk, B))  # T at 0, one chunk, the budget:
            costs = (chunk, B, *T(grid, d))                                         # one call, the three rows
            t_bar = mixed(p_bar, *costs)
            # a decode shares iterations with the other requests' prompts, never its own (closed loop: n - 1 others)
            t_dec = mixed(p_bar * (1 - 1 / n_run), *costs) if closed else t_bar
            rho = np.minimum(p_bar / B, 0.995)
            s = I / B
            wait = rho * s / (2 * (1 - rho))
            if closed:
                wait = np.minimum(wait, (n_run - 1) * np.maximum(s, 1.0))
            t_pref = mixed(np.maximum(p_bar, chunk), *costs)
            ttft_dev = residual * t_bar + (wait + np.ceil(s)) * t_pref
            tpot = t_dec / tau
            t_next = costs[2]  # the iteration after a prompt's last chunk, priced decode-only (T at no prefill)
            prompts_cap = B / (I * costs[4])  # prompts per second that full prefill iterations take
        else:  # prompts run alone: the decodes pause for them, a prompt waits for the prompt runs ahead of it
            q = np.clip(1.0 + X * t_one, 1.0, k)             # one, and those that arrive while it runs
            t_pref = T(q * I, 0.0)
            rho = np.minimum(X * t_pref / q, 0.995)          # the share of the time prompt runs take
            s, wait = np.ones_like(rho), rho / (2 * (1 - rho))
            if closed:
                wait = np.minimum(wait, n_run - 1)
            t_bar = T(0.0, d)
            ttft_dev = residual * t_bar + (wait + 1.0) * t_pref
            tpot = t_bar / (1 - rho) / tau                   # the prompt runs between a sequence's decode iterations
            t_next = t_bar
        late_s = t_next if e.late_first_token else 0.0  # the iteration an overlap scheduler hands tokens out after
        cycle = e.request_overhead_s + ttft_dev + decode_tokens * tpot + late_s
        before = (X, d, p_bar)
        if closed:  # ... and never more prompt tokens per second than full prefill iterations take, nor more
            # output tokens than the front end streams
            X = 0.5 * X + 0.5 * np.minimum(np.minimum(n_run / cycle, prompts_cap), front_end_rate)
        d = 0.5 * d + 0.5 * np.minimum(X * decode_tokens * tpot, R)
        p_bar = 0.5 * p_bar + 0.5 * X * I * t_bar
        if all(np.all(np.abs(new - old) <= FIXED_POINT_TOLERANCE * np.abs(old)) for new, old in zip((X, d, p_bar), before)):
            break
    if closed:  # prefill- or front-end-bound: the wait that Little's law leaves (n_run in flight at X requests/s)
        ttft_dev = np.maximum(ttft_dev, n_run / X - e.request_overhead_s - decode_tokens * tpot - late_s)
    admission = np.maximum(n - n_run, 0.0) / X if closed else np.zeros_like(X)
    ttft = e.request_overhead_s + ttft_dev + admission + late_s
    return {"ttft_s": ttft, "tpot_s": tpot, "output_tokens_per_s": X * O * plan.dp, "requests_per_s": X * plan.dp,
            "running": d + (n_run - d if closed else 0.0), "prefill_utilisation": rho, "queue_wait_s": wait * t_pref,
            "admission_wait_s": admission, "iteration_s": t_bar, "chunks": np.ceil(s),
            "front_end_utilisation": X * front_end_s}


def _cost_table(model, chip, plan, input_len, output_len, limit):
    """T(p, d) for every decode batch 0..limit on a grid of prefill token counts (linear in p between points), up to
    the token budget, or to one whole prompt where it is larger and the engine does not chunk prompts."""
    e = plan.engine
    top = e.max_batched_tokens if e.chunked_prefill else max(e.max_batched_tokens, input_len)
    grid = np.unique(np.concatenate([[0.0], np.geomspace(1, top, 40).round()]))
    d = np.arange(limit + 1, dtype=float)
    table = iteration_s(model, chip, plan, grid[:, None], d[None, :], input_len, _context(input_len, output_len))
    return grid, np.asarray(table)


def simulate(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int, capacity: int,
             concurrency: int | None = None, request_rate: float | None = None, requests: int = 2000,
             seed: int = 0, stagger_s: float = 0.0, burst: int | None = None, whole_run: bool = False,
             length_ratio: float = 1.0) -> dict:
    """Seeded iteration-level simulation of one replica (its share of the load): Poisson arrivals at
    ``request_rate``, ``burst`` requests sent at once (a benchmark's ``--num-prompts N`` at an unlimited rate: the
    rate is the requests over the whole run, fill and drain included, as the benchmark counts it), or
    ``concurrency`` clients each sending the next request when the last one ends. The clients'
    first requests go out together, as serving benchmarks send them (``vllm bench serve --max-concurrency``,
    genai-perf and AIPerf ``--concurrency``); with equal lengths their rounds stay bunched for the whole run, so
    later requests queue behind the prompts of the round they arrive in. ``stagger_s`` > 0 spreads the first
    requests uniformly over that time instead (clients that start at random). The first round and the drain are
    left out of the statistics, and a closed loop's rate is Little's law over the rest (clients / mean request
    time), which the bunched completions would bias if counted between two of them. Each iteration decodes every
    running sequence (tau tokens each), then fills the rest of its budget with prefill chunks first come first
    served, admitting requests while the running limit allows. ``whole_run``: a closed loop counted as a benchmark
    with a request count counts it (``vllm bench serve --num-prompts N --max-concurrency n``, AIPerf
    ``--request-count N --concurrency n``): exactly ``requests`` requests, every one in the means, the rate over the
    run from the first send to the last token. The front end (module docstring) streams every token the iterations
    emit, first come first served; a client sees a token, and sends its next request, when it has been sent.
    ``length_ratio`` r < 1 draws each request's prompt and output lengths uniformly between r and 1 times a top
    whose mean is ``input_len`` / ``output_len`` (a random dataset at ``--random-range-ratio r``, as InferenceX's
    harness runs one): unequal requests end apart, so a closed loop's rounds spread instead of staying bunched."""
    e = plan.engine
    rng = np.random.default_rng(seed)
    low = 2.0 * length_ratio / (1.0 + length_ratio)  # the draws' bottom over their mean (their top: 2 - low)

    def lengths() -> list[float]:  # one request's [prompt tokens, output tokens]
        if length_ratio >= 1.0:
            return [float(input_len), float(output_len)]
        u = rng.uniform(low, 2.0 - low, 2)
        return [float(max(round(input_len * u[0]), 1)), float(max(round(output_len * u[1]), 1))]

    limit = running_limit(plan, capacity)
    grid, table = _cost_table(model, chip, plan, input_len, output_len, limit)
    tau, v, C = e.tokens_per_step, e.verify_tokens, e.max_batched_tokens
    closed = request_rate is None and burst is None
    if burst is not None:
        sent = np.zeros(max(-(-int(burst) // plan.dp), 1))  # this replica's share, all at once
    elif closed:
        clients = max(int(round(concurrency / plan.dp)), 1)
        requests = max(requests, 1 if whole_run else 4 * clients)
        clients = min(clients, requests)
        sent = np.sort(rng.uniform(0.0, stagger_s, clients))
    else:
        sent = np.cumsum(rng.exponential(plan.dp / request_rate, requests))
    overhead = e.request_overhead_s           # the server's own time (HTTP, template, tokenising) before the engine
    arrivals = (sent + overhead).tolist()     # ... sees the request: a heap of the times it does
    issued = len(arrivals)
    now = fe = 0.0                            # the engine's clock; when the front end has sent what it was given
    prefilling: deque = deque()              # [time sent, prompt tokens left, output tokens], admitted
    left, since, first, outs = np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
    done_since, done_first, done_out, done_at, done_count = [], [], [], [], []  # the requests each completion ends
    while arrivals or prefilling or left.size:
        if not left.size and not prefilling and arrivals and arrivals[0] > now:
            now = arrivals[0]
        while arrivals and arrivals[0] <= now and len(prefilling) + left.size < limit:
            prefilling.append([heapq.heappop(arrivals) - overhead, *lengths()])
        # an engine that never mixes prompts with decodes (vLLM 0.2) runs the waiting prompts alone: decodes pause
        prompt_only = not e.mixed_batches and bool(prefilling)
        d = 0 if prompt_only else left.size
        budget = C if prompt_only else max(C - d * v, MIN_PREFILL_TOKENS)
        p, firsts, wants = 0.0, [], []
        for item in prefilling:
            if p >= budget or (not e.chunked_prefill and p > 0 and p + item[1] > budget):
                break  # the budget is spent, or (whole prompts only) the next prompt does not fit what is left
            take = min(item[1], budget - p) if e.chunked_prefill else item[1]
            item[1] -= take
            p += take
        while prefilling and prefilling[0][1] <= 0:
            sent_at, _, want = prefilling.popleft()
            firsts.append(sent_at)
            wants.append(want)
        step = float(table[0, d]) if p == 0 else float(np.interp(p, grid, table[:, d]))  # grid[0] is no prefill
        k = 1
        if p == 0 and d:                       # decode-only: identical iterations until the next event
            k = max(int(np.ceil(left.min() / tau)), 1)
            if arrivals and len(prefilling) + d < limit:
                k = min(k, max(1, int(np.ceil((arrivals[0] - now) / step))))
        now += k * step
        if not prompt_only:
            left = left - k * tau
        # the front end sends the block's tokens after what it still holds, and its last iteration's tokens no earlier
        # than that iteration ends: clients see them, and send their next requests, at fe
        emitted = d * tau + len(firsts)
        fe = max(fe + (emitted + (k - 1) * d * tau) * e.stream_token_s, now + emitted * e.stream_token_s)
        # an overlap scheduler hands the tokens out after the next iteration, priced decode-only over the running batch
        # (the prompts that end here included)
        seen = fe + float(table[0, min(left.size + len(firsts), limit)]) if e.late_first_token else fe
        if firsts:
            n_first = len(firsts)
            left = np.concatenate([left, np.maximum(np.array(wants) - 1.0, 0.0)])
            since, first = np.concatenate([since, firsts]), np.concatenate([first, [seen] * n_first])
            outs = np.concatenate([outs, wants])
        ended = left <= 0
        if ended.any():
            count = int(ended.sum())
            done_since.append(since[ended])
            done_first.append(first[ended])
            done_out.append(outs[ended])
            done_at.append(seen)
            done_count.append(count)
            if closed:
                fresh = min(count, requests - issued)
                for _ in range(fresh):
                    heapq.heappush(arrivals, seen + overhead)
                issued += fresh
            left, since, first, outs = left[~ended], since[~ended], first[~ended], outs[~ended]
    rows = np.stack([np.concatenate(done_since), np.concatenate(done_first), np.repeat(done_at, done_count),
                     np.concatenate(done_out)], axis=1)
    rows = rows[np.argsort(rows[:, 2], kind="stable")]
    if burst is not None or whole_run:  # the benchmark's count: every request, from the first send to the last token
        rate = len(rows) / max(float(rows[:, 2].max() - rows[:, 0].min()), 1e-12)
    elif closed:  # steady state only: leave out the start-up burst and the drain once the last request is issued
        rows = rows[clients:len(rows) - clients] if len(rows) > 3 * clients else rows[clients:]
        rate = clients / max(float(np.mean(rows[:, 2] - rows[:, 0])), 1e-12)
    else:  # leave out the first tenth of arrivals (an empty engine) and measure the rate between the tenths of
        # completions, so neither the fill nor the drain of the run counts: the offered rate while the engine keeps
        # up, its capacity once the queue grows
        a, b = len(rows) // WARMUP_SHARE, len(rows) - len(rows) // WARMUP_SHARE
        rate = (b - 1 - a) / max(rows[b - 1, 2] - rows[a, 2], 1e-12) if b - a > 1 else len(rows) / max(
            rows[:, 2].max() - rows[:, 0].min(), 1e-12)
        rows = rows[rows[:, 0] >= np.sort(rows[:, 0])[len(rows) // WARMUP_SHARE]]
    ttft = rows[:, 1] - rows[:, 0]
    tpot = (rows[:, 2] - rows[:, 1]) / np.maximum(rows[:, 3] - 1.0, 1.0)
    out = {"requests": int(len(rows)), "seed": seed, "ttft_s_mean": float(ttft.mean()), "tpot_s_mean": float(tpot.mean()),
           "output_tokens_per_s": float(rate * output_len * plan.dp)}
    for q in PERCENTILES:
        out[f"ttft_s_p{q}"] = float(np.percentile(ttft, q))
        out[f"tpot_s_p{q}"] = float(np.percentile(tpot, q))
    return out


SLO_RATE_ROUNDS = 12
"""bisection rounds of :func:`slo_rate` (the rate is found to within 2**-12 of the saturation rate)"""


def slo_rate(model: Model, chip: Chip, plan: ServePlan, input_len: int, output_len: int, capacity: int,
             ttft_s: float | None, tpot_s: float | None, percentile: int = 99, requests: int = 2000,
             seed: int = 0) -> dict:
    """The highest Poisson arrival rate (requests/s, all replicas) whose simulated ``percentile`` TTFT and TPOT stay
    within the bounds, and the simulation at that rate: what a server scenario with tail-latency bounds (MLPerf's
    Server and Interactive: p99 TTFT and p99 TPOT) can sustain. Bisection between nothing and the closed loop's
    saturation rate (the KV cache or the engine's batch full); the same seed at every rate, so the search is
    deterministic. No rate meets the bounds: the lowest rate tried, ``met`` False."""
    limit = running_limit(plan, capacity)
    top = float(steady_state(model, chip, plan, input_len, output_len, capacity,
                             concurrency=limit * plan.dp)["requests_per_s"])

    def run(rate):
        return simulate(model, chip, plan, input_len, output_len, capacity, request_rate=rate, requests=requests,
                        seed=seed)

    def meets(sim):
        return ((ttft_s is None or sim[f"ttft_s_p{percentile}"] <= ttft_s)
                and (tpot_s is None or sim[f"tpot_s_p{percentile}"] <= tpot_s))

    lo, hi, best = 0.0, top, None
    for _ in range(SLO_RATE_ROUNDS):
        mid = 0.5 * (lo + hi)
        sim = run(mid)
        if meets(sim):
            lo, best = mid, sim
        else:
            hi = mid
    if best is None:
        return sim | {"request_rate": hi, "met": False}
    return best | {"request_rate": lo, "met": True, "output_tokens_per_s": min(best["output_tokens_per_s"],
                                                                             lo * output_len)}
