// The explorer page: draw or drop an input, see every layer, click a unit. All numbers come
// from the server (striate.see); this file only draws them.
"use strict";

const state = { model: null, result: null, unit: null, lastInput: null };
const INPUT_SIZE = 196;

function status(text, bad) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = bad ? "error" : "";
}

async function loadModel() {
  state.model = await getJSON("/api/model");
  const m = state.model;
  document.getElementById("title").textContent =
    `${m.name}: input ${m.input_shape.join("x")}, ${m.class_names.length} classes`;
  document.getElementById("draw-area").hidden = m.input_shape[2] !== 1;
  document.getElementById("sample-area").hidden = !m.samples;
  document.getElementById("sample-index").max = Math.max(0, m.samples - 1);
  drawFilters();
}

// -- input ------------------------------------------------------------------------------------
function setupDrawing() {
  const canvas = document.getElementById("draw");
  const context = canvas.getContext("2d");
  const clear = () => { context.fillStyle = "#fff"; context.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let last = null;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width,
            (event.clientY - box.top) * canvas.height / box.height];
  };
  canvas.addEventListener("pointerdown", (event) => { last = at(event); canvas.setPointerCapture(event.pointerId); });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const point = at(event);
    context.strokeStyle = "#000"; context.lineWidth = 18; context.lineCap = "round";
    context.beginPath(); context.moveTo(...last); context.lineTo(...point); context.stroke();
    last = point;
  });
  const end = () => { last = null; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  document.getElementById("clear").addEventListener("click", clear);
  document.getElementById("predict").addEventListener("click", () => {
    canvas.toBlob((blob) => run(blob, true), "image/png");
  });
}

function setupFiles() {
  const drop = document.getElementById("drop");
  const file = document.getElementById("file");
  file.addEventListener("change", () => { if (file.files[0]) run(file.files[0], false); });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files[0]) run(event.dataTransfer.files[0], false);
  });
  document.getElementById("sample").addEventListener("click", async () => {
    const index = document.getElementById("sample-index").value;
    state.lastInput = { sample: index };
    try {
      show(await getJSON(`/api/sample?index=${encodeURIComponent(index)}`));
      const label = state.result.label;
      document.getElementById("sample-label").textContent = `label: ${state.model.class_names[label]}`;
    } catch (error) { status(error.message, true); }
  });
}

async function run(blob, digit) {
  state.lastInput = { blob: blob, digit: digit };
  status("running...");
  try {
    show(await getJSON("/api/run" + (digit ? "?digit=1" : ""), { method: "POST", body: blob }));
  } catch (error) { status(error.message, true); }
}

// -- what a run shows ---------------------------------------------------------------------------
function show(result) {
  state.result = result;
  const names = state.model.class_names;
  status(`predicted: ${names[result.predicted]} (${fmt(result.probabilities[result.predicted])})`);
  drawInput(result.input);
  drawPictures(document.getElementById("saliency"), result.saliency.pictures,
               [1].concat(result.saliency.shape), "saliency");
  drawProbabilities(result);
  drawLayers(result);
  if (state.unit) selectUnit(state.unit.layer, state.unit.channel, state.unit.row, state.unit.col);
}

function drawPictures(parent, pictures, shape, kind, onclick) {
  parent.replaceChildren();
  const [count, height, width] = shape;
  const shades = b64bytes(pictures);
  const scale = zoom(height, width, kind === "input" || kind === "saliency" ? INPUT_SIZE : 64);
  const canvases = [];
  for (let c = 0; c < count; c++) {
    const canvas = grayCanvas(shades.subarray(c * height * width, (c + 1) * height * width), height, width, scale);
    canvas.dataset.kind = kind;
    canvas.dataset.channel = c;
    canvas.dataset.scale = scale;
    if (onclick) canvas.addEventListener("click", (event) => onclick(canvas, c, event));
    parent.append(canvas);
    canvases.push(canvas);
  }
  return canvases;
}

function drawInput(input) {
  const [h, w, c] = input.shape;
  drawPictures(document.getElementById("input-maps"), input.pictures, [c, h, w], "input");
  document.getElementById("field-box").style.display = "none";
}

function drawProbabilities(result) {
  const parent = document.getElementById("probs");
  parent.replaceChildren();
  const names = state.model.class_names;
  result.top.forEach((index, rank) => {
    const p = result.probabilities[index];
    const fill = el("div", { class: "fill" });
    fill.style.width = Math.round(160 * p) + "px";
    parent.append(el("div", { class: rank === 0 ? "bar first" : "bar", "data-index": index },
      el("span", { class: "label" }, names[index]), fill,
      el("span", { class: "value" }, fmt(p))));
  });
}

function layerInfo(entry) {
  const dead = (100 * entry.dead).toFixed(1);
  return `${entry.shape.join("x")} [${fmt(entry.min, 3)}, ${fmt(entry.max, 3)}] dead ${dead}%`;
}

function drawLayers(result) {
  const parent = document.getElementById("layers");
  parent.replaceChildren();
  result.layers.forEach((entry, call) => {
    const column = el("div", { class: "layer", "data-layer": entry.index, "data-call": call },
      el("h3", {}, `${entry.name} (${entry.type})`));
    const maps = el("div", { class: entry.pre ? "maps two" : "maps" });
    const parts = entry.pre ? [["pre", entry.pre], ["out", entry]] : [["out", entry]];
    for (const [kind, record] of parts) {
      const block = el("div", { class: "maps" },
        el("div", { class: "info" }, (entry.pre ? (kind === "pre" ? "before " : "after ") + (entry.activation || "") + ": " : "") + layerInfo(record)));
      const spatial = record.shape.length === 3;
      drawPictures(block, record.pictures, record.picture_shape, kind, spatial && kind === "out"
        ? (canvas, c, event) => {
          const scale = Number(canvas.dataset.scale);
          selectUnit(entry.index, c, Math.floor(event.offsetY / scale), Math.floor(event.offsetX / scale));
        } : null).forEach((canvas) => { canvas.dataset.layer = entry.index; });
      maps.append(block);
    }
    column.append(maps);
    parent.append(column);
  });
}

function drawFilters() {
  const parent = document.getElementById("filters");
  parent.replaceChildren();
  for (const layer of state.model.layers) {
    if (!layer.filters) continue;
    const [count, channels, kh, kw] = layer.filters.shape;
    const block = el("div", { class: "filters", "data-layer": layer.index },
      el("div", { class: "info" }, `${layer.name}: ${count} filters ${kh}x${kw}x${channels}`));
    const tiles = el("div", { class: "tiles" });
    tiles.style.gridTemplateColumns = `repeat(${channels === 1 ? Math.min(count, 16) : channels}, auto)`;
    const canvases = drawPictures(tiles, layer.filters.pictures, [count * channels, kh, kw], "filter");
    const side = Math.max(kh, kw) * zoom(kh, kw, channels > 3 ? 18 : 30);
    canvases.forEach((canvas) => { canvas.style.width = canvas.style.height = side + "px"; });
    block.append(tiles);
    parent.append(block);
  }
}

// -- one unit ---------------------------------------------------------------------------------
function recordOf(layer) {
  return state.result.layers.find((entry) => entry.index === layer);
}

async function selectUnit(layer, channel, row, col) {
  const record = recordOf(layer);
  if (!record || record.shape.length !== 3) return;
  row = Math.max(0, Math.min(record.shape[0] - 1, row));
  col = Math.max(0, Math.min(record.shape[1] - 1, col));
  state.unit = { layer, channel, row, col };
  document.querySelectorAll("canvas.selected").forEach((c) => c.classList.remove("selected"));
  const canvas = document.querySelector(`canvas[data-kind="out"][data-layer="${layer}"][data-channel="${channel}"]`);
  if (canvas) canvas.classList.add("selected");
  const value = b64floats(record.values)[(row * record.shape[1] + col) * record.shape[2] + channel];
  const walkPanel = document.getElementById("walk");
  walkPanel.dataset.value = value;
  try {
    const field = await getJSON(`/api/field?layer=${layer}&row=${row}&col=${col}`);
    drawField(field.field);
  } catch (error) { status(error.message, true); }
  const header = el("div", {}, `${record.name}, channel ${channel}, unit (${row}, ${col}) = ${fmt(value, 6)}`);
  walkPanel.replaceChildren(header);
  try {
    const walk = await getJSON(`/api/walk?layer=${layer}&filter=${channel}&row=${row}&col=${col}`);
    walkPanel.append(walk.kind === "conv" ? convWalk(walk) : poolWalk(walk));
  } catch (error) {
    walkPanel.append(el("p", {}, error.message));
  }
}

function drawField(field) {
  const [top, left, bottom, right] = field;
  const canvas = document.querySelector("#input-maps canvas");
  const scale = Number(canvas.dataset.scale);
  const box = document.getElementById("field-box");
  box.dataset.field = field.join(",");
  Object.assign(box.style, {
    display: "block", top: canvas.offsetTop + top * scale + "px", left: canvas.offsetLeft + left * scale + "px",
    width: (right - left) * scale - 4 + "px", height: (bottom - top) * scale - 4 + "px",
  });
}

// One channel of a (kh, kw, C) list as a table; `hit` marks a cell.
function grid(values, shape, channel, digits, hit) {
  const [kh, kw, channels] = shape;
  const table = el("table", { class: "grid" });
  for (let r = 0; r < kh; r++) {
    const tr = el("tr", {});
    for (let c = 0; c < kw; c++) {
      const cell = el("td", {}, fmt(values[(r * kw + c) * channels + channel], digits));
      if (hit && hit[0] === r && hit[1] === c) cell.className = "hit";
      tr.append(cell);
    }
    table.append(tr);
  }
  return table;
}

function convWalk(walk) {
  const shape = walk.values_shape;
  const channel = walk.channel;
  const box = el("div", { class: "walk", "data-kind": "conv", "data-sum": walk.sum, "data-bias": walk.bias, "data-total": walk.total });
  box.append(el("div", {}, `${walk.title}: window ${walk.window.join("x")}, stride ${walk.strides.join("x")}, padding ${walk.padding}, top-left ${walk.corner.join(",")} (padded)`),
    el("div", {}, `input channel ${channel} of ${shape[2]}: window, kernel, products`),
    el("div", { class: "row" }, grid(walk.values, shape, channel, 3), grid(walk.kernel, shape, channel, 3),
      grid(walk.products, shape, channel, 3)),
    el("div", { class: "sum" }, `sum of products over ${shape[2]} channels = ${fmt(walk.sum, 6)}`),
    el("div", { class: "bias" }, `+ bias ${fmt(walk.bias, 6)} = ${fmt(walk.total, 6)}`));
  if (walk.activation && walk.activated !== null) {
    box.append(el("div", {}, `${walk.activation}(${fmt(walk.total, 6)}) = ${fmt(walk.activated, 6)}`));
  }
  return box;
}

function poolWalk(walk) {
  const box = el("div", { class: "walk", "data-kind": walk.kind, "data-total": walk.total,
                          "data-argmax": walk.argmax ? walk.argmax.join(",") : "" });
  box.append(el("div", {}, `${walk.title}: ${walk.kind} over ${walk.window.join("x")}, stride ${walk.strides.join("x")}, padding ${walk.padding}`),
    grid(walk.values, walk.values_shape.concat([1]), 0, 3, walk.argmax),
    el("div", {}, `${walk.kind} = ${fmt(walk.total, 6)}`));
  return box;
}

document.addEventListener("keydown", (event) => {
  if (!state.unit || event.target.tagName === "INPUT") return;
  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  const move = moves[event.key];
  if (!move) return;
  event.preventDefault();
  const u = state.unit;
  selectUnit(u.layer, u.channel, u.row + move[0], u.col + move[1]);
});

function listen() {
  const events = new EventSource("/api/events");
  events.addEventListener("model", async () => {
    await loadModel();
    const last = state.lastInput;
    if (last && last.blob) run(last.blob, last.digit);
    status("the model file changed: reloaded");
  });
}

setupDrawing();
setupFiles();
loadModel().then(listen).catch((error) => status(error.message, true));
