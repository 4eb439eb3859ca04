"""Mergeable summaries for profiling in chunks: distinct counts, values for distributions.

`Distinct` keeps the exact set of 64-bit value hashes while it holds at most
EXACT_DISTINCT of them, and a HyperLogLog sketch (Flajolet et al. 2007, 2^12 registers,
about 1.6% standard error) always; merging two is merging both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EXACT_DISTINCT = 100_000
_P = 12
_M = 1 << _P
_ALPHA = 0.7213 / (1 + 1.079 / _M)


@dataclass
class Distinct:
    registers: np.ndarray = field(default_factory=lambda: np.zeros(_M, dtype=np.uint8))
    exact: np.ndarray | None = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def add(self, hashes: np.ndarray) -> None:
        """Count the 64-bit hashes of some values (nulls already removed)."""
        if not len(hashes):
            return
        hashes = hashes.astype(np.uint64, copy=False)
        index = (hashes >> np.uint64(64 - _P)).astype(np.intp)
        width = 64 - _P  # the bits left after the index; exact in a float64
        rest = hashes & np.uint64((1 << width) - 1)
        _, bits = np.frexp(rest.astype(np.float64))  # bits = bit length of rest
        rank = np.where(rest > 0, width - bits + 1, width + 1).astype(np.uint8)
        np.maximum.at(self.registers, index, rank)
        if self.exact is not None:
            self._keep_exact(np.unique(hashes))

    def merge(self, other: Distinct) -> None:
        np.maximum(self.registers, other.registers, out=self.registers)
        if self.exact is not None and other.exact is not None:
            self._keep_exact(other.exact)
        else:
            self.exact = None

    def _keep_exact(self, hashes: np.ndarray) -> None:
        assert self.exact is not None
        merged = np.union1d(self.exact, hashes)
        self.exact = merged if len(merged) <= EXACT_DISTINCT else None

    @property
    def is_exact(self) -> bool:
        return self.exact is not None

    def count(self) -> int:
        if self.exact is not None:
            return len(self.exact)
        estimate = _ALPHA * _M * _M / float(np.sum(np.ldexp(1.0, -self.registers.astype(int))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if estimate <= 2.5 * _M and zeros:
            estimate = _M * np.log(_M / zeros)
        return round(estimate)
