"""A checksum of a set of data points that does not depend on how they are laid out.

Each point (tag id, timestamp in epoch microseconds, value, quality) is hashed to two 64-bit
words with a splitmix64-style mixer, and the words are summed modulo 2**64. A sum does not
depend on the order of the points, on how they are split into chunks or row groups, or on the
file format that holds them; it changes when a point is added, removed or altered. It is a
check against loss and corruption, not a cryptographic proof (the archive file's SHA-256 is
that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_MASK = (1 << 64) - 1
_SEEDS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03))


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass
class PointsChecksum:
    """Fold chunks of points in with ``add``; ``hexdigest`` is the same for the same set of
    points however they were chunked or ordered."""

    rows: int = 0
    _sums: tuple[int, int] = (0, 0)

    def add(
        self,
        tag_id: npt.NDArray[np.int64],
        ts_us: npt.NDArray[np.int64],
        value: npt.NDArray[np.float64],
        quality: npt.NDArray[np.integer],
    ) -> None:
        n = len(tag_id)
        if n == 0:
            return
        fields = (
            np.asarray(tag_id, dtype=np.int64).view(np.uint64),
            np.asarray(ts_us, dtype=np.int64).view(np.uint64),
            # -0.0 and 0.0 are one value to the database; NaN is never stored
            (np.asarray(value, dtype=np.float64) + 0.0).view(np.uint64),
            np.asarray(quality, dtype=np.int64).view(np.uint64),
        )
        sums = list(self._sums)
        with np.errstate(over="ignore"):
            for i, seed in enumerate(_SEEDS):
                h = np.full(n, seed, dtype=np.uint64)
                for field in fields:
                    h = _mix(h ^ field)
                # Python integers: exact, then reduced modulo 2**64
                sums[i] = (sums[i] + int(h.sum(dtype=np.uint64))) & _MASK
        self._sums = (sums[0], sums[1])
        self.rows += n

    def hexdigest(self) -> str:
        return f"{self._sums[0]:016x}{self._sums[1]:016x}"
