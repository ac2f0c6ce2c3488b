// The page only renders answers of the JSON API; no modelling happens here.
// app.js holds what every tab shares: requests, form fields, tables, plots, downloads, the tabs and the shareable
// link (the open tab's inputs in location.hash); plan.js draws the pre-training tab, tabs.js the others.
const $ = (id) => document.getElementById(id);
const GIB = 2 ** 30, DAY = 86400, HOUR = 3600;
const FORMS = {};   // tab -> its form
const TABLES = {};  // table id -> {cols, rows} as last drawn (the CSV download)
let ACTIVE = "plan";

async function post(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const data = await res.json();
  if (!res.ok) {
    const d = data.detail;
    throw new Error(Array.isArray(d) ? d.map((e) => `${e.loc.slice(-1)[0]}: ${e.msg}`).join("; ") : d);
  }
  return data;
}

// ------------------------------------------------------------------------------------------------ form fields

function read(el) {
  if (el.type === "checkbox") return el.dataset.kind === "bool" ? el.checked : undefined;  // groups: checked()
  if (el.value === "") return undefined;  // empty: the API's default
  return el.type === "number" || el.dataset.kind === "int" ? Number(el.value) : el.value;
}

function fields(form) {
  // the API fields of a form: every named input except those marked local (page-only inputs)
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.classList.contains("local")) continue;
    const v = read(el);
    if (v !== undefined) out[el.name] = v;
  }
  return out;
}

const checked = (form, name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((e) => e.value);

// --------------------------------------------------------------------------------------------- shareable link

function encodeTab(tab) {
  // every named input of the tab, as typed (so a link restores exactly what was on screen)
  const params = new URLSearchParams({ tab }), groups = {};
  for (const el of FORMS[tab].elements) {
    if (!el.name) continue;
    if (el.type === "checkbox" && el.dataset.kind !== "bool") {
      groups[el.name] = groups[el.name] || [];
      if (el.checked) groups[el.name].push(el.value);
    } else if (el.type === "checkbox") params.set(el.name, el.checked ? "1" : "0");
    else params.set(el.name, el.value);
  }
  for (const [name, values] of Object.entries(groups)) params.set(name, values.join(","));
  return params.toString();
}

function restore(hash) {
  // the inputs a link names, put back; returns the tab it names (or null)
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const tab = params.get("tab");
  if (!FORMS[tab]) return null;
  for (const el of FORMS[tab].elements) {
    if (!el.name || !params.has(el.name)) continue;
    const v = params.get(el.name);
    if (el.type === "checkbox" && el.dataset.kind !== "bool") el.checked = v.split(",").includes(el.value);
    else if (el.type === "checkbox") el.checked = v === "1" || v === "true";
    else el.value = v;
  }
  return tab;
}

function remember() {
  history.replaceState(null, "", "#" + encodeTab(ACTIVE));
}

function show(tab) {
  ACTIVE = tab;
  for (const b of document.querySelectorAll("#tabs [role=tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== "tab-" + tab;
  for (const p of $("tab-" + tab).querySelectorAll(".plot")) if (p.data) Plotly.Plots.resize(p);
  remember();
}

// ------------------------------------------------------------------------------------------ tables, downloads

function cell(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "number") return String(v);
  return Math.abs(v) >= 1000 ? v.toLocaleString("en-US", { maximumFractionDigits: 0 }) : String(v);
}

const round = (x, digits) => (x === null || x === undefined || !isFinite(x) ? null : Number(x.toFixed(digits)));

function expectedText(e) {
  // a result's expected_error: how far estimates of its kind have landed from published runs they were not fitted on
  if (!e) return "";
  const band = (b) => `±${Math.round(100 * b.median_abs)}% typical, ±${Math.round(100 * b.p90_abs)}% at p90`;
  if (e.median_abs !== undefined) return `expected error on runs it was not fitted on: ${band(e)} (${e.runs} published runs)`;
  return "expected error on runs it was not fitted on: " + [["ttft_s", "TTFT"], ["tpot_s", "TPOT"],
    ["output_tokens_per_s", "throughput"]].filter(([k]) => e[k]).map(([k, name]) => `${name} ${band(e[k])}`).join(", ");
}

function fillTable(id, cols, rows, onRow) {
  // rows hold plain values; the table shows them formatted, the CSV download as they are
  TABLES[id] = { cols, rows };
  const line = (values, tag) => {
    const tr = document.createElement("tr");
    for (const v of values) {
      const c = document.createElement(tag);
      c.textContent = tag === "th" ? v : cell(v);
      if (tag === "td" && typeof v === "string") c.className = "text";
      tr.append(c);
    }
    return tr;
  };
  const head = document.createElement("thead"), body = document.createElement("tbody");
  head.append(line(cols, "th"));
  cols.forEach((_, j) => { if (rows.length && typeof rows[0][j] === "string") head.firstChild.children[j].className = "text"; });
  rows.forEach((r, i) => {
    const tr = line(r, "td");
    if (onRow) {
      tr.classList.add("pick");
      tr.title = "click to pin this plan";
      tr.addEventListener("click", () => onRow(i));
    }
    body.append(tr);
  });
  $(id).replaceChildren(head, body);
}

function csv({ cols, rows }) {
  const quote = (v) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return [cols, ...rows].map((r) => r.map(quote).join(",")).join("\n") + "\n";
}

function link(filename, text, content, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([content], { type }));
  a.download = filename;
  a.textContent = text;
  return a;
}

function offer(tab, json, tableId, extra = []) {
  // the tab's last result as JSON, its table as CSV (and any launch file), as links to Blobs made here
  const box = $(tab + "-downloads");
  for (const a of box.querySelectorAll("a")) URL.revokeObjectURL(a.href);
  const links = [link(`xpuplan-${tab}.json`, "JSON", JSON.stringify(json, null, 1) + "\n", "application/json")];
  if (tableId && TABLES[tableId]) links.push(link(`xpuplan-${tab}.csv`, "CSV (the table)", csv(TABLES[tableId]), "text/csv"));
  box.replaceChildren("Download the last result: ");
  for (const a of links.concat(extra)) box.append(a, " ");
}

// ------------------------------------------------------------------------------------------------------ plots

function layout(title, xTitle, yTitle, extra = {}) {
  // every plot: a title, both axis titles, the legend between the title and the plot, room for a right axis
  return { title: { text: title, x: 0.01, xanchor: "left", y: 0.98, yanchor: "top", yref: "container" },
    margin: { l: 80, r: 90, t: 110, b: 70 }, legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" },
    xaxis: { title: { text: xTitle }, automargin: true }, yaxis: { title: { text: yTitle }, automargin: true }, ...extra };
}

const rightAxis = (title) => ({ title: { text: title }, overlaying: "y", side: "right", automargin: true, showgrid: false,
  rangemode: "tozero", tickmode: "auto" });
const logAxis = (title, ticks) => ({ title: { text: title }, type: "log", automargin: true, ...(ticks ? { tickvals: ticks } : { dtick: 1 }) });
const wrap = (label) => label.split(" ").reduce((lines, word) => {
  // a category label over short lines, so labels need not slant across the legend
  const last = lines[lines.length - 1];
  if (last && (last + " " + word).length <= 12) lines[lines.length - 1] = last + " " + word; else lines.push(word);
  return lines;
}, []).join("<br>");

function plot(id, traces, lay) {
  Plotly.newPlot(id, traces, lay, { responsive: true, displaylogo: false });
}

// ------------------------------------------------------------------------------------------------ catalogs

function chipTitle(c) {
  const low = c.low_confidence_fields && c.low_confidence_fields.length ? `; least sure: ${c.low_confidence_fields.join(", ")}` : "";
  return `${c.vendor}: ${c.bf16_tflops ?? "?"} TFLOPS bf16, ${c.hbm_gib ?? "?"} GiB at ${c.hbm_tb_per_s ?? "?"} TB/s; ` +
    `figures' confidence ${c.confidence}${low}`;
}

function option(value, text, title) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  if (title) o.title = title;
  return o;
}

function fillSelects(cls, items, text, title) {
  for (const sel of document.querySelectorAll("select." + cls)) {
    sel.replaceChildren(...items.map((x) => option(x.name, text(x), title && title(x))));
    if (sel.dataset.default) sel.value = sel.dataset.default;
    for (const o of sel.options) o.defaultSelected = o.selected;
  }
}

function fillChips(chips) {
  fillSelects("chips", chips, (c) => `${c.name} (${c.confidence})`, chipTitle);
  const box = $("chips"), keep = box.querySelector("legend");
  box.replaceChildren(keep, ...chips.map((c) => {
    const label = document.createElement("label"), input = document.createElement("input"), conf = document.createElement("small");
    input.type = "checkbox";
    input.name = "compare";
    input.value = c.name;
    input.className = "local";
    input.checked = input.defaultChecked = ["h100-sxm", "h800", "ascend-910b"].includes(c.name);
    conf.className = "conf conf-" + c.confidence;
    conf.textContent = `(${c.confidence})`;
    label.title = chipTitle(c);
    label.append(input, " " + c.name + " ", conf);
    return label;
  }));
}

// ---------------------------------------------------------------------------------------------------- wiring

function wire(tab, formId, runner, setup) {
  // a tab's form: submitting runs it (errors in its status line), any edit updates the link
  const form = $(formId), status = $(tab === "plan" ? "status" : tab + "-status");
  FORMS[tab] = form;
  const say = (text) => { status.textContent = text; };
  const act = (fn) => async () => {
    // the tab is aria-busy while its requests run; an error ends up in its status line
    const section = $("tab-" + tab);
    section.setAttribute("aria-busy", "true");
    remember();
    try { await fn(form, say); } catch (err) { say(err.message); } finally { section.removeAttribute("aria-busy"); }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); act(runner)(); });
  form.addEventListener("input", remember);
  form.addEventListener("change", remember);
  if (setup) setup(act);
}

async function init() {
  const get = (kind) => fetch("/api/catalog/" + kind).then((r) => r.json());
  const [models, chips, frameworks, engines] = await Promise.all(["models", "chips", "frameworks", "serving"].map(get));
  fillSelects("models", models, (m) => m.name, (m) => `${m.params_total_b} B parameters (${m.params_active_b} B active)`);
  fillChips(chips);
  fillSelects("frameworks", frameworks, (f) => f.name, (f) => f.display_name);
  fillSelects("engines", engines, (e) => e.name, (e) => e.display_name);
  for (const entry of TAB_RUNNERS) wire(...entry);
  for (const b of document.querySelectorAll("#tabs [role=tab]")) b.addEventListener("click", () => show(b.dataset.tab));
  show(restore(location.hash) || "plan");
  window.addEventListener("hashchange", () => show(restore(location.hash) || ACTIVE));
  document.body.dataset.ready = "1";
}

const TAB_RUNNERS = [];  // [tab, form id, runner, setup (more buttons)]: plan.js and tabs.js add theirs
document.addEventListener("DOMContentLoaded", init);
