"""Reading RGB frames from a video file and writing H.264 video, both through PyAV.

Kept apart from the segmentation code so that ``predict`` only sees numpy frames in and out.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from .extras import require

if TYPE_CHECKING:
    import av

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
DEFAULT_FPS = Fraction(25)  # used only when a container states no frame rate at all


def is_video(path: str | Path) -> bool:
    """True for the file extensions ``segnet predict`` treats as video."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _pyav():
    """PyAV, imported on first use: only video input and output need the ``video`` extra."""
    require("video", "video input and output")
    import av

    return av


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class VideoReader:
    """Decoded frames of a file's first video stream as HxWx3 uint8 RGB arrays.

    ``fps`` is the stream's average rate (a Fraction, so 30000/1001 survives a round trip);
    ``frame_count`` is the container's count, or None where the container does not state one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: video file not found")
        av = self._av = _pyav()
        try:
            self._container = av.open(str(self.path))
        except av.FFmpegError as error:
            raise ValueError(f"{self.path}: cannot open video ({_first_line(error)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise ValueError(f"{self.path}: the file has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps: Fraction = Fraction(rate) if rate else DEFAULT_FPS
        self.frame_count: int | None = self._stream.frames or None
        self.height: int = self._stream.codec_context.height
        self.width: int = self._stream.codec_context.width

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for frame in self._container.decode(self._stream):
                yield frame.to_ndarray(format="rgb24")
        except self._av.FFmpegError as error:
            raise ValueError(f"{self.path}: cannot decode video ({_first_line(error)})") from None

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def even_size(frame: np.ndarray) -> np.ndarray:
    """Pad an odd height/width by repeating the last row/column: yuv420p needs even sizes.

    Padding rather than cropping keeps every input pixel in the output video.
    """
    height, width = frame.shape[:2]
    pad_h, pad_w = height % 2, width % 2
    if not (pad_h or pad_w):
        return frame
    return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


class VideoWriter:
    """H.264 (libx264, yuv420p) video from HxWx3 uint8 RGB frames; the first frame fixes the size.

    Odd sizes are padded to even by :func:`even_size`. ``crf`` is x264's quality (lower = better;
    18 is visually lossless), chosen so overlays keep their thin class boundaries.
    """

    def __init__(self, path: str | Path, fps: Fraction | float, crf: int = 18) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A Fraction keeps NTSC rates exact; limit_denominator turns a float like 29.97 into 2997/100.
        self.fps = Fraction(fps).limit_denominator(100000)
        if self.fps <= 0:
            raise ValueError(f"{self.path}: frame rate must be positive, got {fps}")
        self.crf = crf
        self.frames = 0
        self._av = _pyav()
        self._container = self._av.open(str(self.path), mode="w")
        self._stream: av.VideoStream | None = None

    def _open_stream(self, height: int, width: int) -> av.VideoStream:
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf)}
        return stream

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB frame."""
        frame = even_size(np.ascontiguousarray(frame, dtype=np.uint8))
        if self._stream is None:
            self._stream = self._open_stream(frame.shape[0], frame.shape[1])
        if (frame.shape[0], frame.shape[1]) != (self._stream.height, self._stream.width):
            raise ValueError(
                f"{self.path}: frame {self.frames} is {frame.shape[1]}x{frame.shape[0]}, the video is "
                f"{self._stream.width}x{self._stream.height} (width x height); all frames must share one size"
            )
        video_frame = self._av.VideoFrame.from_ndarray(frame, format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (safe to call twice)."""
        if self._container is None:
            return
        if self._stream is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        self._container.close()
        self._container = None  # type: ignore[assignment]

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
