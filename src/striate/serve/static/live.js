// The live view of training: curves, the first layer's filters and a few predictions, from the
// server's event stream (EventSource reconnects by itself and resumes with Last-Event-ID).
"use strict";

const live = { epochs: [], batches: [], lastId: 0, steps: 1, filters: [], ended: false, probe: null, names: null };
window.live = live;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];

function setStatus(text) { document.getElementById("status").textContent = text; }

// A curve group: "loss" with "val_loss", "acc" with "val_acc", and learning_rate alone.
function groups() {
  const keys = new Set();
  for (const point of live.epochs.concat(live.batches)) Object.keys(point.logs).forEach((k) => keys.add(k));
  const base = [...keys].map((k) => k.replace(/^val_/, "")).filter((k, i, all) => all.indexOf(k) === i);
  const found = base.map((k) => [k, [k, "val_" + k].filter((name) => keys.has(name))]);
  if (!keys.has("learning_rate") && live.epochs.some((p) => p.learning_rate !== null)) {
    found.push(["learning_rate", ["learning_rate"]]);
  }
  return found;
}

// A point's value: from its logs, or the epoch's learning rate.
function valueOf(point, key) {
  return key in point.logs ? point.logs[key] : point[key];
}

// Redraw at most once a second, however fast events come: the page must not compete with
// training for the CPU.
let pending = null;
function redraw() {
  if (pending === null) pending = setTimeout(() => { pending = null; drawCurves(); drawTable(); }, 1000);
}

function drawCurves() {
  const parent = document.getElementById("curves");
  parent.replaceChildren();
  for (const [title, keys] of groups()) {
    const canvas = el("canvas", { width: 320, height: 180, "data-curve": title });
    parent.append(el("div", { class: "panel" }, el("div", {}, title), canvas));
    plot(canvas, keys);
  }
}

function plot(canvas, keys) {
  const context = canvas.getContext("2d");
  const series = keys.map((key) => ({
    key,
    batch: live.batches.filter((p) => key in p.logs).map((p) => [p.epoch + (p.batch + 1) / live.steps, p.logs[key]]),
    epoch: live.epochs.filter((p) => valueOf(p, key) != null).map((p) => [p.epoch + 1, valueOf(p, key)]),
  }));
  const all = series.flatMap((s) => s.batch.concat(s.epoch));
  if (!all.length) return;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const [x0, x1] = [0, Math.max(1, ...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-12) { const pad = Math.max(Math.abs(y0) * 0.1, 1e-6); y0 -= pad; y1 += pad; }
  const pad = 28, w = canvas.width, h = canvas.height;
  const X = (x) => pad + (w - pad - 6) * (x - x0) / (x1 - x0);
  const Y = (y) => h - pad + -(h - pad - 8) * (y - y0) / (y1 - y0);
  context.clearRect(0, 0, w, h);
  context.fillStyle = "#555"; context.font = "10px sans-serif";
  context.fillText(y1.toPrecision(3), 2, 24); context.fillText(y0.toPrecision(3), 2, h - pad);
  context.fillText("epoch " + x1.toFixed(0), w - 50, h - 8);
  series.forEach((s, i) => {
    context.strokeStyle = context.fillStyle = COLORS[i % COLORS.length];
    context.globalAlpha = 0.4; context.beginPath();
    s.batch.forEach(([x, y], j) => (j ? context.lineTo(X(x), Y(y)) : context.moveTo(X(x), Y(y))));
    context.stroke(); context.globalAlpha = 1;
    context.beginPath();
    s.epoch.forEach(([x, y], j) => (j ? context.lineTo(X(x), Y(y)) : context.moveTo(X(x), Y(y))));
    context.stroke();
    s.epoch.forEach(([x, y]) => { context.beginPath(); context.arc(X(x), Y(y), 3, 0, 7); context.fill(); });
    context.fillText(s.key, pad + 4 + 70 * i, 12);
  });
}

function drawTable() {
  const table = document.getElementById("epochs");
  const keys = [...new Set(live.epochs.flatMap((p) => Object.keys(p.logs)))];
  table.replaceChildren(el("tr", {}, el("td", {}, "epoch"), ...keys.map((k) => el("td", {}, k)), el("td", {}, "lr")));
  for (const p of live.epochs) {
    table.append(el("tr", { "data-epoch": p.epoch }, el("td", {}, String(p.epoch + 1)),
      ...keys.map((k) => el("td", { "data-key": k, "data-value": p.logs[k] }, fmt(p.logs[k], 6))),
      el("td", {}, p.learning_rate === null ? "" : String(p.learning_rate))));
  }
}

function drawProbe(event) {
  const parent = document.getElementById("probe");
  parent.replaceChildren();
  const probe = live.probe;
  if (!probe) return;
  const [count, h, w] = probe.shape;
  const shades = b64bytes(probe.pictures);
  const name = (i) => (live.names ? live.names[i] : String(i));
  for (let i = 0; i < count; i++) {
    const canvas = grayCanvas(shades.subarray(i * h * w, (i + 1) * h * w), h, w, zoom(h, w, 56));
    const guess = event ? event.predicted[i] : null;
    const right = guess === probe.labels[i];
    const text = guess === null ? `true ${name(probe.labels[i])}` :
      `${name(guess)} ${fmt(event.confidence[i], 2)} (true ${name(probe.labels[i])})`;
    parent.append(el("div", { class: right || guess === null ? "probe" : "probe wrong" }, canvas, el("br"), text));
  }
}

function accept(message) {
  const id = Number(message.lastEventId);
  if (id && id <= live.lastId) return null;  // a replayed event already shown
  if (id) live.lastId = id;
  return JSON.parse(message.data);
}

function listen() {
  const source = new EventSource("/api/events");
  source.addEventListener("begin", (m) => {
    const data = accept(m); if (!data) return;
    live.steps = data.params.steps || 1;
    live.probe = data.probe || null;
    live.names = data.class_names;
    document.getElementById("title").textContent = `Training ${data.model}: ${data.params.epochs} epochs`;
    drawProbe(null);
  });
  source.addEventListener("batch", (m) => {
    const data = accept(m); if (!data) return;
    live.batches.push(data);
    setStatus(`epoch ${data.epoch + 1}, batch ${data.batch + 1}`);
    redraw();
  });
  source.addEventListener("epoch", (m) => {
    const data = accept(m); if (!data) return;
    live.epochs.push(data);
    redraw();
  });
  source.addEventListener("filters", (m) => {
    const data = accept(m); if (!data) return;
    const [count, channels, kh, kw] = data.shape;
    const parent = document.getElementById("filters");
    parent.replaceChildren();
    parent.className = "tiles";
    parent.style.gridTemplateColumns = `repeat(${channels === 1 ? Math.min(count, 16) : channels}, auto)`;
    const shades = b64bytes(data.pictures);
    for (let i = 0; i < count * channels; i++) {
      const canvas = grayCanvas(shades.subarray(i * kh * kw, (i + 1) * kh * kw), kh, kw, zoom(kh, kw, 36));
      canvas.dataset.filter = i;
      parent.append(canvas);
    }
    live.filters.push({ epoch: data.epoch, pictures: data.pictures });
    parent.dataset.epoch = data.epoch;
    document.getElementById("filters-when").textContent = `(epoch ${data.epoch + 1})`;
  });
  source.addEventListener("probe", (m) => { const data = accept(m); if (data) drawProbe(data); });
  source.addEventListener("end", (m) => {
    const data = accept(m); if (!data) return;
    live.ended = true;
    drawCurves(); drawTable();
    setStatus(`training ended after ${data.epochs} epochs`);
    source.close();
  });
  source.onerror = () => { if (!live.ended) setStatus("reconnecting..."); };
}

listen();
