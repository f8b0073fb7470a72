"""`segnet serve`: the web demo (upload a road scene, see its segmentation) on uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys

from ..devices import DEVICE_HELP
from ..extras import require
from .common import (add_backend_argument, add_precision_argument, add_refine_argument, add_tta_argument, parse_names,
                     parse_size)

UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def parse_bytes(text: str) -> int:
    """'20MB' -> 20000000, '512KiB' -> 524288, '1000' -> 1000."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?I?B?)\s*", text.upper())
    if not match or match.group(2) not in UNITS:
        raise ValueError(f"--max-bytes '{text}' is not a size such as 20MB, 512KiB or 1000000")
    value = int(float(match.group(1)) * UNITS[match.group(2)])
    if value < 1:
        raise ValueError(f"--max-bytes '{text}' must be at least 1 byte")
    return value


def parse_pixels(text: str) -> int:
    """'4096x4096' -> 16777216; a plain number is a pixel count."""
    if text.strip().isdigit():
        value = int(text)
    else:
        size = parse_size(text)
        if size is None:
            raise ValueError(f"--max-pixels '{text}' is not a pixel count or WxH such as 4096x4096")
        value = size[0] * size[1]
    if value < 1:
        raise ValueError(f"--max-pixels '{text}' must be at least 1")
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, given: str | None) -> list[str]:
    """Host header names to serve: the loopback names and the listening address, or what was given."""
    if given:
        return parse_names(given)
    names = ["localhost", "127.0.0.1", "::1", "[::1]"]
    if host in ("0.0.0.0", "::"):
        return ["*"]  # reachable under names this process cannot know; the warning below says so
    return names + ([host] if host not in names else [])


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve", help="web demo: upload an image, see its segmentation (FastAPI on uvicorn)",
        description="Serve the SegNet demo page and JSON API: GET / (the page), POST /api/segment, "
        "GET /api/model, /api/health, /api/samples, and the OpenAPI schema at /openapi.json. "
        "The model is loaded once; images are segmented one at a time, further requests wait in line.",
    )
    p.add_argument("--weights", help="checkpoint (.pt) from segnet train, a known name (camvid) or a file from "
                   "segnet export (.onnx, .xml, .pt2) (default: the shipped CamVid model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--sample-dir", "--samples", dest="samples", metavar="DIR",
                   help="folder of sample frames offered on the page (up to 12 images, spread across the "
                   "sequences their names start with, e.g. CamVid's 0016E5_; default none)")
    p.add_argument("--device", default="cpu", help=f"{DEVICE_HELP} (default cpu)")
    p.add_argument("--size", help="HxW the model runs at (default: the checkpoint's training size)")
    p.add_argument("--amp", default="none", choices=["none", "bf16"], help="bf16 autocast (default none)")
    add_precision_argument(p, "auto")
    add_tta_argument(p, "none")  # real-time demo: one pass per frame
    add_refine_argument(p, "none")
    add_backend_argument(p)
    p.add_argument("--max-bytes", default="20MiB", help="largest upload accepted, e.g. 20MB or 5MiB (default 20MiB)")
    p.add_argument("--max-pixels", default="4096x4096",
                   help="largest image accepted, WxH or a pixel count (default 4096x4096)")
    p.add_argument("--max-queue", type=int, default=8,
                   help="segment requests handled at once; more get 503 with Retry-After (default 8)")
    p.add_argument("--body-timeout", type=float, default=10.0,
                   help="seconds an upload may take to arrive, else 408 (default 10)")
    p.add_argument("--allowed-hosts", metavar="NAME[,NAME]",
                   help="Host header values served (default: localhost, 127.0.0.1, [::1] and --host; '*' "
                   "serves any). Other names get 400, so a web page cannot reach the server by DNS rebinding")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (default info)")
    return p


def run(args: argparse.Namespace) -> int:
    max_bytes, max_pixels = parse_bytes(args.max_bytes), parse_pixels(args.max_pixels)
    if args.max_queue < 1:
        raise ValueError(f"--max-queue {args.max_queue}: at least 1 request must be let in")
    if not args.body_timeout > 0:
        raise ValueError(f"--body-timeout {args.body_timeout}: give a positive number of seconds")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a TCP port (0-65535)")

    require("serve", "segnet serve")
    import uvicorn  # only `serve` needs the web stack

    from ..inference import load
    from ..serve import create_app

    try:
        segmenter = load(args.weights, device=args.device, size=parse_size(args.size), amp=args.amp,
                         precision=args.precision, tta=args.tta, backend=args.backend, refine=args.refine)
    except FileNotFoundError as error:
        if args.weights is None:
            raise FileNotFoundError(f"no model to serve: {error}") from None
        raise
    app = create_app(segmenter, samples_dir=args.samples, max_bytes=max_bytes, max_pixels=max_pixels,
                     max_queue=args.max_queue, body_timeout=args.body_timeout,
                     allowed_hosts=allowed_hosts(args.host, args.allowed_hosts))
    if not is_loopback(args.host):
        print(f"segnet serve: warning: listening on {args.host}, reachable from other machines; "
              "the demo has no authentication", file=sys.stderr)
    print(f"segnet serve: {segmenter.spec.name} ({segmenter.classes.num_classes} classes, "
          f"{segmenter.precision}) from "
          f"{segmenter.weights_path} at http://{args.host}:{args.port}/", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
