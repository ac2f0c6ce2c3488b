// The API reference, drawn from /openapi.json here (no CDN): every endpoint, its body's fields with type, default,
// bounds and help, its path parameters and its answers.
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
};
const refName = (ref) => ref.split("/").pop();

function typeOf(s, schemas) {
  if (!s || Object.keys(s).length === 0) return "any";
  if (s.$ref) return typeOf(schemas[refName(s.$ref)], schemas);
  if (s.anyOf) return [...new Set(s.anyOf.filter((x) => x.type !== "null").map((x) => typeOf(x, schemas)))].join(" or ");
  if (s.enum) return "one of " + s.enum.map((v) => JSON.stringify(v)).join(", ");
  if (s.type === "array") return "list of " + typeOf(s.items, schemas);
  if (s.type === "object") return s.properties ? "object" : "object (a mapping)";
  return s.type || "any";
}

const BOUNDS = [["minimum", "≥"], ["ge", "≥"], ["exclusiveMinimum", ">"], ["gt", ">"], ["maximum", "≤"], ["le", "≤"],
  ["exclusiveMaximum", "<"], ["lt", "<"]];

function bounds(s) {
  // numbers' bounds, text length and pattern, list length: from the field and from each of its alternatives
  const out = new Set();
  const walk = (x) => {
    if (!x) return;
    for (const [key, sign] of BOUNDS) if (x[key] !== undefined) out.add(`${sign} ${x[key]}`);
    if (x.maxLength !== undefined) out.add(`at most ${x.maxLength} characters`);
    if (x.maxItems !== undefined) out.add(`at most ${x.maxItems} values`);
    if (x.pattern) out.add(`matches ${x.pattern}`);
    (x.anyOf || []).forEach(walk);
    walk(x.items);
  };
  walk(s);
  return [...out].join("; ");
}

function fieldRows(schema, schemas) {
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties || {}).map(([name, s]) => el("tr", {},
    el("td", {}, el("code", {}, name)), el("td", {}, typeOf(s, schemas)),
    el("td", {}, required.has(name) ? "required" : s.default === undefined || s.default === null ? "—" : JSON.stringify(s.default)),
    el("td", {}, bounds(s)), el("td", {}, s.description || "")));
}

function fieldTable(rows, first) {
  return el("table", { class: "fields" }, el("thead", {}, el("tr", {}, ...[first, "type", "default", "bounds", "help"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

function endpoint(path, method, op, schemas) {
  const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-");
  const section = el("section", { class: "endpoint", id },
    el("h2", {}, el("span", { class: "method" }, method.toUpperCase()), " ", el("code", {}, path)),
    el("p", {}, op.summary || ""), op.description ? el("p", {}, op.description) : null);
  const params = op.parameters || [];
  if (params.length) {
    section.append(el("h3", {}, "Parameters"), fieldTable(params.map((p) => el("tr", {},
      el("td", {}, el("code", {}, p.name), ` (${p.in})`), el("td", {}, typeOf(p.schema, schemas)),
      el("td", {}, p.required ? "required" : "—"), el("td", {}, bounds(p.schema)), el("td", {}, p.description || ""))), "name"));
  }
  const body = op.requestBody && op.requestBody.content["application/json"];
  if (body) {
    const schema = body.schema.$ref ? schemas[refName(body.schema.$ref)] : body.schema;
    section.append(el("h3", {}, "JSON body"), fieldTable(fieldRows(schema, schemas), "field"));
  }
  section.append(el("h3", {}, "Answers"), el("ul", {}, ...Object.entries(op.responses || {}).map(([code, r]) =>
    el("li", {}, el("code", {}, code), " " + r.description))));
  return [section, el("li", {}, el("a", { href: "#" + id }, `${method.toUpperCase()} ${path}`))];
}

async function draw() {
  const spec = await fetch("/openapi.json").then((r) => r.json());
  const schemas = (spec.components || {}).schemas || {};
  document.getElementById("about").textContent = `${spec.info.title} ${spec.info.version}: ${spec.info.description || ""}`;
  const sections = [], toc = [];
  for (const [path, methods] of Object.entries(spec.paths).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [method, op] of Object.entries(methods)) {
      const [section, item] = endpoint(path, method, op, schemas);
      sections.push(section);
      toc.push(item);
    }
  }
  document.getElementById("toc").replaceChildren(el("ul", {}, ...toc));
  document.getElementById("endpoints").replaceChildren(...sections);
  document.body.dataset.ready = "1";
}
draw();
