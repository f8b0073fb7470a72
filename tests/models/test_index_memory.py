"""During an eval forward of segnet at 360x480 no int64 index map ever exists, and the live
integer/boolean tensors stay under a quarter of torch's int64 pooling indices (42 MB)."""

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import segnet

TORCH_INT64_INDEX_BYTES = 8 * (64 * 180 * 240 + 128 * 90 * 120 + 256 * 45 * 60 + 512 * 23 * 30 + 512 * 12 * 15)


class IntegerTensorTracker(TorchDispatchMode):
    """Follows every non-float tensor an op returns; records the peak of their live storage."""

    def __init__(self) -> None:
        super().__init__()
        self.alive: list[weakref.ref] = []
        self.peak_bytes = 0
        self.largest_int64 = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and not t.is_floating_point() and not t.is_complex():
                self.alive.append(weakref.ref(t))
                if t.dtype == torch.int64:
                    self.largest_int64 = max(self.largest_int64, t.numel())
        storages = {}
        live = []
        for ref in self.alive:
            t = ref()
            if t is not None:
                live.append(ref)
                storage = t.untyped_storage()
                storages[storage.data_ptr()] = storage.nbytes()
        self.alive = live
        self.peak_bytes = max(self.peak_bytes, sum(storages.values()))
        return out


def test_eval_forward_keeps_index_memory_under_a_quarter_of_int64():
    model = segnet.create_model("segnet", num_classes=11).eval()
    x = torch.randn(1, 3, 360, 480)
    tracker = IntegerTensorTracker()
    with torch.no_grad(), tracker:
        logits = model(x)
    assert logits.shape == (1, 11, 360, 480)
    assert tracker.largest_int64 <= 16, "an int64 index map was created"
    assert 0 < tracker.peak_bytes <= TORCH_INT64_INDEX_BYTES / 4, tracker.peak_bytes
