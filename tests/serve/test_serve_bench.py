"""benchmarks/serve_load.py: a one-second run against an in-process server, and its target guard."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


def test_load_benchmark_runs_briefly(tiny_checkpoint, capsys):
    spec = importlib.util.spec_from_file_location("serve_load", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--weights", str(tiny_checkpoint), "--clients", "2", "--seconds", "1",
                       "--image-size", "24x32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] == 0 and report["requests"] >= 2
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert bench.main(["--url", "http://192.168.1.2:8000"]) == 2
    assert bench.main(["--clients", "1000"]) == 2
    assert "only http://127.0.0.1" in capsys.readouterr().err
