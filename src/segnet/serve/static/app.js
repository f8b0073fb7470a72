// SegNet demo page: sends the chosen image to /api/segment and draws input, labels and overlay.
// The overlay is blended here on a canvas, so moving the opacity slider costs no request.
"use strict";

const $ = (id) => document.getElementById(id);
const view = { model: null, input: null, color: null, labels: null, width: 0, height: 0, ticket: 0 };

function setState(state, message) {
  document.body.dataset.state = state;
  if (message !== undefined) $("status").textContent = message;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  setState("error", "Segmentation failed; choose another image.");
}

function formatBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(0)} MB` : `${Math.round(n / 1024)} KB`;
}

function rgb(color) {
  return `rgb(${color[0]}, ${color[1]}, ${color[2]})`;
}

function buildLegend(classes) {
  const list = $("legend");
  list.replaceChildren();
  for (const cls of classes) {
    const item = document.createElement("li");
    item.dataset.index = cls.index;
    item.innerHTML = '<span class="swatch"></span><span class="name"></span><span class="share">–</span>' +
      '<span class="bar"><span></span></span>';
    item.querySelector(".swatch").style.background = rgb(cls.color);
    item.querySelector(".name").textContent = cls.name;
    item.querySelector(".bar span").style.background = rgb(cls.color);
    item.querySelector(".bar span").style.width = "0%";
    list.append(item);
  }
}

function fillLegend(shares) {
  for (const item of $("legend").children) {
    const name = item.querySelector(".name").textContent;
    const share = shares[name] ?? 0;
    item.querySelector(".share").textContent = `${share.toFixed(1)}%`;
    item.querySelector(".bar span").style.width = `${share}%`;
    item.classList.toggle("absent", share === 0);
  }
}

function fillTiming(timing, roundTrip) {
  const rows = [["inference", timing.inference, true], ["decode", timing.decode], ["queue", timing.queue],
    ["encode", timing.encode], ["server total", timing.total], ["round trip", roundTrip]];
  $("timing").replaceChildren();
  for (const [name, ms, main] of rows) {
    if (ms === undefined) continue;
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = `${ms.toFixed(1)} ms`;
    if (main) dt.className = dd.className = "main";
    $("timing").append(dt, dd);
  }
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the server's PNG could not be shown"));
    image.src = src;
  });
}

function sizeCanvas(id) {
  const canvas = $(id);
  canvas.width = view.width;
  canvas.height = view.height;
  return canvas.getContext("2d");
}

function drawOverlay() {
  const alpha = Number($("opacity").value) / 100;
  $("opacity-value").textContent = `${$("opacity").value}%`;
  if (!view.color) return;
  const ctx = sizeCanvas("overlay-canvas");
  if (view.input) ctx.drawImage(view.input, 0, 0, view.width, view.height);
  ctx.globalAlpha = view.input ? alpha : 1;
  ctx.drawImage(view.color, 0, 0, view.width, view.height);
  ctx.globalAlpha = 1;
  $("overlay-canvas").dataset.alpha = alpha.toFixed(2);
}

function labelsOf(image) {
  // Class indices are the grey levels of labels_png; keep one byte per pixel for the hover readout.
  const canvas = document.createElement("canvas");
  canvas.width = view.width;
  canvas.height = view.height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(image, 0, 0);
  const rgba = ctx.getImageData(0, 0, view.width, view.height).data;
  const labels = new Uint8Array(view.width * view.height);
  for (let i = 0; i < labels.length; i++) labels[i] = rgba[4 * i];
  return labels;
}

function showHover(event) {
  if (!view.labels) return;
  const box = event.currentTarget.getBoundingClientRect();
  const x = Math.floor(((event.clientX - box.left) / box.width) * view.width);
  const y = Math.floor(((event.clientY - box.top) / box.height) * view.height);
  if (x < 0 || y < 0 || x >= view.width || y >= view.height) return;
  const index = view.labels[y * view.width + x];
  const cls = view.model.classes[index];
  $("hover").textContent = cls ? `(${x}, ${y}): ${cls.name}` : `(${x}, ${y}): label ${index}`;
  for (const item of $("legend").children) item.classList.toggle("hot", Number(item.dataset.index) === index);
}

async function segment(blob, name) {
  const ticket = ++view.ticket;  // a newer choice wins over a slower older request
  $("error").hidden = true;
  setState("busy", `Segmenting ${name}…`);
  const form = new FormData();
  form.append("file", blob, name);
  const started = performance.now();
  let response;
  let body;
  try {
    response = await fetch("/api/segment", { method: "POST", body: form });
    body = await response.json().catch(() => ({ detail: `HTTP ${response.status} ${response.statusText}` }));
  } catch (error) {
    showError(`Could not reach the server: ${error.message}`);
    return;
  }
  const roundTrip = performance.now() - started;
  if (ticket !== view.ticket) return;
  if (!response.ok) {
    showError(`${body.detail || "error"} (HTTP ${response.status})`);
    return;
  }
  // The browser may not decode every format the server does (TIFF): then show the labels alone.
  const input = await createImageBitmap(blob).catch(() => null);
  const [color, labels] = await Promise.all([
    loadImage(`data:image/png;base64,${body.color_png}`),
    loadImage(`data:image/png;base64,${body.labels_png}`),
  ]);
  if (ticket !== view.ticket) return;
  Object.assign(view, { input, color, width: body.width, height: body.height });
  view.labels = labelsOf(labels);
  const inputCtx = sizeCanvas("input-canvas");
  if (input) inputCtx.drawImage(input, 0, 0, view.width, view.height);
  sizeCanvas("color-canvas").drawImage(color, 0, 0);
  drawOverlay();
  fillLegend(body.shares);
  fillTiming(body.timing_ms, roundTrip);
  $("results").hidden = false;
  setState("done", `${name}: ${body.width}×${body.height} px, inference ${body.timing_ms.inference.toFixed(1)} ms.`);
}

async function loadSamples() {
  const samples = await (await fetch("/api/samples")).json();
  $("samples-box").hidden = samples.length === 0;
  for (const sample of samples) {
    const button = document.createElement("button");
    button.type = "button";
    button.title = sample.name;
    button.dataset.name = sample.name;
    const thumb = document.createElement("img");
    thumb.src = sample.url;
    thumb.alt = sample.name;
    thumb.loading = "lazy";
    button.append(thumb);
    button.addEventListener("click", async () => {
      const response = await fetch(sample.url);
      if (!response.ok) return showError(`sample ${sample.name} is gone (HTTP ${response.status})`);
      segment(await response.blob(), sample.name);
    });
    $("samples").append(button);
  }
}

function wireInputs() {
  const drop = $("drop");
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (file) segment(file, file.name);
    $("file").value = "";  // choosing the same file again still fires "change"
  });
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const kind of ["dragleave", "drop"]) drop.addEventListener(kind, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) segment(file, file.name);
  });
  document.addEventListener("paste", (event) => {
    const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
    if (file) segment(file, file.name || "pasted image");
  });
  $("opacity").addEventListener("input", drawOverlay);
  for (const id of ["input-canvas", "color-canvas", "overlay-canvas"]) $(id).addEventListener("mousemove", showHover);
}

async function init() {
  wireInputs();
  try {
    view.model = await (await fetch("/api/model")).json();
  } catch (error) {
    showError(`Could not load the model description: ${error.message}`);
    return;
  }
  const m = view.model;
  const size = m.input_size ? `${m.input_size[0]}×${m.input_size[1]}` : "native size";
  $("model-badge").textContent = `${m.name} · ${m.num_classes} classes · runs at ${size} · ${m.device}`;
  $("limits").textContent = `PNG, JPEG, WebP… up to ${formatBytes(m.limits.max_bytes)}, ` +
    `${(m.limits.max_pixels / 1e6).toFixed(1)} megapixels`;
  buildLegend(m.classes);
  setState("ready");
  await loadSamples().catch(() => { $("samples-box").hidden = true; });
}

init();
