"""`segnet predict` on video: a clip written here with PyAV goes in, an H.264 overlay comes out."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from segnet.cli.main import main
from segnet.video import VideoReader, VideoWriter


def moving_square_frames(count: int, height: int, width: int) -> list[np.ndarray]:
    frames = []
    for i in range(count):
        frame = np.full((height, width, 3), (40, 90, 160), dtype=np.uint8)
        frame[height // 2:, :] = (110, 110, 110)
        frame[10:30, 5 + 6 * i: 25 + 6 * i] = (220, 30, 30)
        frames.append(frame)
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: int, codec: str, pix_fmt: str) -> None:
    """Encode with PyAV directly, independent of segnet.video."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def decode(path: Path) -> tuple[list[np.ndarray], av.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream


def block_error(got: np.ndarray, expected: np.ndarray) -> float:
    """Mean abs difference of 2x2 block means: yuv420p keeps one colour per 2x2 block, so pixel
    noise in the labels costs per-pixel accuracy that no encoder setting gets back."""
    h, w = expected.shape[0] // 2 * 2, expected.shape[1] // 2 * 2

    def blocks(a: np.ndarray) -> np.ndarray:
        return a[:h, :w].astype(np.float64).reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))

    return float(np.abs(blocks(got) - blocks(expected)).mean())


def test_video_round_trip(tmp_path, basic_weights, segmenter, capsys):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, moving_square_frames(6, 64, 80), fps=10, codec="libx264", pix_fmt="yuv420p")
    source_frames, _ = decode(clip)
    out = tmp_path / "out"
    assert main(["predict", str(clip), "--weights", str(basic_weights), "--output", str(out),
                 "--batch-size", "4", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "frames/s" in printed
    assert ": 10 model passes per frame, " in printed.splitlines()[0]  # the default TTA, counted per frame

    frames, stream = decode(out / "clip_overlay.mp4")
    assert len(frames) == 6 and frames[0].shape == (64, 80, 3)
    assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    assert stream.average_rate == 10
    # Each frame is the overlay of its own labels (up to H.264 loss), not the plain frame.
    for got, source in zip(frames, source_frames):
        expected = segmenter.overlay(source, segmenter.label(source), 0.5)
        assert block_error(got, expected) < 8 < block_error(got, source)
    info = json.loads((out / "video.json").read_text())
    assert info["frames"] == 6 and info["segmented"] == 6
    assert info["fps_processing"] > 0 and info["fps_source"] == 10
    assert not (out / "labels").exists()  # label PNGs only with --save-frames


def test_odd_size_every_nth_frame_and_saved_labels(tmp_path, basic_weights, segmenter):
    clip = tmp_path / "odd.mkv"  # FFV1 is lossless and takes odd sizes
    write_clip(clip, moving_square_frames(5, 45, 61), fps=12, codec="ffv1", pix_fmt="bgr0")
    source_frames, _ = decode(clip)
    np.testing.assert_array_equal(source_frames[3], moving_square_frames(5, 45, 61)[3])
    out = tmp_path / "out"
    assert main(["predict", str(clip), "--weights", str(basic_weights), "--output", str(out),
                 "--every", "2", "--save-frames", "--batch-size", "2", "--no-progress"]) == 0
    frames, _ = decode(out / "odd_overlay.mp4")
    assert len(frames) == 5 and frames[0].shape == (46, 62, 3)  # padded to even for yuv420p
    saved = sorted(p.name for p in (out / "labels").iterdir())
    assert saved == ["odd_000000.png", "odd_000002.png", "odd_000004.png"]
    for name, index in zip(saved, (0, 2, 4)):
        labels = np.asarray(Image.open(out / "labels" / name))
        np.testing.assert_array_equal(labels, segmenter.predict(source_frames[index]))
    # Frame 1 reuses frame 0's labels over its own pixels.
    expected = segmenter.overlay(source_frames[1], segmenter.label(source_frames[0]), 0.5)
    own = segmenter.overlay(source_frames[1], segmenter.label(source_frames[1]), 0.5)
    assert block_error(frames[1][:45, :61], expected) < 8 < block_error(frames[1][:45, :61], own)
    info = json.loads((out / "video.json").read_text())
    assert (info["frames"], info["segmented"], info["fps_source"]) == (5, 3, 12)


def test_video_module_round_trip(tmp_path):
    frames = moving_square_frames(3, 31, 40)
    with VideoWriter(tmp_path / "v.mp4", Fraction(30000, 1001)) as writer:
        for frame in frames:
            writer.write(frame)
    with VideoReader(tmp_path / "v.mp4") as reader:
        assert reader.fps == Fraction(30000, 1001)
        decoded = list(reader)
    assert len(decoded) == 3 and decoded[0].shape == (32, 40, 3)
    assert block_error(decoded[2][:31], frames[2]) < 4
    # the padding row repeats the last one (up to coding loss)
    assert np.abs(decoded[2][31].astype(int) - decoded[2][30]).max() <= 4


def test_samples_on_video_is_an_error(tmp_path, bayesian_weights, capsys):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, moving_square_frames(2, 32, 32), fps=5, codec="libx264", pix_fmt="yuv420p")
    assert main(["predict", str(clip), "--weights", str(bayesian_weights), "--samples", "2",
                 "--output", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "--samples" in capsys.readouterr().err
