// The page only renders answers of the JSON API; no modelling happens here.
const $ = (id) => document.getElementById(id);
const PARTS = [["compute_s", "compute"], ["tp_comm_s", "TP comm"], ["cp_comm_s", "CP comm"], ["ep_comm_s", "EP all-to-all"],
  ["pp_bubble_s", "pipeline bubble"], ["pp_comm_s", "pipeline p2p"], ["dp_comm_s", "DP comm"], ["optimizer_s", "optimizer"]];
const MEMORY = [["weights_bytes", "weights"], ["gradients_bytes", "gradients"], ["optimizer_bytes", "optimizer"],
  ["activations_bytes", "activations"], ["buffers_bytes", "buffers"]];
const GIB = 2 ** 30, DAY = 86400;

async function post(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const data = await res.json();
  if (!res.ok) {
    const d = data.detail;
    throw new Error(Array.isArray(d) ? d.map((e) => `${e.loc.slice(-1)[0]}: ${e.msg}`).join("; ") : d);
  }
  return data;
}

function planLabel(p, i) {
  const q = p.plan;
  return `#${i + 1} tp${q.tp} pp${q.pp} dp${q.dp}` + (q.cp > 1 ? ` cp${q.cp}` : "") + (q.ep > 1 ? ` ep${q.ep}` : "") +
    (q.etp !== undefined && q.etp !== q.tp ? ` etp${q.etp}` : "") + (q.vpp > 1 ? ` v${q.vpp}` : "");
}

function renderTable(plans) {
  const cols = ["plan", "mbs", "zero", "recompute", "step (s)", "tokens/s", "MFU", "memory (GiB)", "headroom (GiB)", "time (days)", "USD (M)"];
  $("plans-table").querySelector("thead").innerHTML = "<tr>" + cols.map((c) => `<th>${c}</th>`).join("") + "</tr>";
  $("plans-table").querySelector("tbody").innerHTML = plans.map((p, i) => {
    const rel = p.reliability || {}, cost = p.cost || {};
    const cells = [planLabel(p, i), p.plan.micro_batch, p.plan.zero, p.plan.recompute, p.step_time_s.toFixed(3),
      Math.round(p.tokens_per_s).toLocaleString(), (100 * p.mfu).toFixed(1) + "%", (p.memory_per_device_bytes / GIB).toFixed(1),
      ((p.hbm_bytes - p.memory_per_device_bytes) / GIB).toFixed(1),
      rel.total_time_s ? (rel.total_time_s / DAY).toFixed(1) : "—", cost.usd ? (cost.usd / 1e6).toFixed(2) : "—"];
    return "<tr>" + cells.map((c) => `<td>${c}</td>`).join("") + "</tr>";
  }).join("");
}

function plotBreakdown(plans) {
  const x = plans.map(planLabel);
  const traces = PARTS.map(([key, name]) => ({ type: "bar", name, x, y: plans.map((p) => p.breakdown[key]) }));
  Plotly.newPlot("plot-breakdown", traces, { barmode: "stack", title: "Step time by part",
    xaxis: { title: { text: "plan" } }, yaxis: { title: { text: "step time (s)" } } });
}

function plotMemory(plans) {
  const x = plans.map(planLabel);
  const traces = MEMORY.map(([key, name]) => ({ type: "bar", name, x, y: plans.map((p) => p.memory[key] / GIB) }));
  traces.push({ type: "scatter", mode: "lines", name: "device capacity", x, y: plans.map((p) => p.hbm_bytes / GIB),
    line: { dash: "dash", color: "black" } });
  Plotly.newPlot("plot-memory", traces, { barmode: "stack", title: "Memory per device against capacity",
    xaxis: { title: { text: "plan" } }, yaxis: { title: { text: "memory per device (GiB)" } } });
}

function plotScaling(points) {
  points.sort((a, b) => a.devices - b.devices);
  const x = points.map((p) => p.devices);
  Plotly.newPlot("plot-scaling", [
    { type: "scatter", mode: "lines+markers", name: "tokens/s", x, y: points.map((p) => p.tokens_per_s) },
    { type: "scatter", mode: "lines+markers", name: "MFU (%)", x, y: points.map((p) => 100 * p.mfu), yaxis: "y2" },
  ], { margin: { r: 80 }, title: "Best plan per cluster size", xaxis: { title: { text: "devices" }, type: "log" },
    yaxis: { title: { text: "throughput (tokens/s)" } },
    yaxis2: { title: { text: "MFU (%)" }, overlaying: "y", side: "right" } });
}

function pareto(points) {
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const front = [];
  let best = Infinity;
  for (const p of sorted) if (p.y < best) { front.push(p); best = p.y; }
  return front;
}

function plotCost(plans) {
  // USD where the chip has a price; device-hours otherwise (the axis says which)
  const priced = plans.every((p) => p.cost && p.cost.usd);
  const pts = plans.filter((p) => p.cost).map((p, i) => ({ x: p.reliability.total_time_s / DAY,
    y: (priced ? p.cost.usd : p.cost.device_hours) / 1e6, label: planLabel(p, i) }));
  const front = pareto(pts);
  Plotly.newPlot("plot-cost", [
    { type: "scatter", mode: "markers", name: "plans", x: pts.map((p) => p.x), y: pts.map((p) => p.y), text: pts.map((p) => p.label) },
    { type: "scatter", mode: "lines+markers", name: "Pareto front", x: front.map((p) => p.x), y: front.map((p) => p.y) },
  ], { title: "Cost against time (failures included)", xaxis: { title: { text: "wall-clock time (days)" } },
    yaxis: { title: { text: priced ? "cost (million USD)" : "cost (million device-hours; no price in the catalog)" } } });
}

function plotChips(best) {
  const x = best.map((p) => p.chip);
  Plotly.newPlot("plot-chips", [
    { type: "bar", name: "time (days)", x, y: best.map((p) => (p.reliability ? p.reliability.total_time_s : p.total_time_s) / DAY), offsetgroup: 1 },
    { type: "bar", name: "MFU (%)", x, y: best.map((p) => 100 * p.mfu), yaxis: "y2", offsetgroup: 2 },
  ], { margin: { r: 80 }, title: "The same job on each chip (best plan)", barmode: "group", xaxis: { title: { text: "chip" } },
    yaxis: { title: { text: "wall-clock time (days)" } }, yaxis2: { title: { text: "MFU (%)" }, overlaying: "y", side: "right" } });
}

async function run(event) {
  event.preventDefault();
  $("status").textContent = "planning…";
  const chips = [...document.querySelectorAll("#chips input:checked")].map((e) => e.value);
  chips.sort((a, b) => (b === "h100-sxm") - (a === "h100-sxm"));  // plan the reference chip in detail first
  const devices = Number($("devices").value);
  const job = { model: $("model").value, seq_len: Number($("seq_len").value), global_batch_tokens: $("global_batch_tokens").value,
    tokens: $("tokens").value };
  try {
    const plans = await post("/api/plan", { ...job, chip: chips[0], devices: String(devices), top: Number($("top").value) });
    renderTable(plans); plotBreakdown(plans); plotMemory(plans); plotCost(plans);
    const low = Math.max(8, devices / 8), high = devices * 4;
    plotScaling(await post("/api/plan", { ...job, chip: chips[0], devices: `${low}..${high}`, top: 1, trials: 50 }));
    const best = [];
    for (const chip of chips) {
      try { best.push((await post("/api/plan", { ...job, chip, devices: String(devices), top: 1, trials: 50 }))[0]); }
      catch (err) { console.warn(chip, err.message); }
    }
    plotChips(best);
    $("status").textContent = "";
  } catch (err) {
    $("status").textContent = err.message;
  }
}

const RL_PHASES = [["generation_s", "generation"], ["weight_sync_s", "weight sync"],
  ["engine_switch_s", "engine switch"], ["inference_passes_s", "log-prob / reference passes"],
  ["training_s", "training"], ["orchestration_s", "orchestration"]];

async function runRL(event) {
  // one GRPO step as it runs colocated and on-policy, and the best layout with one step off-policy (xpuplan rl --search)
  event.preventDefault();
  $("rl-status").textContent = "pricing the RL step…";
  const chip = [...document.querySelectorAll("#chips input:checked")].map((e) => e.value)[0];
  const job = { model: $("model").value, chip, devices: Number($("devices").value) };
  for (const key of ["rollouts_per_step", "train_global_batch", "prompt_len", "response_len", "max_seq_len"]) job[key] = Number($(key).value);
  try {
    const steps = [await post("/api/rl", job), await post("/api/rl", { ...job, search: true, off_policy_steps: 1 })];
    const x = ["colocated, on-policy", "best layout, 1 step off-policy"];
    const traces = RL_PHASES.map(([key, name]) => ({ type: "bar", name, x, y: steps.map((s) => s[key]) }));
    traces.push({ type: "scatter", mode: "markers", name: "step time", x, y: steps.map((s) => s.step_time_s),
      marker: { symbol: "line-ew-open", size: 40, color: "black" } });
    Plotly.newPlot("plot-rl", traces, { barmode: "stack", title: "RL step by phase (overlapped phases exceed the step)",
      xaxis: { title: { text: "layout" } }, yaxis: { title: { text: "seconds per step" } } });
    $("rl-status").textContent = steps[0].notes[0] || "";
  } catch (err) {
    $("rl-status").textContent = err.message;
  }
}

async function runFleet(event) {
  // the fleet plan (POST /api/fleet): cost per pool against the single-kind baseline, and the allocation table
  event.preventDefault();
  $("fleet-status").textContent = "solving the fleet…";
  try {
    const body = { fleet: JSON.parse($("fleet-spec").value), workloads: JSON.parse($("fleet-workloads").value) };
    const f = await post("/api/fleet", body);
    const pools = Object.keys(f.cost_by_pool);
    Plotly.newPlot("plot-fleet", [
      { type: "bar", name: "this plan", x: pools, y: pools.map((p) => f.cost_by_pool[p]) },
      { type: "bar", name: `baseline: all ${f.baseline.chip}`, x: ["baseline"], y: [f.baseline.usd_total] }],
      { title: `fleet cost: ${f.usd_total.toFixed(0)} USD (${(100 * (f.saving_fraction || 0)).toFixed(0)}% below the baseline)`,
        xaxis: { title: { text: "pool" } }, yaxis: { title: { text: "USD over the horizon" } } });
    const cells = (r) => [r.workload, r.kind, r.pool, r.devices, r.start_s, r.finish_s, r.usd.toFixed(0)];
    $("fleet-allocation").innerHTML = "<tr><th>workload</th><th>kind</th><th>pool</th><th>devices</th><th>start (s)</th>" +
      "<th>finish (s)</th><th>USD</th></tr>" + f.allocation.map((r) => `<tr>${cells(r).map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
    $("fleet-status").textContent = `${f.usd_per_hour.toFixed(2)} USD/h for the services; binding: ${f.binding_constraints.join("; ") || "none"}`;
  } catch (err) {
    $("fleet-status").textContent = err.message;
  }
}

async function init() {
  const [models, chips] = await Promise.all([fetch("/api/catalog/models").then((r) => r.json()), fetch("/api/catalog/chips").then((r) => r.json())]);
  $("model").innerHTML = models.map((m) => `<option value="${m.name}" ${m.name === "llama3-70b" ? "selected" : ""}>${m.name}</option>`).join("");
  const usable = chips.filter((c) => c.bf16_tflops && c.hbm_tb_per_s);
  $("chips").innerHTML += usable.map((c) => `<label><input type="checkbox" value="${c.name}" ${["h100-sxm", "h800", "ascend-910b"].includes(c.name) ? "checked" : ""}>${c.name}</label>`).join("");
  $("job").addEventListener("submit", run);
  $("rl-job").addEventListener("submit", runRL);
  $("fleet-job").addEventListener("submit", runFleet);
}
init();
