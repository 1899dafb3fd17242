// The files view: every master file with its thumbnail, size, target and how many printers
// hold it, wait for it or refuse it; a row opens to each printer's state and why.
// File names and reasons go into the page through textContent only (never innerHTML).
// 1,000 files x 500 printers stay cheap: the list is /api/files (counts per file, made
// once per change on the server), drawn a page of PAGE_SIZE rows at a time; a file's
// printers are fetched only when its row is opened. The event stream's `files` message
// says when to fetch the list again (at most once per RELOAD_MS).
"use strict";

const PAGE_SIZE = 100;
const RELOAD_MS = 1000;
const STATES = ["held", "pending", "stale", "not_wanted", "refused", "unknown"];
const WORDS = {
  held: "hold it",
  pending: "wait for it",
  stale: "hold an older version",
  not_wanted: "do not want it",
  refused: "refuse it",
  unknown: "unknown",
};

let files = [];
let shown = [];
let page = 0;
const open = new Set(); // paths whose row is opened
let reloadTimer = null;
let lastLoad = -Infinity;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function formatBytes(n) {
  if (n == null) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function target(f) {
  const parts = [];
  if (f.model) parts.push(f.model);
  if (f.nozzle != null) parts.push(f.nozzle + " mm");
  return parts.length ? parts.join(", ") : "any printer";
}

function countsText(c) {
  return STATES.filter((s) => c[s])
    .map((s) => c[s] + " " + WORDS[s])
    .join(", ");
}

function thumbnailCell(f) {
  const td = el("td", null, "thumb");
  if (f.thumbnail) {
    const img = document.createElement("img");
    img.src = f.thumbnail;
    img.alt = "";
    img.width = 64;
    img.height = 64;
    td.appendChild(img);
  } else {
    const mark = el("span", "no picture", "no-thumbnail");
    td.appendChild(mark);
  }
  return td;
}

function fileRow(f) {
  const tr = document.createElement("tr");
  tr.dataset.path = f.path;
  tr.appendChild(thumbnailCell(f));
  const name = el("td", null, "path");
  name.appendChild(el("code", f.path));
  tr.appendChild(name);
  tr.appendChild(el("td", formatBytes(f.bytes), "num"));
  tr.appendChild(el("td", target(f)));
  const counts = el("td", countsText(f.counts), "counts");
  if (f.counts.refused || f.counts.stale) counts.dataset.tone = "bad";
  else if (f.counts.pending) counts.dataset.tone = "warn";
  tr.appendChild(counts);
  const td = el("td");
  const button = el("button", open.has(f.path) ? "Hide printers" : "Printers");
  button.type = "button";
  button.setAttribute("aria-expanded", open.has(f.path) ? "true" : "false");
  button.addEventListener("click", () => toggle(f.path));
  td.appendChild(button);
  tr.appendChild(td);
  return tr;
}

async function detailRow(path) {
  const tr = el("tr", null, "detail");
  tr.dataset.detailOf = path;
  const td = el("td");
  td.colSpan = 6;
  tr.appendChild(td);
  td.textContent = "…";
  try {
    const res = await fetch("/api/files/" + path.split("/").map(encodeURIComponent).join("/"));
    const body = await res.json();
    if (!body.ok) throw new Error(body.error);
    td.replaceChildren(printerGroups(body.file.printers));
  } catch (err) {
    td.textContent = "could not read the printers: " + err.message;
  }
  return tr;
}

// One line per state and reason, naming its printers: 500 printers stay a few lines.
function printerGroups(printers) {
  const groups = new Map();
  for (const [name, p] of Object.entries(printers)) {
    const key = p.state + "\u0000" + (p.reason || "");
    if (!groups.has(key)) groups.set(key, { state: p.state, reason: p.reason, names: [] });
    groups.get(key).names.push(name);
  }
  const list = el("ul", null, "printer-states");
  const ordered = [...groups.values()].sort(
    (a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state),
  );
  for (const g of ordered) {
    const li = el("li");
    li.dataset.state = g.state;
    li.appendChild(el("strong", g.state.replace("_", " ")));
    if (g.reason) li.appendChild(el("span", " — " + g.reason, "reason"));
    li.appendChild(el("span", ": " + g.names.sort().join(", "), "names"));
    list.appendChild(li);
  }
  if (!ordered.length) list.appendChild(el("li", "no printer syncs from this master"));
  return list;
}

async function toggle(path) {
  if (open.has(path)) open.delete(path);
  else open.add(path);
  await draw();
}

function matches(f, name, model, state) {
  if (name && !f.path.toLowerCase().includes(name)) return false;
  if (model && (f.model || "") !== model) return false;
  if (state && !f.counts[state]) return false;
  return true;
}

function filter() {
  const name = $("name-filter").value.trim().toLowerCase();
  const model = $("model-filter").value;
  const state = $("state-filter").value;
  shown = files.filter((f) => matches(f, name, model, state));
  page = Math.min(page, Math.max(0, Math.ceil(shown.length / PAGE_SIZE) - 1));
}

async function draw() {
  const start = page * PAGE_SIZE;
  const slice = shown.slice(start, start + PAGE_SIZE);
  const rows = [];
  for (const f of slice) {
    rows.push(fileRow(f));
    if (open.has(f.path)) rows.push(await detailRow(f.path));
  }
  $("files").tBodies[0].replaceChildren(...rows);
  const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
  $("files-summary").textContent =
    files.length + " files" + (shown.length !== files.length ? ", " + shown.length + " shown" : "");
  $("page-line").textContent = "page " + (page + 1) + " of " + pages;
  $("prev-page").disabled = page === 0;
  $("next-page").disabled = page + 1 >= pages;
  document.body.dataset.drawn = String(files.length);
}

function fillModels() {
  const select = $("model-filter");
  const chosen = select.value;
  const models = [...new Set(files.map((f) => f.model).filter((m) => m))].sort();
  const options = [el("option", "any")];
  options[0].value = "";
  for (const m of models) {
    const o = el("option", m);
    o.value = m;
    options.push(o);
  }
  select.replaceChildren(...options);
  select.value = models.includes(chosen) ? chosen : "";
}

async function load() {
  lastLoad = performance.now();
  const res = await fetch("/api/files");
  const body = await res.json();
  files = body.files || [];
  fillModels();
  filter();
  await draw();
}

function reloadSoon() {
  if (reloadTimer !== null) return;
  const wait = Math.max(0, RELOAD_MS - (performance.now() - lastLoad));
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    load();
  }, wait);
}

function connect() {
  const source = new EventSource("/api/events");
  const status = $("connection");
  source.addEventListener("open", () => {
    status.textContent = "live";
    status.dataset.tone = "ok";
    reloadSoon(); // changes made while disconnected
  });
  source.addEventListener("error", () => {
    status.textContent = "connection lost, reconnecting…";
    status.dataset.tone = "bad";
  });
  source.addEventListener("files", reloadSoon);
}

for (const id of ["name-filter", "model-filter", "state-filter"]) {
  $(id).addEventListener("input", () => {
    page = 0;
    filter();
    draw();
  });
}
$("prev-page").addEventListener("click", () => {
  page = Math.max(0, page - 1);
  draw();
});
$("next-page").addEventListener("click", () => {
  page += 1;
  draw();
});
load();
connect();
