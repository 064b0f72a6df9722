"""Counter-based random bits for stochastic rounding, identical on every backend and thread count.

Definition (the contract; ``bitsim.ref.rng`` restates it in Python ints)::

    mix(z):   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
              z = (z ^ (z >> 27)) * 0x94D049BB133111EB
              return z ^ (z >> 31)                       (all mod 2**64; SplitMix64's finaliser)
    G       = 0x9E3779B97F4A7C15
    key     = mix(mix(seed) + stream * G)
    word(i) = mix(key + (i + 1) * G)                     (the i-th output of SplitMix64 from state key)
    rand(i) = word(i) >> (64 - k)                        (its top k bits)

``i`` is the element's flat (C-order) index in the result plus the caller's ``offset``, so a result
never depends on threads, chunking or device, and an array processed in pieces with matching
offsets gives the same bits as processed whole.
"""

from numba import int64, uint64

from bitsim.core.params import RM_SR

MIX_C1 = 0xBF58476D1CE4E5B9
MIX_C2 = 0x94D049BB133111EB
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    """SplitMix64's output function on a uint64."""
    z = (z ^ (z >> uint64(30))) * uint64(MIX_C1)
    z = (z ^ (z >> uint64(27))) * uint64(MIX_C2)
    return z ^ (z >> uint64(31))


def stream_key(seed, stream):
    """The generator state for (seed, stream)."""
    return mix64(mix64(uint64(seed)) + uint64(stream) * uint64(GOLDEN))


def random_bits(key, index, k):
    """Top k (1..64) bits of the output for element ``index`` of the stream with state ``key``."""
    word = mix64(key + (uint64(index) + uint64(1)) * uint64(GOLDEN))
    return word >> uint64(64 - k)


def slot_rand(i, k, mode, use_rand, rand, key, offset, sr_bits):
    """SR bits of the element at flat index i in slot k (= b * block_len + j): rand[i] or counter k."""
    if mode != RM_SR:
        return uint64(0)
    if use_rand:
        return uint64(rand[i])
    return random_bits(key, int64(offset) + k, sr_bits)


def element_rand(i, mode, use_rand, rand, key, offset, sr_bits):
    """SR bits of element i of an elementwise result: ``rand[i]`` if given, else counter offset + i; 0 unless SR."""
    return slot_rand(i, i, mode, use_rand, rand, key, offset, sr_bits)
