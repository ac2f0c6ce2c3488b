"""Device counts as users write them: one count, or a range of powers of two."""

from __future__ import annotations

from .errors import BadInput
from .training import MAX_DEVICES


def parse_devices(text: str | int) -> list[int]:
    """``"1024"`` -> [1024]; ``"1024..16384"`` -> the powers of two from 1024 to 16384 (ends included)."""
    value = str(text).strip()
    try:
        if ".." not in value:
            counts = [int(value)]
        else:
            low, high = (int(v) for v in value.split("..", 1))
            if not 0 < low <= high:
                raise ValueError
            counts = sorted({low, high} | {1 << i for i in range(low.bit_length(), high.bit_length()) if low < 1 << i < high})
    except ValueError:
        raise BadInput(f"--devices must be a count (1024) or a range (1024..16384), got {text!r}", "devices") from None
    if counts[0] <= 0 or counts[-1] > MAX_DEVICES:
        raise BadInput(f"--devices {text} is out of range (1 to {MAX_DEVICES:,})", "devices")
    return counts
