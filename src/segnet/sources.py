"""What a SOURCE names on disk: one image, one video, a folder of files or a glob pattern.

Shared by ``segnet predict`` and ``Segmenter.predict`` so that both read the same files in the
same order. Several SOURCE arguments (:func:`collect_all`) give each file once, since a shell glob
and a name beside it often overlap; a Python list keeps one result per entry, as its caller indexes them.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .data.io import IMAGE_EXTENSIONS
from .video import is_video


@dataclass(frozen=True)
class Sources:
    """What a SOURCE argument names: candidate image files in order, or one video."""

    images: tuple[Path, ...] = ()
    video: Path | None = None


def looks_like_pattern(text: str) -> bool:
    return any(char in text for char in "*?[")


def collect_sources(source: str | Path) -> Sources:
    """Resolve SOURCE: a video file, an image file, a folder (its files, not recursive) or a glob.

    Folder and glob entries are returned whatever their type, so that the caller can name each
    file it skips. Nothing to process is an error (FileNotFoundError / ValueError).
    """
    text = str(source)
    path = Path(text).expanduser()
    if path.is_file():
        return Sources(video=path) if is_video(path) else Sources(images=(path,))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{path}: folder has no files; expected images ({', '.join(IMAGE_EXTENSIONS)})")
        return Sources(images=tuple(files))
    if looks_like_pattern(text):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"{text}: the pattern matches no files")
        return Sources(images=tuple(files))
    raise FileNotFoundError(f"{text}: no such file or folder (give an image, a folder, a glob or a video)")


def collect_all(sources: Sequence[str | Path]) -> Sources:
    """Resolve several SOURCE arguments (``segnet predict a.png b.png``, or a glob the shell expanded)
    into one list of images, in the order given, each file once; a video must come alone."""
    if len(sources) == 1:
        return collect_sources(sources[0])
    resolved = [collect_sources(source) for source in sources]
    videos = [str(each.video) for each in resolved if each.video is not None]
    if videos:
        raise ValueError(f"{videos[0]}: a video must be the only SOURCE; segment it in a run of its own")
    images = dict.fromkeys(path for each in resolved for path in each.images)  # ordered, without repeats
    return Sources(images=tuple(images))
