"""Weights shipped inside the package, and the names that find them (``segnet.load("camvid")``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = "camvid_segnet_basic.pt"


@dataclass(frozen=True)
class KnownWeights:
    """A named checkpoint that this install can load without a path."""

    name: str
    file: str  # inside the package's weights folder
    model: str
    dataset: str
    summary: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


KNOWN_WEIGHTS: dict[str, KnownWeights] = {
    entry.name: entry
    for entry in (
        KnownWeights("camvid", DEFAULT_WEIGHTS, "segnet_basic", "camvid",
                     "CamVid road scenes, 11 classes, 360x480 working size, int8-calibrated (docs/model_card.md)"),
    )
}
ALIASES = {"camvid_segnet_basic": "camvid", "camvid-segnet-basic": "camvid", "default": "camvid"}


def list_weights() -> list[KnownWeights]:
    """The named weights, shipped ones first."""
    return list(KNOWN_WEIGHTS.values())


def default_weights_path() -> Path:
    """The shipped CamVid model; a clear error if this install has none."""
    path = WEIGHTS_DIR / DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no shipped weights in this install; pass --weights PATH to a checkpoint from segnet train"
        )
    return path


def resolve_weights(weights: str | Path | None) -> Path:
    """A checkpoint path from a path, a known name (``camvid``), or None (the shipped model).

    A file on disk wins over a name, so a checkpoint called ``camvid`` in the working folder is
    still reachable.
    """
    if weights is None:
        return default_weights_path()
    path = Path(weights).expanduser()
    if path.exists():
        return path
    name = ALIASES.get(str(weights).lower(), str(weights).lower())
    if name in KNOWN_WEIGHTS:
        entry = KNOWN_WEIGHTS[name]
        if not entry.path.is_file():
            raise FileNotFoundError(f"{entry.path}: weights '{entry.name}' are not in this install")
        return entry.path
    if path.suffix == "" and len(path.parts) == 1:  # a bare word: the user meant a name
        known = ", ".join(KNOWN_WEIGHTS)
        raise FileNotFoundError(f"weights '{weights}': no such file, and not a known name ({known}; "
                                "see `segnet models`)")
    return path  # load_model names the missing file
