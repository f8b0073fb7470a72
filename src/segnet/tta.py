"""Test-time augmentation settings: what `--tta` means, the sizes it runs and what it costs.

Plain arithmetic on settings and sizes, without torch, so that the command line can check a
setting and word its help before the model (and torch) is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence


TTA_MODES = ("none", "flip", "multiscale")
# multiscale: the image and its mirror at each of these scales of the working size, logits averaged.
TTA_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5)
# segnet.load and predict: "auto" is multiscale where the model runs at any size, flip for a static
# export. On an unseen drive: +1.1 mIoU for flip (2x compute), +3.6 mIoU and +5.6 BF for multiscale (11.3x);
# its 1.5 scale alone buys +0.2-0.3 mIoU and +1.0-1.2 BF on three twins (docs/recipe_study.md).
DEFAULT_TTA = "auto"


def parse_tta(tta: str) -> tuple[str, tuple[float, ...]]:
    """A TTA setting split into its mode and scales: ``multiscale`` runs :data:`TTA_SCALES`,
    ``multiscale:0.5,1,1.25`` the scales given (to reproduce a figure measured with other scales)."""
    mode, colon, listed = tta.partition(":")
    if mode not in TTA_MODES or (colon and mode != "multiscale"):
        raise ValueError(f"test-time augmentation '{tta}' is not one of auto, {', '.join(TTA_MODES)} "
                         "or multiscale:S1,S2,...")
    if mode != "multiscale":
        return mode, (1.0,)
    if not colon:
        return mode, TTA_SCALES
    try:
        return mode, parse_scales(listed)
    except ValueError:
        raise ValueError(f"test-time augmentation '{tta}': the scales must be numbers in (0, 4] separated "
                         "by commas, e.g. multiscale:0.5,1,1.5") from None


def resolve_tta(tta: str, fixed_size: bool, source: str = "the model") -> str:
    """The TTA setting that runs: ``auto`` resolved, the setting checked, and multiscale refused
    for a fixed-size export."""
    if tta == "auto":
        return "flip" if fixed_size else "multiscale"
    mode, _ = parse_tta(tta)
    if mode == "multiscale" and fixed_size:
        raise ValueError(f"{source}: a static export runs at its own size only, so it cannot run multiscale "
                         "test-time augmentation; export with --dynamic, or use --tta flip")
    return tta


def tta_sizes(size: tuple[int, int], tta: str) -> list[tuple[int, int]]:
    """The sizes a TTA setting runs the model at: the working size, and for multiscale its scaled
    copies rounded to a multiple of 16 (so 2x2 pooling stays exact four levels deep)."""
    mode, scales = parse_tta(tta)
    return scaled_sizes(size, scales) if mode == "multiscale" else [tuple(size)]


def tta_cost(size: tuple[int, int] | None, tta: str) -> tuple[int, float | None]:
    """Model passes a TTA setting makes per image, and their compute in passes at ``size``
    (multiscale at 360x480: 10 passes, 11.3x one), which is what its time per image grows with;
    None for the compute when images run at their own sizes."""
    mode, scales = parse_tta(tta)
    copies = 1 if mode == "none" else 2  # flip and multiscale run each size mirrored too
    passes = copies * len(scales)
    if size is None:
        return passes, None
    return passes, copies * sum(h * w for h, w in tta_sizes(size, tta)) / (size[0] * size[1])


def parse_scales(text: str) -> tuple[float, ...]:
    """Comma-separated scales of a working size (``--tta multiscale:...``, ``refresh-bn --scales``):
    at least one, each in (0, 4]; ValueError otherwise, for the caller to word."""
    try:
        scales = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        scales = ()
    if not scales or not all(0 < scale <= 4 for scale in scales):
        raise ValueError(f"bad scales '{text}'")
    return scales


def scaled_sizes(size: tuple[int, int], scales: Sequence[float]) -> list[tuple[int, int]]:
    """``size`` times each scale, each side rounded to a multiple of 16 (at least 16); 1 keeps ``size``."""
    return [tuple(size) if scale == 1.0 else tuple(max(16, int(side * scale / 16 + 0.5) * 16) for side in size)
            for scale in scales]
