"""The stochastic-rounding generator restated in Python ints (definition in ``bitsim.core.rng``)."""

M64 = (1 << 64) - 1
G = 0x9E3779B97F4A7C15


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def sr_random(seed: int, stream: int, index: int, k: int) -> int:
    """The k random bits that element ``index`` of stream (seed, stream) receives."""
    key = _mix((_mix(seed) + stream * G) & M64)
    return _mix((key + (index + 1) * G) & M64) >> (64 - k)
