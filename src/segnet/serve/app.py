"""`create_app`: the demo page and a JSON API around one loaded `Segmenter`.

The model is loaded once by the caller. Torch runs in a single dedicated worker thread, so
inference is serialised while the event loop keeps answering health checks and page loads.
Decoding and PNG encoding run in a small separate pool. Load is shed, not piled up: at most
``max_queue`` segment requests are admitted at once (the rest get 503 with ``Retry-After``), a
body must arrive within ``body_timeout`` seconds (else 408), and an image whose client has gone
by the time the model is free is dropped unrun.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..inference import Segmenter
from .images import ImageRejected, class_shares, decode_image, format_bytes, png_base64, png_bytes

STATIC_DIR = Path(__file__).resolve().parent / "static"
SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MAX_SAMPLES = 12
# Room for multipart boundaries and part headers around the file itself.
MULTIPART_SLACK = 64 * 1024

T = TypeVar("T")

SEGMENT_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The image: multipart form field `file`, or the raw bytes with an image/* content type.",
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}},
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {
        "200": {
            "description": "JSON result; with ?format=png the colour-coded labels as a PNG; with "
                           "?format=labels the class indices as a greyscale PNG (the live page's per-frame call).",
            "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "width": {"type": "integer"}, "height": {"type": "integer"},
                    "labels_png": {"type": "string", "description": "base64 greyscale PNG of class indices"},
                    "color_png": {"type": "string", "description": "base64 RGB PNG in the class colours"},
                    "shares": {"type": "object", "additionalProperties": {"type": "number"},
                               "description": "percent of pixels per class name"},
                    "timing_ms": {"type": "object", "additionalProperties": {"type": "number"},
                                  "description": "decode, queue, inference, encode, total"},
                }}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "400": {"description": "empty, truncated or corrupt image"},
        "413": {"description": "over the byte or pixel limit"},
        "415": {"description": "not an image"},
    },
}


class WorkerPools:
    """The app's threads, made on first use and closed at shutdown (an app may be started again)."""

    # One torch job at a time: a model is not safe to call concurrently, and on a small machine
    # parallel forwards would only fight over the same cores. Images decode/encode two at a time.
    SIZES = {"inference": 1, "image": 2}

    def __init__(self) -> None:
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def get(self, kind: str) -> ThreadPoolExecutor:
        with self._lock:
            if kind not in self._pools:
                self._pools[kind] = ThreadPoolExecutor(self.SIZES[kind], thread_name_prefix=f"segnet-{kind}")
            return self._pools[kind]

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


def sequence_of(name: str) -> str:
    """'0016E5_07959.png' -> '0016E5': CamVid names start with their driving sequence."""
    stem = Path(name).stem
    return stem.rsplit("_", 1)[0] if "_" in stem else ""


def spread(items: list[str], count: int) -> list[str]:
    """``count`` items evenly spaced through ``items`` (the middle of each of ``count`` equal runs)."""
    if count >= len(items):
        return list(items)
    return [items[(2 * i + 1) * len(items) // (2 * count)] for i in range(count)]


def list_samples(samples_dir: Path | None, limit: int = MAX_SAMPLES) -> list[str]:
    """Up to ``limit`` image names from the folder, varied: spread through each sequence, sequences interleaved.

    Neighbouring video frames are near-duplicates, so the first dozen sorted names would show one
    second of one drive. Each sequence (name prefix) gets an even share of the slots (a short one
    gives its spare slots to the others), its picks are spread evenly through it, and the list takes
    one from each sequence in turn. The result depends on the names only, so it is stable.
    """
    if samples_dir is None:
        return []
    groups: dict[str, list[str]] = {}
    for path in sorted(samples_dir.iterdir()):
        if path.is_file() and path.suffix.lower() in SAMPLE_SUFFIXES:
            groups.setdefault(sequence_of(path.name), []).append(path.name)
    quota = dict.fromkeys(groups, 0)
    free = min(limit, sum(map(len, groups.values())))
    while free:  # deal the slots round-robin, skipping sequences already used up
        for key, names in groups.items():
            if free and quota[key] < len(names):
                quota[key] += 1
                free -= 1
    picks = [spread(groups[key], quota[key]) for key in groups]
    return [pick[i] for i in range(max(map(len, picks), default=0)) for pick in picks if i < len(pick)]


async def read_body_capped(request: Request, max_bytes: int, slack: int = 0) -> bytes:
    """The request body, refused (413) once past ``max_bytes + slack``, before it is all read."""
    limit = max_bytes + slack
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ImageRejected(413, f"request body is {format_bytes(int(declared))}, over the upload limit of "
                                 f"{format_bytes(max_bytes)}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ImageRejected(413, f"request body passes the upload limit of {format_bytes(max_bytes)}")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_bytes(request: Request, max_bytes: int) -> bytes:
    """The image bytes of a multipart field ``file`` or of a raw image/* body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        body = await read_body_capped(request, max_bytes, MULTIPART_SLACK)

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=1, max_fields=8)
        except HTTPException as error:
            raise ImageRejected(400, f"malformed multipart body: {error.detail}") from None
        except MultiPartException as error:
            raise ImageRejected(400, f"malformed multipart body: {error.message}") from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ImageRejected(400, "multipart body has no file field named 'file'")
            return await upload.read()
        finally:
            await form.close()
    if content_type and not (content_type.startswith("image/") or content_type == "application/octet-stream"):
        raise ImageRejected(415, f"content type '{content_type}' is not an image; send multipart/form-data "
                                 "with field 'file', or the raw image with an image/* content type")
    return await read_body_capped(request, max_bytes)


def create_app(segmenter: Segmenter, samples_dir: str | Path | None = None,
               max_bytes: int = 20 * 1024 * 1024, max_pixels: int = 4096 * 4096, max_queue: int = 8,
               body_timeout: float = 10.0, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The demo app for ``segmenter``; uploads over ``max_bytes`` or ``max_pixels`` get a 413.

    ``max_queue``: segment requests admitted at once (reading, waiting or running); ``body_timeout``:
    seconds a request body may take to arrive; ``allowed_hosts``: the Host header values served
    (None serves any, for use inside other apps; `segnet serve` passes the names it listens on).
    """
    if max_bytes < 1 or max_pixels < 1:
        raise ValueError(f"max_bytes ({max_bytes}) and max_pixels ({max_pixels}) must be positive")
    if max_queue < 1 or not body_timeout > 0:
        raise ValueError(f"max_queue ({max_queue}) and body_timeout ({body_timeout}) must be positive")
    samples = Path(samples_dir) if samples_dir is not None else None
    if samples is not None and not samples.is_dir():
        raise FileNotFoundError(f"{samples}: samples folder not found")

    pools = WorkerPools()
    torch_lock = threading.Lock()  # belt and braces should the pool ever grow
    pending = {"count": 0, "admitted": 0, "dropped": 0, "refused": 0}
    recent_inference_s = [0.2]  # running estimate of one image's model time, for Retry-After
    turn_locks: dict[int, asyncio.Lock] = {}  # FIFO turns at the model (one lock per event loop)

    def model_turn() -> asyncio.Lock:
        return turn_locks.setdefault(id(asyncio.get_running_loop()), asyncio.Lock())
    started = time.time()
    names = list(segmenter.classes.names)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        pools.close()

    # No /docs or /redoc: FastAPI's Swagger UI and ReDoc pages load their scripts from a CDN, so they
    # are blank offline and would make the page reach outside the machine. /openapi.json stays.
    app = FastAPI(title="SegNet demo", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Road-scene semantic segmentation with SegNet: upload an image, get "
                              "per-pixel class labels, a colour rendering and the share of each class.")
    app.state.segmenter = segmenter
    if allowed_hosts is not None:  # a DNS-rebinding page cannot reach a server that checks Host
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    async def in_pool(kind: str, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pools.get(kind), fn)

    def infer(image) -> tuple[np.ndarray, float]:
        with torch_lock:
            start = time.perf_counter()
            labels = segmenter.label(image)
            return labels, time.perf_counter() - start

    @app.exception_handler(ImageRejected)
    async def rejected(request: Request, error: ImageRejected) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        # One readable line, like every other error of this API, instead of FastAPI's list.
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in error.errors()]
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/health", summary="Liveness, and how many images wait for the model")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": segmenter.spec.name, "queued": pending["count"],
                "admitted": pending["admitted"], "max_queue": max_queue, "refused": pending["refused"],
                "dropped": pending["dropped"], "uptime_s": round(time.time() - started, 1)}

    @app.get("/api/model", summary="The model: name, classes with colours, input size")
    async def model_info() -> dict[str, Any]:
        classes = segmenter.classes
        return {
            "name": segmenter.spec.name,
            "num_classes": classes.num_classes,
            "classes": [{"index": i, "name": n, "color": list(c)}
                        for i, (n, c) in enumerate(zip(classes.names, classes.colors))],
            "input_size": list(segmenter.size) if segmenter.size else None,
            "device": str(segmenter.device),
            "precision": segmenter.precision,
            "limits": {"max_bytes": max_bytes, "max_pixels": max_pixels, "max_queue": max_queue,
                       "body_timeout_s": body_timeout},
        }

    @app.get("/api/samples", summary="Sample frames offered on the page")
    async def sample_list() -> list[dict[str, str]]:
        return [{"name": n, "url": f"/api/samples/{n}"} for n in list_samples(samples)]

    @app.get("/api/samples/{name}", summary="One sample frame", response_class=FileResponse)
    async def sample_file(name: str) -> FileResponse:
        if samples is None or name not in list_samples(samples):  # only listed names: no path tricks
            raise HTTPException(404, f"no sample named '{name}'; see /api/samples")
        return FileResponse(samples / name)

    @app.post("/api/segment", summary="Segment an image", openapi_extra=SEGMENT_BODY_DOC)
    async def segment(request: Request,
                      format: str = Query("json", pattern="^(json|png|labels)$",
                                          description="json (default); png: the colour labels only; labels: the "
                                                      "class indices as a greyscale PNG")) -> Response:
        if pending["admitted"] >= max_queue:
            pending["refused"] += 1
            retry = max(1, math.ceil(recent_inference_s[0] * pending["admitted"]))
            return JSONResponse({"detail": f"server busy: {pending['admitted']} images are already being handled "
                                           f"(limit {max_queue}); retry in {retry} s"},
                                status_code=503, headers={"Retry-After": str(retry)})
        pending["admitted"] += 1
        try:
            return await _segment(request, format)
        finally:
            pending["admitted"] -= 1

    async def _segment(request: Request, format: str) -> Response:
        try:
            data = await asyncio.wait_for(upload_bytes(request, max_bytes), body_timeout)
        except asyncio.TimeoutError:
            raise ImageRejected(408, f"the request body did not arrive within {body_timeout:g} s") from None
        start = time.perf_counter()
        image = await in_pool("image", lambda: decode_image(data, max_bytes, max_pixels))
        decoded = time.perf_counter()
        pending["count"] += 1
        try:
            async with model_turn():
                if await request.is_disconnected():  # nobody waits for this answer: skip the model
                    pending["dropped"] += 1
                    return Response(status_code=499)
                labels, inference_s = await in_pool("inference", lambda: infer(image))
        except Exception as error:  # a model failure answers this request only
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise HTTPException(500, f"inference failed on a {image.width}x{image.height} image: {message}") from None
        finally:
            pending["count"] -= 1
        recent_inference_s[0] = 0.8 * recent_inference_s[0] + 0.2 * inference_s
        inferred = time.perf_counter()
        if format == "png":
            payload: Any = await in_pool("image", lambda: png_bytes(segmenter.colorize(labels)))
        elif format == "labels":  # the page colours these itself, so classes can be hidden per frame
            payload = await in_pool("image", lambda: png_bytes(labels))
        else:
            payload = await in_pool("image", lambda: {
                "labels_png": png_base64(labels), "color_png": png_base64(segmenter.colorize(labels)),
                "shares": class_shares(labels, names)})
        end = time.perf_counter()
        timing = {"decode": decoded - start, "queue": inferred - decoded - inference_s,
                  "inference": inference_s, "encode": end - inferred, "total": end - start}
        timing_ms = {k: round(v * 1000, 2) for k, v in timing.items()}
        server_timing = ", ".join(f"{k};dur={v}" for k, v in timing_ms.items())
        if format in ("png", "labels"):
            return Response(payload, media_type="image/png", headers={"Server-Timing": server_timing})
        body = {"width": image.width, "height": image.height, **payload, "timing_ms": timing_ms}
        return JSONResponse(body, headers={"Server-Timing": server_timing})

    return app
