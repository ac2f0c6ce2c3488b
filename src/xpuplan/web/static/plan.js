// The pre-training tab: the best plans of one chip (POST /api/plan), a pinned plan priced (POST /api/train) and
// written as a launch file (POST /api/export), the best plan per cluster size, and the same job on other chips.
const PARTS = [["compute_s", "compute"], ["tp_comm_s", "TP comm"], ["cp_comm_s", "CP comm"], ["ep_comm_s", "EP all-to-all"],
  ["moe_route_s", "MoE routing"], ["moe_imbalance_s", "MoE imbalance"], ["pp_bubble_s", "pipeline bubble"],
  ["pp_comm_s", "pipeline p2p"], ["dp_comm_s", "DP comm"], ["optimizer_s", "optimizer"], ["offload_s", "offload"],
  ["reference_s", "reference model"], ["encoder_s", "vision encoder"]];
const MEMORY = [["weights_bytes", "weights"], ["gradients_bytes", "gradients"], ["optimizer_bytes", "optimizer"],
  ["activations_bytes", "activations"], ["buffers_bytes", "buffers"]];
const PINS = ["tp", "pp", "vpp", "cp", "ep", "dp", "micro_batch", "zero", "recompute"];
const planState = { plans: [], pinned: null, scaling: [], chips: [], exported: null };

function planJob(form) {
  // the plan form split: the job, the search's own fields, and the pinned degrees
  const f = fields(form), pins = {};
  for (const k of PINS) if (k in f) { pins[k] = f[k]; delete f[k]; }
  const { chip, devices, top, objective, ...job } = f;
  return { job, chip, devices, top, objective, pins };
}

function planLabel(p, i) {
  const q = p.plan;
  return (p.pinned ? "pinned" : `#${i + 1}`) + ` tp${q.tp} pp${q.pp} dp${q.dp}` + (q.cp > 1 ? ` cp${q.cp}` : "") +
    (q.ep > 1 ? ` ep${q.ep}` : "") + (q.etp !== undefined && q.etp !== q.tp ? ` etp${q.etp}` : "") + (q.vpp > 1 ? ` v${q.vpp}` : "");
}

function shownPlans() {
  return planState.pinned ? [planState.pinned, ...planState.plans] : planState.plans;
}

function pinFrom(p) {
  // a row of the table clicked: its degrees into the pinned fields
  for (const k of PINS) $(k).value = p.plan[k] ?? "";
  remember();
}

function renderPlanTable() {
  const plans = shownPlans(), cols = ["plan", "mbs", "zero", "recompute", "precision", "step (s)", "tokens/s", "MFU (%)",
    "memory (GiB)", "headroom (GiB)", "time (days)", "cost (M USD)"];
  fillTable("plans-table", cols, plans.map((p, i) => {
    const rel = p.reliability || {}, cost = p.cost || {};
    return [planLabel(p, i - (planState.pinned ? 1 : 0)), p.plan.micro_batch, p.plan.zero, p.plan.recompute, p.plan.precision,
      round(p.step_time_s, 3), round(p.tokens_per_s, 0), round(100 * p.mfu, 1), round(p.memory_per_device_bytes / GIB, 1),
      round((p.hbm_bytes - p.memory_per_device_bytes) / GIB, 1), rel.total_time_s ? round(rel.total_time_s / DAY, 1) : null,
      cost.usd ? round(cost.usd / 1e6, 2) : null];
  }), (i) => pinFrom(plans[i]));
}

function plotBreakdown(id, results, labels, title, xTitle = "plan") {
  const used = PARTS.filter(([key]) => results.some((p) => p.breakdown[key] > 0));
  plot(id, used.map(([key, name]) => ({ type: "bar", name, x: labels, y: results.map((p) => p.breakdown[key]) })),
    layout(title, xTitle, "step time (s)", { barmode: "stack" }));
}

function plotMemory(id, results, labels, title, xTitle = "plan") {
  const traces = MEMORY.map(([key, name]) => ({ type: "bar", name, x: labels, y: results.map((p) => p.memory[key] / GIB) }));
  traces.push({ type: "scatter", mode: "lines+markers", name: "device capacity", x: labels, y: results.map((p) => p.hbm_bytes / GIB),
    line: { dash: "dash", color: "black" } });
  plot(id, traces, layout(title, xTitle, "memory per device (GiB)", { barmode: "stack" }));
}

function renderPlans() {
  const plans = shownPlans(), offset = planState.pinned ? 1 : 0;
  const labels = plans.map((p, i) => wrap(planLabel(p, i - offset)));
  renderPlanTable();
  $("plans-accuracy").textContent = plans.length ? expectedText(plans[0].expected_error) : "";
  plotBreakdown("plot-breakdown", plans, labels, "Step time by part");
  plotMemory("plot-memory", plans, labels, "Memory per device against capacity");
}

function plotScaling(points) {
  points.sort((a, b) => a.devices - b.devices);
  const x = points.map((p) => p.devices);
  plot("plot-scaling", [
    { type: "scatter", mode: "lines+markers", name: "tokens/s", x, y: points.map((p) => p.tokens_per_s) },
    { type: "scatter", mode: "lines+markers", name: "MFU (%)", x, y: points.map((p) => 100 * p.mfu), yaxis: "y2" },
  ], layout("Best plan per cluster size", "devices", "throughput (tokens/s)",
    { xaxis: logAxis("devices", x), yaxis2: { ...rightAxis("MFU (%)"), rangemode: "normal", tickformat: ".1f" } }));
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
  const pts = plans.filter((p) => p.cost && p.reliability).map((p, i) => ({ x: p.reliability.total_time_s / DAY,
    y: (priced ? p.cost.usd : p.cost.device_hours) / 1e6, label: planLabel(p, i) }));
  const front = pareto(pts);
  plot("plot-cost", [
    { type: "scatter", mode: "markers", name: "plans", x: pts.map((p) => p.x), y: pts.map((p) => p.y), text: pts.map((p) => p.label) },
    { type: "scatter", mode: "lines+markers", name: "Pareto front", x: front.map((p) => p.x), y: front.map((p) => p.y) },
  ], layout("Cost against time (failures included)", "wall-clock time (days)",
    priced ? "cost (million USD)" : "cost (million device-hours; no price)"));
}

function plotChips(best) {
  const x = best.map((p) => p.chip);
  plot("plot-chips", [
    { type: "bar", name: "time (days)", x, y: best.map((p) => (p.reliability ? p.reliability.total_time_s : p.total_time_s) / DAY), offsetgroup: 1 },
    { type: "bar", name: "MFU (%)", x, y: best.map((p) => 100 * p.mfu), yaxis: "y2", offsetgroup: 2 },
  ], layout("The same job on each chip (best plan)", "chip", "wall-clock time (days)",
    { barmode: "group", yaxis2: { ...rightAxis("MFU (%)"), tickformat: ".0f" } }));
}

function offerPlan(extra) {
  const { plans, pinned, scaling, chips, exported } = planState;
  offer("plan", { plans, pinned, scaling, chips, exported }, "plans-table", extra);
}

async function runPlan(form, say) {
  say("planning…");
  const { job, chip, devices, top, objective } = planJob(form);
  const compare = checked(form, "compare");
  planState.plans = await post("/api/plan", { ...job, chip, devices: String(devices), top, objective });
  renderPlans();
  plotCost(planState.plans);
  const low = Math.max(8, Math.round(devices / 8)), high = devices * 4;
  planState.scaling = await post("/api/plan", { ...job, chip, devices: `${low}..${high}`, top: 1, trials: 50 });
  plotScaling(planState.scaling);
  planState.chips = [];
  const failed = [];
  for (const [i, other] of compare.entries()) {
    say(`comparing chips: ${other} (${i + 1} of ${compare.length})…`);
    try { planState.chips.push((await post("/api/plan", { ...job, chip: other, devices: String(devices), top: 1, trials: 50 }))[0]); }
    catch (err) { failed.push(`${other}: ${err.message}`); }
  }
  plotChips(planState.chips);
  offerPlan();
  say(failed.join("; "));
}

function pinnedBody(form) {
  // the job with its pinned degrees; none pinned after a search: the best plan's
  const { job, chip, devices, pins } = planJob(form);
  const best = planState.plans[0];
  const degrees = Object.keys(pins).length || !best ? pins :
    Object.fromEntries(PINS.map((k) => [k, best.plan[k]]).concat([["precision", best.plan.precision]]));
  return { ...job, chip, devices: Number(devices), ...degrees };
}

async function pricePinned(form, say) {
  say("pricing the pinned plan…");
  const result = await post("/api/train", pinnedBody(form));
  planState.pinned = { ...result, pinned: true };
  renderPlans();
  offerPlan();
  say("");
}

async function exportPinned(form, say) {
  say("writing the launch file…");
  const { tokens, ...body } = pinnedBody(form);  // a launch file needs no token budget
  const done = await post("/api/export", { ...body, format: $("format").value });
  planState.exported = done;
  $("export-text").hidden = false;
  $("export-text").textContent = done.text + (done.launcher ? "\n" + done.launcher : "");
  const extra = [link(done.filename, `launch file (${done.filename})`, done.text, "text/plain")];
  if (done.launcher) extra.push(link(`${done.format}.args`, "launcher flags", done.launcher, "text/plain"));
  offerPlan(extra);
  say("");
}

TAB_RUNNERS.push(["plan", "job", runPlan, (act) => {
  $("price").addEventListener("click", act(pricePinned));
  $("export").addEventListener("click", act(exportPinned));
}]);
