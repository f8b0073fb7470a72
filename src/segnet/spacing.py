"""Which frames to pick: indices spread evenly over a sequence of frames.

Calibration, validation pictures and evaluation samples all take a few frames from a longer
list; spreading them (first and last included) covers a drive's changes of light and scene.
"""

from __future__ import annotations


def evenly_spaced(count: int, total: int) -> list[int]:
    """``count`` indices spread over ``range(total)``, first and last included; all of them when
    there are fewer, the middle one for a count of one."""
    if count <= 0 or total <= 0:
        return []
    if count >= total:
        return list(range(total))
    if count == 1:
        return [total // 2]
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})
