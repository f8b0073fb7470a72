// SegNet demo page: a still image goes to /api/segment once and is drawn as input, labels and
// overlay; a video or the webcam runs in live mode (live.js). The overlay is blended here, so the
// opacity slider and the class toggles cost no request.

import { Legend, Palette, composite, decodeLabels, paintLabels, sharesOf } from "./labels.js";
import { LiveView } from "./live.js";

const $ = (id) => document.getElementById(id);
const VIDEO_NAME = /\.(webm|mp4|m4v|mov|mkv|ogv|ogg)$/i;
const STILL_CANVASES = ["input-canvas", "color-canvas", "overlay-canvas"];

// mode: "still" or "live"; still: { name, input, color, result } of the image shown, or null.
const view = { model: null, palette: null, legend: null, live: null, mode: "still", still: null, ticket: 0 };

function setState(state, message) {
  document.body.dataset.state = state;
  if (message !== undefined) $("status").textContent = message;
}

function setMode(mode) {
  view.mode = mode;
  document.body.dataset.mode = mode;
}

// An error leaves nothing of an earlier result on screen, so nothing can be mistaken for its answer.
function clearResults() {
  view.ticket++;
  if (view.live) { view.live.stop("replaced"); view.live.clear(); }
  if (view.still && view.still.input) view.still.input.close();
  view.still = null;
  for (const id of STILL_CANVASES) $(id).width = $(id).height = 0;
  $("results").hidden = true;
  $("toolbar").hidden = true;
  if (view.legend) view.legend.fill(null);
  fillTiming([["inference", null, " ms", true]]);
  $("hover").textContent = "Point at the result to name a pixel's class.";
}

function showError(message) {
  clearResults();
  $("error").textContent = message;
  $("error").hidden = false;
  setState("error", "Segmentation failed; choose another image or video.");
}

function formatBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(0)} MB` : `${Math.round(n / 1024)} KB`;
}

function opacity() {
  return Number($("opacity").value) / 100;
}

// rows: [name, value or null, unit, main?]
function fillTiming(rows) {
  $("timing").replaceChildren();
  for (const [name, value, unit, main] of rows) {
    if (value === undefined) continue;
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = value === null ? "–" : `${value.toFixed(1)}${unit}`;
    if (main) dt.className = dd.className = "main";
    $("timing").append(dt, dd);
  }
}

function sizeCanvas(id, width, height) {
  const canvas = $(id);
  canvas.width = width;
  canvas.height = height;
  return canvas.getContext("2d");
}

function drawOverlay() {
  $("opacity-value").textContent = `${$("opacity").value}%`;
  $("overlay-canvas").dataset.alpha = opacity().toFixed(2);
  if (view.mode === "live") {
    view.live.redraw();
    return;
  }
  const still = view.still;
  if (!still) return;
  sizeCanvas("overlay-canvas", still.result.width, still.result.height);
  const mask = paintLabels(document.createElement("canvas"), still.result, view.palette.visible);
  composite($("overlay-canvas"), still.input, mask, opacity());
}

function currentResult() {
  return view.mode === "live" ? view.live.result : view.still && view.still.result;
}

function showHover(event) {
  const result = currentResult();
  if (!result) return;
  const box = event.currentTarget.getBoundingClientRect();
  const x = Math.floor(((event.clientX - box.left) / box.width) * result.width);
  const y = Math.floor(((event.clientY - box.top) / box.height) * result.height);
  if (x < 0 || y < 0 || x >= result.width || y >= result.height) return;
  const index = result.labels[y * result.width + x];
  const cls = view.model.classes[index];
  $("hover").textContent = cls ? `(${x}, ${y}): ${cls.name}` : `(${x}, ${y}): label ${index}`;
  view.legend.highlight(index);
}

function base64Blob(text) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: "image/png" });
}

async function segment(blob, name) {
  view.live.stop("replaced");
  view.live.clear();
  setMode("still");
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
    if (ticket === view.ticket) showError(`Could not reach the server: ${error.message}`);
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
  const plain = { colorSpaceConversion: "none", premultiplyAlpha: "none" };
  const [color, result] = await Promise.all([
    createImageBitmap(base64Blob(body.color_png), plain), decodeLabels(base64Blob(body.labels_png))]);
  if (ticket !== view.ticket) return;
  if (view.still && view.still.input) view.still.input.close();
  view.still = { name, input, color, result };
  const inputCtx = sizeCanvas("input-canvas", result.width, result.height);
  if (input) inputCtx.drawImage(input, 0, 0, result.width, result.height);
  sizeCanvas("color-canvas", result.width, result.height).drawImage(color, 0, 0);
  drawOverlay();
  view.legend.fill(view.model.classes.map((cls) => body.shares[cls.name] ?? 0));
  const t = body.timing_ms;
  fillTiming([["inference", t.inference, " ms", true], ["decode", t.decode, " ms"], ["queue", t.queue, " ms"],
    ["encode", t.encode, " ms"], ["server total", t.total, " ms"], ["round trip", roundTrip, " ms"]]);
  $("live").hidden = true;
  $("results").hidden = false;
  $("toolbar").hidden = false;
  setState("done", `${name}: ${body.width}×${body.height} px, inference ${t.inference.toFixed(1)} ms.`);
}

async function startLive(start) {
  view.ticket++;  // a still request still under way must not draw over live mode
  if (view.still && view.still.input) view.still.input.close();
  view.still = null;
  $("error").hidden = true;
  $("results").hidden = true;
  $("toolbar").hidden = false;
  view.legend.fill(null);
  setMode("live");
  setState("live", "Starting live mode…");
  await start();
}

function liveHooks() {
  return {
    palette: view.palette,
    opacity,
    onStatus: (text) => setState(view.live.running ? "live" : document.body.dataset.state, text),
    onError: (text) => showError(text),
    onFrame: (result, stats) => {
      view.legend.fill(sharesOf(result.labels, view.model.num_classes));
      const t = stats.timing;
      fillTiming([["frames/s", stats.fps, "", true], ["inference", stats.inference, " ms", true],
        ["round trip", stats.roundTrip, " ms"], ["decode", t.decode, " ms"], ["queue", t.queue, " ms"],
        ["encode", t.encode, " ms"]]);
      if (document.body.dataset.state === "live") {
        $("status").textContent = `Live: ${$("live-source").textContent}, ${stats.frames} frames segmented.`;
      }
    },
    onStop: (reason) => {
      const frames = $("live").dataset.frames;
      const fps = Number($("live").dataset.fps).toFixed(1);
      const why = reason === "ended" ? "Video ended" : reason === "camera ended" ? "Camera stopped" : "Stopped";
      setState("done", `${why}: ${frames} frames segmented, last ${fps} frames/s.`);
    },
  };
}

function stemOf(name) {
  return (name || "segnet").replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "_") || "segnet";
}

// <a download> links: the PNG is made from the canvas when clicked, so it is exactly what is shown.
function wireDownload(id, suffix, pick) {
  const link = $(id);
  link.addEventListener("click", (event) => {
    const canvas = pick();
    if (!canvas || !canvas.width) { event.preventDefault(); return; }
    const name = view.mode === "live" ? `${$("live-source").textContent}-frame${$("live").dataset.frames}`
      : view.still.name;
    link.download = `${stemOf(name)}-${suffix}.png`;
    link.href = canvas.toDataURL("image/png");
  });
}

function isVideo(file) {
  return file.type.startsWith("video/") || (!file.type && VIDEO_NAME.test(file.name));
}

function open(file) {
  if (!file) return;
  if (isVideo(file)) startLive(() => view.live.startFile(file, $("live-loop").checked));
  else segment(file, file.name);
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
    open($("file").files[0]);
    $("file").value = "";  // choosing the same file again still fires "change"
  });
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const kind of ["dragleave", "drop"]) drop.addEventListener(kind, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    open(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
    if (file) segment(file, file.name || "pasted image");
  });
  $("webcam").addEventListener("click", () => startLive(() => view.live.startCamera()));
  $("live-stop").addEventListener("click", () => view.live.stop("stopped"));
  $("opacity").addEventListener("input", drawOverlay);
  for (const id of [...STILL_CANVASES, "live-canvas"]) $(id).addEventListener("mousemove", showHover);
  wireDownload("download-mask", "mask", () => (view.mode === "live" ? view.live.colourMask() : $("color-canvas")));
  wireDownload("download-overlay", "overlay", () => $(view.mode === "live" ? "live-canvas" : "overlay-canvas"));
}

async function init() {
  setMode("still");
  try {
    view.model = await (await fetch("/api/model")).json();
  } catch (error) {
    showError(`Could not load the model description: ${error.message}`);
    return;
  }
  const m = view.model;
  const size = m.input_size ? `${m.input_size[0]}×${m.input_size[1]} px` : "each image's own size";
  $("model-badge").textContent = `${m.name} · ${m.precision} · working size ${size} · ${m.num_classes} classes · ${m.device}`;
  $("model-badge").title = "model · precision that runs · size (height×width) images are resized to · classes · device";
  $("limits").textContent = `Images: PNG, JPEG, WebP… up to ${formatBytes(m.limits.max_bytes)}, ` +
    `${(m.limits.max_pixels / 1e6).toFixed(1)} megapixels. Videos: WebM, or whatever this browser plays.`;
  view.palette = new Palette(m.classes);
  view.legend = new Legend($("legend"), view.palette, drawOverlay);
  view.live = new LiveView({
    section: $("live"), video: $("live-video"), canvas: $("live-canvas"), fps: $("live-fps"),
    latency: $("live-latency"), roundTrip: $("live-roundtrip"), frames: $("live-frames"), source: $("live-source"),
  }, liveHooks());
  wireInputs();
  setState("ready");
  await loadSamples().catch(() => { $("samples-box").hidden = true; });
}

init();
