// Live mode: segments a playing video file or the webcam continuously.
//
// One frame is in flight per page at any time: the loop grabs the newest frame only once the
// previous answer is in, so a slow server means fewer frames, never a backlog (frames that went by
// meanwhile are simply skipped). A 503 from the server's full queue is honoured: the loop sleeps
// for Retry-After (doubling on repeated refusals) before it sends again. Each answer is drawn over
// the very frame that was sent, so the overlay never lags the picture under it.

import { composite, decodeLabels, paintLabels, sharesOf } from "./labels.js";

const SEND_MAX_WIDTH = 480;     // frames are downscaled to this before JPEG encoding: less to send and decode
const JPEG_QUALITY = 0.8;
const STATS_WINDOW_MS = 2000;   // frames/s and latencies are averaged over this much recent time
const FRAME_WAIT_MS = 100;      // longest wait for a new video frame before looking again
const MAX_BACKOFF_S = 8;
// A video can report a frame ready (readyState >= 2) before its decoder hands the frame over; on a
// slow or busy machine createImageBitmap then fails with "The image source is not usable". Such a
// frame is waited for, up to this many times in a row, before live mode gives up.
const MAX_UNUSABLE_FRAMES = 50;

function sleep(ms, session) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    session.wake = () => { clearTimeout(timer); resolve(); };
  });
}

// Resolves when the video presents a new frame, or after FRAME_WAIT_MS (a paused or ended video
// presents none; the caller then looks at its state).
function nextFrame(video) {
  return new Promise((resolve) => {
    if (!video.requestVideoFrameCallback) { setTimeout(resolve, 15); return; }
    const handle = video.requestVideoFrameCallback(() => { clearTimeout(timer); resolve(); });
    const timer = setTimeout(() => { video.cancelVideoFrameCallback(handle); resolve(); }, FRAME_WAIT_MS);
  });
}

// "inference;dur=31.2, total;dur=40" -> { inference: 31.2, total: 40 }
export function parseServerTiming(header) {
  const timing = {};
  for (const part of (header || "").split(",")) {
    const match = part.trim().match(/^([\w-]+);dur=([\d.]+)$/);
    if (match) timing[match[1]] = Number(match[2]);
  }
  return timing;
}

function cameraMessage(error) {
  if (error.name === "NotAllowedError") return "Camera permission was denied; allow it in the browser and try again.";
  if (error.name === "NotFoundError" || error.name === "OverconstrainedError") return "No camera was found.";
  if (error.name === "NotReadableError") return "The camera is in use by another program.";
  return `The camera could not be opened: ${error.message}`;
}

export class LiveView {
  // hooks: { palette, opacity(): number, onFrame(result, stats), onStatus(text), onError(text), onStop(reason) }
  constructor(elements, hooks) {
    Object.assign(this, elements);  // section, video, canvas, fps, latency, roundTrip, frames, source
    this.hooks = hooks;
    this.session = null;
    this.last = null;       // { frame: ImageBitmap, result: {labels, width, height} } of the frame shown
    this.mask = document.createElement("canvas");
    this.setInFlight(0);
  }

  get running() {
    return Boolean(this.session && this.session.active);
  }

  setInFlight(n) {
    this.inFlight = n;
    this.section.dataset.inFlight = String(n);
  }

  async startFile(file, loop) {
    await this.start(file.name, { url: URL.createObjectURL(file), loop });
  }

  async startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.hooks.onError("The browser offers the webcam only to secure pages: open the demo at " +
        "http://localhost:<port> (or 127.0.0.1) on this machine, or over https.");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: false, video: { width: { ideal: 640 }, height: { ideal: 480 } } });
    } catch (error) {
      this.hooks.onError(cameraMessage(error));
      return;
    }
    await this.start("webcam", { stream });
  }

  async start(name, source) {
    this.stop("replaced");
    const session = { active: true, abort: new AbortController(), wake: null, ...source };
    this.session = session;
    if (source.stream) {
      this.video.removeAttribute("src");
      this.video.srcObject = source.stream;
    } else {
      this.video.srcObject = null;
      this.video.src = source.url;
    }
    this.video.loop = Boolean(source.loop);
    this.stamps = [];
    this.section.dataset.state = "starting";
    this.section.dataset.frames = "0";
    this.frames.textContent = "0";
    for (const el of [this.fps, this.latency, this.roundTrip]) el.textContent = "–";
    this.section.dataset.fps = "0";
    this.source.textContent = name;
    this.section.hidden = false;
    try {
      this.video.muted = true;
      await this.video.play();
    } catch (error) {
      if (!session.active) return;  // stopped or replaced while starting
      this.stop("error");
      this.hooks.onError(`${name} cannot be played here (${error.message}); Chromium plays WebM (VP8/VP9) ` +
        "and, in builds with those codecs, MP4 (H.264).");
      return;
    }
    if (!session.active) return;
    if (source.stream) {
      for (const track of source.stream.getVideoTracks()) {
        track.addEventListener("ended", () => session === this.session && this.stop("camera ended"));
      }
    }
    this.canvas.width = this.video.videoWidth;
    this.canvas.height = this.video.videoHeight;
    this.canvas.style.setProperty("--aspect", String(this.video.videoWidth / this.video.videoHeight));
    this.section.dataset.state = "running";
    this.hooks.onStatus(`Live: ${name}, ${this.video.videoWidth}×${this.video.videoHeight} px.`);
    this.loop(session).catch((error) => {
      if (session.active) { this.stop("error"); this.hooks.onError(`Live mode failed: ${error.message}`); }
    });
  }

  // Stopping aborts the request in flight (the server drops it if it has not reached the model).
  stop(reason) {
    const session = this.session;
    if (!session || !session.active) return;
    session.active = false;
    session.abort.abort();
    if (session.wake) session.wake();
    this.video.pause();
    if (session.stream) for (const track of session.stream.getTracks()) track.stop();
    this.video.srcObject = null;
    if (session.url) {
      this.video.removeAttribute("src");
      this.video.load();  // lets the decoder go
      URL.revokeObjectURL(session.url);
    }
    this.section.dataset.state = "stopped";
    if (reason !== "replaced" && reason !== "error") this.hooks.onStop(reason);  // errors report themselves
  }

  async loop(session) {
    const video = this.video;
    const work = document.createElement("canvas");
    let lastTime = -1;
    let backoff = 0;
    let unusable = 0;
    while (session.active) {
      if (video.ended) { this.stop("ended"); break; }
      // A file's frame is new when its time moves; a camera stream always has a fresh one.
      if (video.readyState < 2 || (!session.stream && video.currentTime === lastTime)) {
        await nextFrame(video);
        continue;
      }
      lastTime = video.currentTime;
      let frame;
      try {
        frame = await createImageBitmap(video);
      } catch (error) {
        if (++unusable > MAX_UNUSABLE_FRAMES) throw error;
        lastTime = -1;  // the same frame may be usable in a moment
        await nextFrame(video);
        continue;
      }
      unusable = 0;
      const scale = Math.min(1, SEND_MAX_WIDTH / frame.width);
      work.width = Math.max(1, Math.round(frame.width * scale));
      work.height = Math.max(1, Math.round(frame.height * scale));
      work.getContext("2d").drawImage(frame, 0, 0, work.width, work.height);
      const jpeg = await new Promise((resolve) => work.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
      if (!session.active) { frame.close(); break; }
      const answer = await this.send(session, jpeg);
      if (!answer || !session.active) { frame.close(); break; }
      if (answer.busy) {
        frame.close();
        backoff = Math.min(MAX_BACKOFF_S, Math.max(answer.retryAfter, backoff ? backoff * 2 : answer.retryAfter));
        this.section.dataset.state = "waiting";
        this.hooks.onStatus(`Server busy: waiting ${backoff} s before the next frame.`);
        await sleep(backoff * 1000, session);
        if (session.active) this.section.dataset.state = "running";
        continue;
      }
      backoff = 0;
      this.show(frame, answer);
    }
  }

  // One frame to the server. Returns { result, timing, roundTrip }, { busy, retryAfter }, or null
  // when the session ended or failed (the error is reported here).
  async send(session, jpeg) {
    const started = performance.now();
    this.setInFlight(this.inFlight + 1);
    try {
      const response = await fetch("/api/segment?format=labels", {
        method: "POST", body: jpeg, headers: { "Content-Type": "image/jpeg" }, signal: session.abort.signal,
      });
      if (response.status === 503) {
        await response.arrayBuffer();
        const retryAfter = Math.max(1, Number(response.headers.get("retry-after")) || 1);
        return { busy: true, retryAfter };
      }
      if (!response.ok) {
        const body = await response.json().catch(() => ({ detail: response.statusText }));
        this.stop("error");
        this.hooks.onError(`${body.detail || "error"} (HTTP ${response.status})`);
        return null;
      }
      const png = await response.blob();
      const result = await decodeLabels(png);
      return { result, timing: parseServerTiming(response.headers.get("server-timing")),
               roundTrip: performance.now() - started };
    } catch (error) {
      if (session.active) {
        this.stop("error");
        this.hooks.onError(`Could not reach the server: ${error.message}`);
      }
      return null;
    } finally {
      this.setInFlight(this.inFlight - 1);
    }
  }

  show(frame, answer) {
    if (this.last) this.last.frame.close();
    this.last = { frame, result: answer.result };
    this.redraw();
    const now = performance.now();
    this.stamps.push({ at: now, inference: answer.timing.inference, roundTrip: answer.roundTrip });
    // Keep the last two frames even when one took longer than the window, so a slow model still
    // shows its rate instead of a dash.
    while (this.stamps.length > 2 && now - this.stamps[0].at > STATS_WINDOW_MS) this.stamps.shift();
    const n = this.stamps.length;
    const span = n > 1 ? now - this.stamps[0].at : 0;
    const fps = span > 0 ? ((n - 1) * 1000) / span : 0;
    const mean = (key) => this.stamps.reduce((sum, s) => sum + (s[key] || 0), 0) / n;
    const stats = { fps, inference: mean("inference"), roundTrip: mean("roundTrip"), timing: answer.timing,
                    frames: Number(this.section.dataset.frames) + 1 };
    if (stats.frames === 1) this.section.scrollIntoView({ block: "nearest" });  // the whole live view in sight
    this.section.dataset.frames = String(stats.frames);
    this.section.dataset.fps = fps.toFixed(2);
    this.frames.textContent = String(stats.frames);
    this.fps.textContent = n > 1 ? fps.toFixed(1) : "–";
    this.latency.textContent = stats.inference.toFixed(0);
    this.roundTrip.textContent = stats.roundTrip.toFixed(0);
    this.hooks.onFrame(answer.result, stats);
  }

  // Draws the shown frame and its labels again (after the opacity or a class toggle changed).
  redraw() {
    if (!this.last) return;
    paintLabels(this.mask, this.last.result, this.hooks.palette.visible);
    composite(this.canvas, this.last.frame, this.mask, this.hooks.opacity());
  }

  // The shown frame's labels in full colour, for the mask download.
  colourMask() {
    if (!this.last) return null;
    return paintLabels(document.createElement("canvas"), this.last.result, this.hooks.palette.full);
  }

  get result() {
    return this.last ? this.last.result : null;
  }

  clear() {
    if (this.last) this.last.frame.close();
    this.last = null;
    this.canvas.width = this.canvas.height = 0;
    this.section.hidden = true;
  }
}
