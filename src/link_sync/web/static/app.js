// The farm page: one EventSource, one table, updated in place.
// Every printer-supplied string goes into the page through textContent only (never
// innerHTML), so a file named "<script>" is shown as text. Changes are gathered and
// drawn at most every RENDER_MS, so 500 printers changing twice a second stay cheap.
"use strict";

const RENDER_MS = 100;
const EVENTS_MS = 1000; // the event list is redrawn at most once a second
const EVENTS_SHOWN = 40;
const TOKEN_KEY = "link-sync-token";

const printers = new Map(); // name -> view (as in /api/printers)
const rows = new Map(); // name -> {tr, cells}
const dirty = new Set();
const recent = [];
let farm = { master: {}, totals: {}, running: false };
let writable = true;
let renderTimer = null;
let recentDirty = false;
let farmDirty = false;
let eventsDrawn = -Infinity;

const $ = (id) => document.getElementById(id);

// Writes only what changed: with 500 rows, every needless DOM write costs a style pass.
function setText(el, value) {
  const text = value == null ? "" : String(value);
  if (el.textContent !== text) el.textContent = text;
}

function setData(el, key, value) {
  if (el.dataset[key] !== value) el.dataset[key] = value;
}

function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

function formatBytes(n) {
  if (n == null) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return (i === 0 ? String(v) : v.toFixed(1)) + " " + units[i];
}

function formatSeconds(s) {
  if (s == null) return "";
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
}

// Local time as HH:MM:SS (with the date when not today). Hand-made: the Intl
// formatters cost more than everything else on a busy 500-printer page.
const pad = (n) => (n < 10 ? "0" : "") + n;
function formatTime(epoch) {
  if (epoch == null) return "";
  const d = new Date(epoch * 1000);
  const time = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  const now = new Date();
  const today =
    d.getFullYear() === now.getFullYear() &&
    d.getMonth() === now.getMonth() &&
    d.getDate() === now.getDate();
  return today ? time : d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + time;
}

function plural(n, word) {
  return n + " " + word + (n === 1 ? "" : "s");
}

// What the printer is doing: [text, class]. The text always says it; colour only repeats it.
function describeState(p) {
  if (p.reachable === false) return ["✗ unreachable", "bad"];
  const state = p.state || "?";
  const activity = p.activity ? " · " + p.activity : "";
  // A printer that takes files during a print (while_printing: upload) says so.
  const takes = p.while_printing === "upload" ? " · takes files" : "";
  if (state === "PRINTING" || state === "PAUSED") return ["▶ " + state + takes + activity, "busy"];
  if (state === "ERROR" || state === "ATTENTION") return ["⚠ " + state + activity, "bad"];
  return [state + activity, "ok"];
}

function makeRow(name) {
  const tr = document.createElement("tr");
  const cells = {};
  const nameCell = document.createElement("th");
  nameCell.scope = "row";
  nameCell.className = "name";
  tr.appendChild(nameCell);
  cells.name = nameCell;
  for (const [key, label] of [
    ["model", "Model"],
    ["state", "State"],
    ["sync", "Sync"],
    ["transfer", "Transfer"],
    ["last", "Last sync"],
    ["actions", ""],
  ]) {
    const td = document.createElement("td");
    td.dataset.label = label;
    td.className = key;
    tr.appendChild(td);
    cells[key] = td;
  }
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  const transferText = document.createElement("span");
  transferText.className = "transfer-text";
  const transferFile = document.createElement("span");
  transferFile.className = "file";
  cells.transfer.append(transferFile, bar, transferText);
  Object.assign(cells, { bar, transferText, transferFile });

  const sync = button("Sync", () => post("/api/printers/" + encodeURIComponent(name) + "/sync"));
  const pause = button("Pause", () => {
    const p = printers.get(name);
    const verb = p && p.watching === "paused" ? "resume" : "pause";
    post("/api/printers/" + encodeURIComponent(name) + "/" + verb);
  });
  cells.actions.append(sync, pause);
  Object.assign(cells, { syncButton: sync, pauseButton: pause });
  const row = { tr, cells };
  rows.set(name, row);
  $("printers").tBodies[0].appendChild(tr);
  return row;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function drawRow(p) {
  const row = rows.get(p.name) || makeRow(p.name);
  const c = row.cells;
  setData(row.tr, "name", p.name);
  setText(c.name, p.name);
  // Routing is never off in silence: a printer whose model is unknown gets every file.
  const off = p.routing === "off";
  setData(row.tr, "routing", p.routing || "");
  setText(c.model, off ? "⚠ " + (p.model || "model unknown") + " · routing off" : p.model || "");
  setData(c.model, "tone", off ? "warn" : "");
  setAttr(c.model, "title", off ? "routing is off: it gets every file (set model: in the config)" : "");
  const [stateText, stateClass] = describeState(p);
  setText(c.state, stateText);
  setData(c.state, "tone", stateClass);
  setData(row.tr, "state", p.reachable === false ? "UNREACHABLE" : p.state || "");
  setData(row.tr, "whilePrinting", p.while_printing || "");
  const during = { upload: "takes files while printing (all but the printed one)", wait: "waits for a print to end" };
  setAttr(c.state, "title", during[p.while_printing] || "");
  // Worded by the server (watch/summary.py): the page has no words of its own for it.
  const summary = p.summary || { text: "", tone: "unknown" };
  setText(c.sync, summary.text);
  setData(c.sync, "tone", summary.tone);

  const t = p.transfer;
  if (t) {
    setText(c.transferFile, t.path);
    const max = Math.max(t.total, 1);
    if (c.bar.max !== max) c.bar.max = max;
    const value = Math.min(t.bytes, t.total);
    if (c.bar.value !== value) c.bar.value = value;
    const pct = t.total ? Math.floor((100 * t.bytes) / t.total) : 0;
    setAttr(c.bar, "aria-label", "upload of " + t.path + ": " + pct + " %");
    const eta = t.eta == null ? "" : " · ETA " + formatSeconds(t.eta);
    setText(
      c.transferText,
      formatBytes(t.bytes) + " / " + formatBytes(t.total) + " · " +
        formatBytes(t.rate) + "/s" + eta,
    );
    setData(c.transfer, "active", "yes");
  } else {
    setText(c.transferFile, "");
    setText(c.transferText, p.job ? "printing " + p.job : "");
    setData(c.transfer, "active", "no");
  }

  const last = p.last_sync;
  if (last) {
    const counts = last.counts || {};
    const done = [];
    if (counts.uploaded) done.push(counts.uploaded + " up");
    if (counts.replaced) done.push(counts.replaced + " replaced");
    if (counts.deleted) done.push(counts.deleted + " deleted");
    if (counts.failed) done.push(counts.failed + " failed");
    setText(
      c.last,
      formatTime(last.time) + " " + last.status + (done.length ? " (" + done.join(", ") + ")" : ""),
    );
    setData(c.last, "tone", last.status === "synced" ? "ok" : last.status === "busy" ? "warn" : "bad");
  } else {
    setText(c.last, "—");
    setData(c.last, "tone", "unknown");
  }
  setText(c.pauseButton, p.watching === "paused" ? "Resume" : "Pause");
  setAttr(c.syncButton, "aria-label", "Sync " + p.name);
  setAttr(
    c.pauseButton,
    "aria-label",
    (p.watching === "paused" ? "Resume watching " : "Pause watching ") + p.name,
  );
  if (c.syncButton.disabled === writable) c.syncButton.disabled = c.pauseButton.disabled = !writable;
  applyFilter(row, p);
}

function haystack(p) {
  return [p.name, p.model, p.state, p.reason].join(" ").toLowerCase();
}

function applyFilter(row, p) {
  const filter = $("filter").value.trim().toLowerCase();
  const hidden = filter !== "" && !haystack(p).includes(filter);
  if (row.tr.hidden !== hidden) row.tr.hidden = hidden;
}

function drawFarm() {
  const m = farm.master || {};
  setText($("master-path"), m.path || "");
  setText($("master-files"), m.files == null ? "" : plural(m.files, "file"));
  $("master-missing").hidden = m.available !== false;
  const t = farm.totals || {};
  const items = [
    [plural(t.printers || 0, "printer"), ""],
    ["✓ " + (t.in_sync || 0) + " in sync", "ok"],
    ["✗ " + (t.out_of_sync || 0) + " out of sync", t.out_of_sync ? "bad" : ""],
    ["✗ " + (t.unreachable || 0) + " unreachable", t.unreachable ? "bad" : ""],
    ["▶ " + (t.printing || 0) + " printing", ""],
    [plural(t.pending_files || 0, "file") + " (" + formatBytes(t.pending_bytes || 0) + ") pending", ""],
    ["⇡ " + (t.transferring || 0) + " uploading, " + formatBytes(t.rate || 0) + "/s", ""],
  ];
  const list = $("totals");
  while (list.children.length < items.length) list.appendChild(document.createElement("li"));
  items.forEach(([text, tone], i) => {
    setText(list.children[i], text);
    setData(list.children[i], "tone", tone);
  });
}

function drawEvents() {
  const list = $("events");
  list.replaceChildren(
    ...recent.map((e) => {
      const li = document.createElement("li");
      const parts = [formatTime(e.time), e.printer || "farm", e.event];
      if (e.path) parts.push(e.path);
      if (e.message) parts.push(e.message);
      if (e.bytes && e.event !== "pending") parts.push(formatBytes(e.bytes));
      if (e.error) parts.push("error: " + e.error);
      li.textContent = parts.join("  ");
      if (e.error || e.event === "failed") li.dataset.tone = "bad";
      return li;
    }),
  );
}

function scheduleRender() {
  if (renderTimer === null) renderTimer = setTimeout(render, RENDER_MS);
}

function render() {
  renderTimer = null;
  for (const name of dirty) {
    const p = printers.get(name);
    if (p) drawRow(p);
  }
  dirty.clear();
  if (farmDirty) drawFarm();
  farmDirty = false;
  if (recentDirty && performance.now() - eventsDrawn >= EVENTS_MS) {
    drawEvents();
    eventsDrawn = performance.now();
    recentDirty = false;
  }
  if (recentDirty) scheduleRender();
}

function takeFarm(data) {
  farm = { master: data.master, totals: data.totals, running: data.running };
  farmDirty = true;
}

function takePrinter(p) {
  printers.set(p.name, p);
  dirty.add(p.name);
}

function onSnapshot(data) {
  // `recent` follows with the last events the watch kept: a reconnection starts afresh
  recent.length = 0;
  recentDirty = true;
  const seen = new Set();
  for (const p of data.printers) {
    takePrinter(p);
    seen.add(p.name);
  }
  for (const name of [...printers.keys()]) if (!seen.has(name)) removePrinter(name);
  takeFarm(data);
  scheduleRender();
}

function removePrinter(name) {
  printers.delete(name);
  const row = rows.get(name);
  if (row) row.tr.remove();
  rows.delete(name);
}

function onUpdate(data) {
  for (const p of data.printers) takePrinter(p);
  for (const name of data.removed || []) removePrinter(name);
  takeFarm(data);
  scheduleRender();
}

function onEvent(e) {
  if (e.event === "progress") return; // shown by the progress bars
  recent.unshift(e);
  recent.length = Math.min(recent.length, EVENTS_SHOWN);
  recentDirty = true;
  scheduleRender();
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => setConnection("live", "ok"));
  source.addEventListener("error", () => setConnection("connection lost, reconnecting…", "bad"));
  source.addEventListener("snapshot", (m) => onSnapshot(JSON.parse(m.data)));
  source.addEventListener("printers", (m) => onUpdate(JSON.parse(m.data)));
  source.addEventListener("recent", (m) => JSON.parse(m.data).forEach(onEvent));
  source.addEventListener("message", (m) => onEvent(JSON.parse(m.data)));
}

function setConnection(text, tone) {
  const el = $("connection");
  setText(el, text === "live" ? "● live" : "○ " + text);
  el.dataset.tone = tone;
}

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (err) {
    return $("token").value;
  }
}

async function post(path) {
  const result = $("action-result");
  const headers = {};
  const t = token() || $("token").value;
  if (t) headers.Authorization = "Bearer " + t;
  setText(result, "sending " + path + " …");
  try {
    const answer = await fetch(path, { method: "POST", headers, credentials: "omit" });
    const body = await answer.json();
    if (body.ok) {
      const who = body.printer ? body.printer : "every printer";
      setText(result, "✓ " + body.accepted + " requested for " + who);
      result.dataset.tone = "ok";
    } else {
      setText(result, "✗ refused (" + answer.status + "): " + body.error);
      result.dataset.tone = "bad";
    }
  } catch (err) {
    setText(result, "✗ " + path + " failed: " + err);
    result.dataset.tone = "bad";
  }
}

async function loadSettings() {
  try {
    const answer = await fetch("/api/printers", { credentials: "omit" });
    const body = await answer.json();
    writable = body.writable !== false;
  } catch (err) {
    writable = true; // the buttons then say what the server answers
  }
  $("writes-off").hidden = writable;
  $("sync-all").disabled = !writable;
  $("token-form").hidden = !writable;
  for (const name of printers.keys()) dirty.add(name);
  scheduleRender();
}

function start() {
  $("token").value = token();
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      sessionStorage.setItem(TOKEN_KEY, $("token").value);
    } catch (err) {
      // storage off: the field's value is used directly
    }
    setText($("action-result"), $("token").value ? "token set for this tab" : "token cleared");
  });
  $("sync-all").addEventListener("click", () => post("/api/sync"));
  $("filter").addEventListener("input", () => {
    for (const [name, row] of rows) applyFilter(row, printers.get(name));
  });
  loadSettings();
  connect();
}

start();
