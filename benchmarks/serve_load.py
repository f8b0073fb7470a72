"""Load test of the web demo: N concurrent clients posting one image for a bounded time.

Starts `segnet serve`'s app in-process on 127.0.0.1 (or targets a running one with --url; only
127.0.0.1 is allowed, so this never loads someone else's machine) and reports requests/s,
latency percentiles and errors. Inference is serialised in the server, so requests/s is bounded
by one forward pass at a time; more clients raise latency, not throughput.

    python benchmarks/serve_load.py --weights runs/x/best.pt --clients 4 --seconds 10
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --image street.png
    # overload: large images, clients that give up after 1.5 s, bounded vs (nearly) unbounded admission
    python benchmarks/serve_load.py --clients 10 --image-size 2048x2048 --client-timeout 1.5 --max-queue 8
    python benchmarks/serve_load.py --clients 10 --image-size 2048x2048 --client-timeout 1.5 --max-queue 32
"""

from __future__ import annotations

import argparse
import io
import resource
import json
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
from PIL import Image

MAX_CLIENTS = 32
MAX_SECONDS = 120.0


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        raise ValueError(f"--url {url!r}: only http://127.0.0.1[:port] targets are allowed")
    return url.rstrip("/")


def image_bytes(path: str | None, size: tuple[int, int]) -> tuple[bytes, str]:
    """The image file to post, or a synthetic PNG of ``size`` (HxW)."""
    if path:
        data = Path(path).read_bytes()
        return data, Image.MIME.get(Image.open(io.BytesIO(data)).format or "", "application/octet-stream")
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue(), "image/png"


def server_inference_ms(header: str) -> float | None:
    for part in header.split(","):
        name, _, value = part.strip().partition(";dur=")
        if name == "inference" and value:
            return float(value)
    return None


def load(url: str, data: bytes, content_type: str, clients: int, seconds: float, fmt: str,
         client_timeout: float = 60.0) -> dict:
    """Run the clients until ``seconds`` pass; each waits for its answer before the next request."""
    latencies: list[float] = []
    inference: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=client_timeout, trust_env=False) as session:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    response = session.post(f"{url}/api/segment", params={"format": fmt}, content=data,
                                            headers={"content-type": content_type})
                    error = None if response.status_code == 200 else f"HTTP {response.status_code}"
                    if response.status_code == 503:  # shed: wait as the server asks, a little
                        time.sleep(min(0.5, float(response.headers.get("retry-after", "1"))))
                except httpx.TimeoutException:
                    response, error = None, "gave up (client timeout)"
                except httpx.HTTPError as exc:
                    response, error = None, type(exc).__name__
                elapsed = time.perf_counter() - start
                with lock:
                    if error:
                        errors[error] = errors.get(error, 0) + 1
                    else:
                        latencies.append(elapsed)
                        ms = server_inference_ms(response.headers.get("server-timing", ""))
                        if ms is not None:
                            inference.append(ms)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    pct = (lambda q: round(float(np.percentile(ms, q)), 1)) if len(ms) else (lambda q: None)
    return {
        "clients": clients, "seconds": round(wall, 2), "requests": len(latencies),
        "errors": sum(errors.values()), "error_kinds": errors,
        "requests_per_s": round(len(latencies) / wall, 2),
        "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99)},
        "server_inference_ms_mean": round(float(np.mean(inference)), 1) if inference else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server, http://127.0.0.1:PORT (default: start one here)")
    parser.add_argument("--weights", help="checkpoint for the in-process server (default: the shipped model)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["fp32", "bf16", "int8", "auto"],
                        help="inference precision of the in-process server (default auto, as segnet serve)")
    parser.add_argument("--clients", type=int, default=4, help=f"concurrent clients (1-{MAX_CLIENTS}, default 4)")
    parser.add_argument("--seconds", type=float, default=10, help=f"duration (at most {MAX_SECONDS:.0f}, default 10)")
    parser.add_argument("--image", help="image file to post (default: a synthetic PNG of --image-size)")
    parser.add_argument("--image-size", default="360x480", help="HxW of the synthetic image (default 360x480)")
    parser.add_argument("--format", default="json", choices=["json", "png"], help="response format asked for")
    parser.add_argument("--client-timeout", type=float, default=60.0,
                        help="seconds a client waits for an answer before giving up (default 60)")
    parser.add_argument("--max-queue", type=int, default=8,
                        help="the in-process server's admission bound, as segnet serve --max-queue (default 8)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        if not 1 <= args.clients <= MAX_CLIENTS:
            raise ValueError(f"--clients {args.clients}: use 1 to {MAX_CLIENTS}")
        if not 0 < args.seconds <= MAX_SECONDS:
            raise ValueError(f"--seconds {args.seconds}: use more than 0 and at most {MAX_SECONDS:.0f}")
        height, width = (int(v) for v in args.image_size.lower().split("x"))
        data, content_type = image_bytes(args.image, (height, width))
        if args.url:
            url, server = check_url(args.url), nullcontext()
        else:
            import segnet
            from segnet.serve import create_app
            from segnet.serve.background import BackgroundServer
            app = create_app(segnet.load(args.weights, device=args.device, precision=args.precision, tta="none"),
                             max_queue=args.max_queue)
            server = BackgroundServer(app)
            url = server.url
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"serve_load: error: {error}", file=sys.stderr)
        return 2
    with server:
        httpx.get(f"{url}/api/health", timeout=10, trust_env=False).raise_for_status()
        report = load(url, data, content_type, args.clients, args.seconds, args.format, args.client_timeout)
        health = httpx.get(f"{url}/api/health", timeout=10, trust_env=False).json()
        report["server"] = {k: health.get(k) for k in ("refused", "dropped", "max_queue")}
    report["image_bytes"] = len(data)
    if args.json:
        print(json.dumps(report))
    else:
        lat = report["latency_ms"]
        print(f"{report['clients']} clients, {report['seconds']} s: {report['requests']} requests, "
              f"{report['requests_per_s']} req/s, latency p50 {lat['p50']} / p95 {lat['p95']} / p99 {lat['p99']} ms, "
              f"server inference {report['server_inference_ms_mean']} ms, errors {report['errors']} "
              f"{report['error_kinds'] or ''}, server {report['server']}, peak RSS {report['peak_rss_mb']} MB")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
