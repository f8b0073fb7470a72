"""scripts/camvid_transfer.py: CamVid packed as JPEG for a size-limited transfer, laid out again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from segnet.data import CamVid

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "camvid_transfer.py"


def _camvid(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("val", 2)):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        lines = []
        for i in range(count):
            name = f"0001TP_{split}{i:03d}.png"
            smooth = np.kron(rng.integers(0, 256, (9, 12, 3)), np.ones((4, 4, 1))).astype(np.uint8)
            Image.fromarray(smooth).save(root / split / name)
            Image.fromarray(rng.integers(0, 12, (36, 48)).astype(np.uint8)).save(root / f"{split}annot" / name)
            lines.append(f"/SegNet/CamVid/{split}/{name} /SegNet/CamVid/{split}annot/{name}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_pack_then_unpack_gives_a_readable_camvid_with_lossless_labels(tmp_path):
    source, packed, restored = tmp_path / "camvid", tmp_path / "packed", tmp_path / "restored"
    _camvid(source)
    assert _run("pack", str(source), str(packed)).returncode == 0
    assert sorted(p.name for p in (packed / "train").iterdir()) == ["0001TP_train000.jpg", "0001TP_train001.jpg",
                                                                   "0001TP_train002.jpg"]
    done = _run("unpack", str(packed), str(restored))
    assert done.returncode == 0 and "5 frames" in done.stdout
    for split in ("train", "val"):
        for original in (source / split).iterdir():
            again = restored / split / original.name
            assert (restored / f"{split}annot" / original.name).read_bytes() == \
                (source / f"{split}annot" / original.name).read_bytes()
            difference = np.abs(np.asarray(Image.open(again), dtype=int) - np.asarray(Image.open(original), dtype=int))
            assert 0 < difference.max() and difference.mean() < 3  # JPEG rounding, not another picture
    assert len(CamVid(restored, "train")) == 3 and len(CamVid(restored, "val")) == 2


def test_a_missing_folder_is_one_line(tmp_path):
    done = _run("pack", str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert done.returncode == 2 and done.stderr.strip() == f"{tmp_path / 'nowhere'}: not a folder"
