// Shared by the explorer and the live view: decoding arrays and drawing gray pictures.
"use strict";

function b64bytes(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function b64floats(text) {
  return new Float32Array(b64bytes(text).buffer);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// A canvas holding gray shades (bytes computed by the server as striate.see draws them) at
// one canvas pixel per value; CSS scales it up without smoothing.
function grayCanvas(shades, height, width, scale) {
  const canvas = el("canvas", { width: width, height: height, class: "map" });
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < height * width; i++) {
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = shades[i];
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  canvas.style.width = width * scale + "px";
  canvas.style.height = height * scale + "px";
  return canvas;
}

// Integer zoom so that a map is about `target` CSS pixels on its longer side.
function zoom(height, width, target) {
  return Math.max(1, Math.floor(target / Math.max(height, width)));
}

function fmt(value, digits) {
  if (value === null || value === undefined) return "pad";
  return Number(value).toFixed(digits === undefined ? 4 : digits);
}

async function getJSON(url, options) {
  const answer = await fetch(url, options);
  const data = await answer.json();
  if (!answer.ok) throw new Error(data.error || answer.statusText);
  return data;
}
