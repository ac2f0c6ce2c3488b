// The other tabs: post-training (POST /api/train per task), serving (POST /api/inference over concurrency, and the
// cheapest setup meeting the SLO), RL (POST /api/rl), one job over two pools (POST /api/plan with pools) and the
// fleet (POST /api/fleet). Shared helpers and PARTS / MEMORY come from app.js and plan.js.
const TASKS = ["sft", "lora", "qlora", "dpo"];
const TASK_ONLY = { lora_rank: ["lora", "qlora"], lora_targets: ["lora", "qlora"], reference: ["dpo"] };
// the form's fields a task reads (the API refuses an option given to a task that does not read it)
const forTask = (f, task) => Object.fromEntries(Object.entries({ ...f, task }).filter(([k]) => !TASK_ONLY[k] || TASK_ONLY[k].includes(task)));

async function runPosttrain(form, say) {
  // the chosen task first, then the others on the same job, so the table compares them
  const f = fields(form), order = [f.task, ...TASKS.filter((t) => t !== f.task)];
  say("estimating…");
  const results = await Promise.all(order.map((task) => post("/api/train", forTask(f, task)).catch((err) => ({ task, error: err.message }))));
  const cols = ["task", "step (s)", "tokens/s", "MFU (%)", "memory (GiB)", "time (h)", "device-hours", "note"];
  fillTable("posttrain-table", cols, results.map((r, i) => {
    const name = r.task + (i === 0 ? " (chosen)" : "");
    return r.error ? [name, null, null, null, null, null, null, r.error] :
      [name, round(r.step_time_s, 3), round(r.tokens_per_s, 0), round(100 * r.mfu, 1), round(r.memory_per_device_bytes / GIB, 1),
        r.total_time_s ? round(r.total_time_s / HOUR, 2) : null, r.device_hours ? round(r.device_hours, 1) : null, (r.notes || []).join("; ")];
  }));
  const ok = results.filter((r) => !r.error), labels = ok.map((r) => r.task);
  plotBreakdown("plot-posttrain-time", ok, labels, "Step time by part, per task", "task");
  plotMemory("plot-posttrain-memory", ok, labels, "Memory per device, per task", "task");
  offer("posttrain", results, "posttrain-table");
  say(results[0].error ? results[0].error : "");
}

async function runServing(form, say) {
  // one request size at rising concurrency (1, 2, 4, ... up to what fits or what was asked)
  const { concurrency, ...base } = fields(form);
  const ttft = Number($("slo_ttft_ms").value) || null, tpot = Number($("slo_tpot_ms").value) || null;
  say("estimating…");
  const first = await post("/api/inference", concurrency ? { ...base, concurrency } : base);
  const most = concurrency || first.max_concurrency || first.concurrency, levels = [];
  for (let c = 1; c < most; c *= 2) levels.push(c);
  levels.push(most);
  const points = await Promise.all(levels.map((c) => (c === first.concurrency ? first : post("/api/inference", { ...base, concurrency: c }))));
  const meets = (p) => (!ttft || p.ttft_s * 1e3 <= ttft) && (!tpot || p.tpot_s * 1e3 <= tpot);
  fillTable("serving-table", ["concurrency", "TTFT (ms)", "TTFT p99 (ms)", "TPOT (ms)", "output tokens/s", "tokens/s per device",
    "requests/s", "memory (GiB)", "meets the SLO"], points.map((p) => [p.concurrency, round(p.ttft_s * 1e3, 1),
    p.ttft_s_p99 ? round(p.ttft_s_p99 * 1e3, 1) : null, round(p.tpot_s * 1e3, 2), round(p.output_tokens_per_s, 0),
    round(p.output_tokens_per_s_per_device, 0), p.load ? round(p.load.requests_per_s, 2) : null,
    round(p.memory_per_device_bytes / GIB, 1), meets(p) ? "yes" : "no"]));
  plotServing(points, ttft, tpot);
  let best = null;
  if (ttft || tpot) {
    const { tp, devices, length_range_ratio, ...free } = base;  // the search picks devices and tp itself, and prices the mean lengths
    const slo = { ...(ttft ? { slo_ttft: `${ttft}ms` } : {}), ...(tpot ? { slo_tpot: `${tpot}ms` } : {}) };
    try {
      best = (await post("/api/inference", { ...free, chip: [base.chip], search: true, ...slo }))[0];
      $("serving-best").textContent = `Cheapest setup meeting the SLO on ${best.chip}: ${best.devices} device(s), tp${best.plan.tp}, ` +
        `${best.plan.precision}, ${best.concurrency} in flight: ${Math.round(best.output_tokens_per_s).toLocaleString("en-US")} ` +
        `output tokens/s, TTFT ${(best.ttft_s * 1e3).toFixed(0)} ms, TPOT ${(best.tpot_s * 1e3).toFixed(1)} ms.`;
    } catch (err) { $("serving-best").textContent = `No setup meets the SLO: ${err.message}`; }
  } else $("serving-best").textContent = "";
  offer("serving", { points, slo_search: best }, "serving-table");
  say([...(first.warnings || []), expectedText(first.expected_error)].filter(Boolean).join("; "));
}

function plotServing(points, ttft, tpot) {
  const x = points.map((p) => p.concurrency), ms = (v) => v * 1e3;
  const traces = [
    { type: "scatter", mode: "lines+markers", name: "TTFT (ms)", x, y: points.map((p) => ms(p.ttft_s)) },
    { type: "scatter", mode: "lines+markers", name: "TPOT (ms)", x, y: points.map((p) => ms(p.tpot_s)) },
    { type: "scatter", mode: "lines+markers", name: "output tokens/s", x, y: points.map((p) => p.output_tokens_per_s), yaxis: "y2",
      line: { dash: "dot" } }];
  const level = (name, v) => ({ type: "scatter", mode: "lines", name, x: [x[0], x[x.length - 1]], y: [v, v], line: { dash: "dash", width: 1 } });
  if (ttft) traces.push(level("TTFT SLO", ttft));
  if (tpot) traces.push(level("TPOT SLO", tpot));
  plot("plot-serving-latency", traces, layout("Latency and throughput against concurrency", "sequences in flight",
    "latency (ms)", { xaxis: logAxis("sequences in flight", x), yaxis: logAxis("latency (ms)"),
      yaxis2: rightAxis("output tokens/s") }));
  const tradeoff = [{ type: "scatter", mode: "lines+markers+text", name: "concurrency", x: points.map((p) => ms(p.tpot_s)),
    y: points.map((p) => p.output_tokens_per_s_per_device), text: x.map(String), textposition: "top left" }];
  if (tpot) {
    const ys = points.map((p) => p.output_tokens_per_s_per_device);
    tradeoff.push({ type: "scatter", mode: "lines", name: "TPOT SLO", x: [tpot, tpot], y: [0, Math.max(...ys)], line: { dash: "dash", width: 1 } });
  }
  plot("plot-serving-tradeoff", tradeoff, layout("Throughput per device against time per output token", "TPOT (ms)",
    "output tokens/s per device"));
}

const RL_PHASES = [["generation_s", "generation"], ["weight_sync_s", "weight sync"],
  ["engine_switch_s", "engine switch"], ["inference_passes_s", "log-prob / reference passes"],
  ["training_s", "training"], ["orchestration_s", "orchestration"]];

async function runRL(form, say) {
  // one step as it runs colocated and on-policy, and the best layout with one step off-policy (xpuplan rl --search)
  say("pricing the RL step…");
  const job = fields(form);
  const steps = [await post("/api/rl", job), await post("/api/rl", { ...job, search: true, off_policy_steps: 1 })];
  const x = ["colocated, on-policy", "best layout, 1 step off-policy"].map(wrap);
  const traces = RL_PHASES.map(([key, name]) => ({ type: "bar", name, x, y: steps.map((s) => s[key]) }));
  traces.push({ type: "scatter", mode: "markers", name: "step time", x, y: steps.map((s) => s.step_time_s),
    marker: { symbol: "line-ew-open", size: 40, color: "black" } });
  plot("plot-rl", traces, layout("RL step by phase (overlapped phases exceed the step)", "layout", "seconds per step",
    { barmode: "stack" }));
  fillTable("rl-table", ["layout", "step (s)", ...RL_PHASES.map(([, name]) => name + " (s)")],
    steps.map((s, i) => [x[i].replace(/<br>/g, " "), round(s.step_time_s, 2), ...RL_PHASES.map(([key]) => round(s[key], 2))]));
  offer("rl", steps, "rl-table");
  say([...steps[0].notes, expectedText(steps[0].expected_error)].filter(Boolean).join("; "));
}

function poolsHow(p) {
  return p.strategy === "pipeline split"
    ? p.pools.map((q) => `${q.chip}: tp${q.tp} pp${q.pp}, ${q.layers} layers`).join("; ") + `; dp${p.dp}`
    : p.pools.map((q) => `${q.chip}: tp${q.plan.tp} pp${q.plan.pp} dp${q.plan.dp}, ${q.sequences} seqs/step`).join("; ");
}

async function runPools(form, say) {
  // one job over two chip kinds (plan --pool A:N --pool B:M): the mixed plans beside each pool alone
  say("planning over two pools…");
  const pool = (side) => `${$(`pool_${side}_chip`).value}:${$(`pool_${side}_devices`).value}`;
  const r = await post("/api/plan", { ...fields(form), pools: [pool("a"), pool("b")] });
  const rows = r.plans.map((p, i) => [`#${i + 1} ${p.strategy}`, poolsHow(p), round(p.step_time_s, 3), round(p.tokens_per_s, 0),
    round(100 * p.mfu, 1)]);
  r.alone.forEach((a, i) => rows.push(a ? [`${r.pools[i].chip} alone (${r.pools[i].devices})`, `tp${a.plan.tp} pp${a.plan.pp} dp${a.plan.dp}`,
    round(a.step_time_s, 3), round(a.tokens_per_s, 0), round(100 * a.mfu, 1)] : [`${r.pools[i].chip} alone`, "does not fit", null, null, null]));
  fillTable("pools-table", ["plan", "how", "step (s)", "tokens/s", "MFU (%)"], rows);
  const shown = rows.filter((row) => row[3] !== null), labels = shown.map((row) => wrap(row[0]));
  plot("plot-pools", [
    { type: "bar", name: "tokens/s", x: labels, y: shown.map((row) => row[3]), offsetgroup: 1 },
    { type: "bar", name: "MFU (%)", x: labels, y: shown.map((row) => row[4]), yaxis: "y2", offsetgroup: 2 },
  ], layout("Two pools together against each pool alone", "plan", "throughput (tokens/s)",
    { barmode: "group", yaxis2: { ...rightAxis("MFU (%; mixed: of both pools' peaks)"), tickformat: ".0f" } }));
  offer("pools", r, "pools-table");
  say((r.warnings || []).join("; "));
}

async function runFleet(form, say) {
  // the fleet plan: cost per pool against the single-kind baseline, and the allocation table
  say("solving the fleet…");
  const f = await post("/api/fleet", { fleet: JSON.parse($("fleet-spec").value), workloads: JSON.parse($("fleet-workloads").value) });
  const pools = Object.keys(f.cost_by_pool);
  plot("plot-fleet", [
    { type: "bar", name: "this plan", x: pools, y: pools.map((p) => f.cost_by_pool[p]) },
    { type: "bar", name: `baseline: all ${f.baseline.chip}`, x: ["baseline"], y: [f.baseline.usd_total] }],
  layout(`Fleet cost: ${f.usd_total.toFixed(0)} USD (${(100 * (f.saving_fraction || 0)).toFixed(0)}% below the baseline)`,
    "pool", "USD over the horizon"));
  fillTable("fleet-allocation", ["workload", "kind", "pool", "devices", "start (s)", "finish (s)", "USD"],
    f.allocation.map((r) => [r.workload, r.kind, r.pool, r.devices, r.start_s, r.finish_s, round(r.usd, 0)]));
  offer("fleet", f, "fleet-allocation");
  say(`${f.usd_per_hour.toFixed(2)} USD/h for the services; binding: ${f.binding_constraints.join("; ") || "none"}`);
}

TAB_RUNNERS.push(["posttrain", "posttrain-form", runPosttrain], ["serving", "serving-form", runServing],
  ["rl", "rl-job", runRL], ["pools", "pools-form", runPools], ["fleet", "fleet-job", runFleet]);
