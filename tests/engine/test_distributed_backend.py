"""Under torchrun on GPUs the process group must carry CPU tensors too (the loop all-reduces CPU
loss sums and normalisers): NCCL alone cannot, so CUDA runs ask for gloo beside it."""

import torch.distributed as dist

from segnet.engine import distributed


def _capture(monkeypatch, device_type: str) -> str:
    chosen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: chosen.setdefault("backend", backend))
    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(distributed.torch.cuda, "set_device", lambda index: None)
    info = distributed.init_distributed(device_type)
    assert info.world_size == 2 and info.enabled
    return chosen["backend"]


def test_gpu_runs_reduce_cpu_tensors_through_gloo(monkeypatch):
    backend = _capture(monkeypatch, "cuda")
    assert dict(part.split(":") for part in backend.split(",")) == {"cpu": "gloo", "cuda": "nccl"}


def test_cpu_runs_use_gloo(monkeypatch):
    assert _capture(monkeypatch, "cpu") == "gloo"


def test_one_process_joins_no_group(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed.init_distributed("cuda").enabled
