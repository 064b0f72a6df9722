"""The float64 lanes' rounding (``core.grid.f64_round_hi``) against the int64 grid's (``lane_step``).

The GPU's float-accumulator GEMM holds each sum as a float64 count of quanta and rounds it on the
float64's 32-bit words; the CPU lanes hold the same count as an int64. On the domain the GPU kernel
uses (counts below 2**53 that are multiples of the accumulator's quantum, 2**q_low quanta) the two
must give the same rounded count and agree on exactness, in every mode and accumulator precision:
checked on every count of up to 14 significant bits at a low and a high exponent, on every tie and
near-tie at every bit length, and on random counts.
"""

import numba
import numpy as np
import pytest
from numba import int64, uint32

from bitsim.core import build
from bitsim.core.params import RM_RDN, RM_RNA, RM_RNE, RM_RTO, RM_RTZ, RM_RUP

_C = build("cpu")
lane_step = _C.lane_step
f64_round_hi = _C.f64_round_hi
MODES = {"rne": RM_RNE, "rna": RM_RNA, "rtz": RM_RTZ, "rup": RM_RUP, "rdn": RM_RDN, "rto": RM_RTO}


@numba.njit(nogil=True)
def _grid_rounding(counts, mode, keep, q_low):  # pragma: no cover - compiled
    """lane_step's (rounded count, inexact) of each count."""
    rounded = np.empty_like(counts)
    inexact = np.empty(counts.shape[0], np.bool_)
    for i in range(counts.shape[0]):
        rounded[i], _, rem = lane_step(counts[i], int64(0), mode, keep, q_low)
        inexact[i] = rem != 0
    return rounded, inexact


@numba.njit(nogil=True)
def _f64_rounding(words, mode, sh):  # pragma: no cover - compiled
    """f64_round_hi's (rounded hi word, inexact) of each float64 given by its bits."""
    hi = np.empty(words.shape[0], np.uint32)
    inexact = np.empty(words.shape[0], np.bool_)
    for i in range(words.shape[0]):
        hi[i], lost = f64_round_hi(uint32(words[i] >> 32), uint32(words[i] & 0xFFFFFFFF), mode, sh)
        inexact[i] = lost != 0
    return hi, inexact


def _counts(q_low, rng):
    """Counts on the 2**q_low grid below 2**53, both signs: dense small ones, ties, random ones."""
    m = np.arange(1 << 14, dtype=np.int64)
    dense = np.concatenate([m, m << 30])
    ties = []
    for length in range(1, 53 - q_low):
        top = np.int64(1) << np.int64(length)
        for tail in (0, 1, 2, (top >> 1) - 1, top >> 1, (top >> 1) + 1, top - 1):
            ties += [top + tail, (top | (top >> 2)) + tail, 2 * top - 1 - tail]
    ties = np.array([t for t in ties if 0 <= t < 2 ** (53 - q_low)], np.int64)
    wide = rng.integers(0, 2 ** (53 - q_low), 1 << 16, dtype=np.int64) >> rng.integers(0, 50, 1 << 16)
    c = np.concatenate([dense, ties, wide]) << np.int64(q_low)
    return np.concatenate([c, -c])


@pytest.mark.parametrize("keep,q_low", [(11, 1), (11, 7), (8, 1), (3, 2), (16, 1)])
@pytest.mark.parametrize("mode", list(MODES))
def test_float64_word_rounding_matches_the_integer_grid(keep, q_low, mode):
    counts = _counts(q_low, np.random.default_rng(keep * 100 + q_low))
    want, want_inexact = _grid_rounding(counts, MODES[mode], keep, q_low)
    as_f64 = counts.astype(np.float64)
    assert np.array_equal(as_f64.astype(np.int64), counts)                     # the counts are exact
    hi, inexact = _f64_rounding(as_f64.view(np.uint64), MODES[mode], 21 - keep)
    want_words = want.astype(np.float64).view(np.uint64)
    assert not np.any(want_words & np.uint64(0xFFFFFFFF))                     # the result's lo word is 0
    np.testing.assert_array_equal(hi, (want_words >> np.uint64(32)).astype(np.uint32))
    np.testing.assert_array_equal(inexact, want_inexact)
