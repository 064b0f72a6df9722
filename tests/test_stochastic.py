"""Stochastic rounding: the definition with explicit bits, the counter-based generator, determinism."""

import numba
import numpy as np
import pytest

import bitsim
from bitsim import ref


def test_generator_matches_its_python_definition():
    x = np.full(300, 1.0 + 2.0 ** -5)           # e4m3 discards 2 bits: f = 1/4
    rand_given = np.array([ref.sr_random(12345, 7, i + 1000, 6) for i in range(300)], dtype=np.uint64)
    from_seed = bitsim.encode(x, "e4m3", "sr", sr_bits=6, seed=12345, stream=7, offset=1000)
    from_rand = bitsim.encode(x, "e4m3", "sr", sr_bits=6, rand=rand_given)
    assert np.array_equal(from_seed, from_rand)


def test_probability_is_the_discarded_fraction_truncated_to_k_bits():
    # e5m2 at 1.0 has ULP 0.25; x = 1 + 0.25 * (5/8 + 1/64): f = 41/64, truncated to 3 bits = 5/8.
    x = np.full(8, 1.0 + 0.25 * (5 / 8 + 1 / 64))
    got = bitsim.encode(x, "e5m2", "sr", sr_bits=3, rand=np.arange(8))
    # away from zero (0x3d = 1.25) iff 5 + R >= 8, i.e. for R in {3..7}; toward zero (0x3c = 1.0) else
    assert got.tolist() == [0x3C] * 3 + [0x3D] * 5


def test_exact_values_never_move():
    fmt = bitsim.format("e4m3")
    values = bitsim.decode(np.arange(0x7F, dtype=np.uint8), fmt)
    for r in (0, 1, 2 ** 10 - 1):
        got = bitsim.encode(values, fmt, "sr", sr_bits=10, rand=np.full(values.size, r))
        assert np.array_equal(got, np.arange(0x7F, dtype=np.uint8))


def test_unbiased_over_many_draws():
    # x sits 3/8 of the way between 1.0 and 1.25 in e5m2; the mean of SR results converges to x.
    # (A statistic, not a code word: the tolerance is 6 standard errors.)
    n = 1 << 20
    x = np.full(n, 1.0 + 0.25 * 3 / 8)
    y = bitsim.quantize(x, "e5m2", "sr", sr_bits=16, seed=3)
    se = 0.25 * np.sqrt(3 / 8 * 5 / 8 / n)
    assert abs(y.mean() - x[0]) < 6 * se
    assert set(np.unique(y)) == {1.0, 1.25}


def test_independent_of_thread_count():
    x = np.random.default_rng(0).standard_normal(200_001)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        results.append(bitsim.encode(x, "e4m3", "sr", sr_bits=8, seed=99))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.array_equal(results[0], results[1])


def test_pieces_with_offsets_equal_the_whole():
    x = np.random.default_rng(1).standard_normal((64, 33))
    whole = bitsim.encode(x, "bm_e2m3", "sr", sr_bits=12, seed=5)
    flat = x.reshape(-1)
    pieces = [bitsim.encode(flat[a:a + 500], "bm_e2m3", "sr", sr_bits=12, seed=5, offset=a)
              for a in range(0, flat.size, 500)]
    assert np.array_equal(np.concatenate(pieces), whole.reshape(-1))


def test_streams_and_seeds_differ():
    x = np.full(4096, 1.0 + 2.0 ** -5)
    a = bitsim.encode(x, "e4m3", "sr", sr_bits=8, seed=1, stream=0)
    b = bitsim.encode(x, "e4m3", "sr", sr_bits=8, seed=1, stream=1)
    c = bitsim.encode(x, "e4m3", "sr", sr_bits=8, seed=2, stream=0)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


def test_rand_broadcasts_against_the_input():
    x = np.full((3, 4), 1.0 + 2.0 ** -5)
    got = bitsim.encode(x, "e4m3", "sr", sr_bits=2, rand=np.array([0, 1, 2, 3]))
    # f = 1/4 -> floor(f * 4) = 1; away iff 1 + R >= 4
    assert got.tolist() == [[0x38, 0x38, 0x38, 0x39]] * 3


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "fp16", "bm_e2m3", "fixed8.4", "e2m1"])
def test_generator_stream_matches_reference_elementwise(name):
    fmt = bitsim.format(name)
    x = np.random.default_rng(2).standard_normal(2000) * 3
    got = bitsim.encode(x, fmt, "sr", sr_bits=9, seed=77, stream=3)
    want = [ref.encode(float(v), fmt, "sr", rand=ref.sr_random(77, 3, i, 9), sr_bits=9)[0] for i, v in enumerate(x)]
    assert got.tolist() == want
