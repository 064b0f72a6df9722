"""bitsim.plots: the data each figure draws, checked independently, and the PNG the CLI writes."""

import math

import numpy as np
import pytest

import bitsim
from bitsim.cli import main
from bitsim.plots import dot_error, quantization_error, value_grid


def test_value_grid_of_e4m3_is_its_126_positive_values_and_their_gaps():
    values, gaps = value_grid("e4m3")
    # OCP E4M3: 0, 7 subnormals k / 2**9, then 15 binades of 8 values from 2**-6; 448 the largest
    expected = [0.0] + [k / 2 ** 9 for k in range(1, 8)] + \
        [2.0 ** e * (1 + m / 8) for e in range(-6, 9) for m in range(8) if 2.0 ** e * (1 + m / 8) <= 448]
    assert np.array_equal(values, np.array(expected))
    assert np.array_equal(gaps[:-1], np.diff(expected)) and np.isnan(gaps[-1])


@pytest.mark.parametrize("fmt", ["e5m2", "bf16", "fp16"])
def test_quantization_error_stays_within_half_an_ulp_in_the_normal_range(fmt):
    f = bitsim.format(fmt)
    x, errors = quantization_error(f, modes=("rne", "rtz"))
    normal = (x >= float(f.min_normal)) & (x <= float(f.max))
    half_ulp = 2.0 ** -(f.man_bits + 1)
    assert (errors["rne"][normal] <= half_ulp).all() and (errors["rtz"][normal] < 2 * half_ulp).all()
    assert (errors["rne"][normal] > 0).any()


def test_show_plot_writes_a_png(tmp_path, capsys):
    path = tmp_path / "e4m3.png"
    assert main(["show", "e4m3", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {path}" in capsys.readouterr().out
    assert main(["show", "fp32", "--plot", str(tmp_path / "x.png")]) == 2
    assert "at most 16 bits" in capsys.readouterr().err


def _numpy_fp32_sequential(x, y):
    """Row sums of exact bf16 products, each addition rounded to float32 by NumPy (IEEE RNE)."""
    sums = np.zeros(x.shape[0], dtype=np.float32)
    for k in range(x.shape[1]):
        sums = (sums + (x[:, k] * y[:, k]).astype(np.float32)).astype(np.float32)
    return sums.astype(np.float64)


def test_dot_error_of_fp32_sequential_bf16_products_matches_numpy_float32_and_kulisch_is_exact():
    from bitsim.accum import DotUnit, FloatAcc, KulischAcc
    lengths, rows, seed = (16, 1000), 3, 7
    table = dot_error({"fp32 seq": DotUnit("bf16", "bf16", FloatAcc("fp32"), "fp32")}, lengths, rows=rows,
                      seed=seed, signed=True)
    kulisch = dot_error({"kulisch": DotUnit("e4m3", "e4m3", KulischAcc(), "fp64")}, lengths, rows=rows, seed=seed)
    rng = np.random.default_rng(seed)
    for i, n in enumerate(lengths):
        x, y = rng.standard_normal((2, rows, n))              # the same draws, in the same order
        x, y = (bitsim.decode(bitsim.encode(v, "bf16"), "bf16") for v in (x, y))
        products = x * y
        exact = np.array([math.fsum(r) for r in products])
        scale = np.array([math.fsum(r) for r in np.abs(products)])
        expected = np.mean(np.abs(_numpy_fp32_sequential(x, y) - exact) / scale)
        assert table["fp32 seq"][i] == expected and expected > 0
        assert kulisch["kulisch"][i] == 0.0                   # both sides: the exact sum rounded once to fp64


def test_dot_error_shows_fp16_swamping_that_chunking_removes():
    table = dot_error({"fp16": DotUnitFp16(), "chunk": DotUnitFp16(chunk=64)}, (4096,), rows=2)
    assert table["fp16"][0] > 10 * table["chunk"][0]


def DotUnitFp16(chunk=None):
    from bitsim.accum import ChunkedAcc, DotUnit, FloatAcc
    acc = FloatAcc("fp16") if chunk is None else ChunkedAcc(chunk, FloatAcc("fp16"), FloatAcc("fp16"))
    return DotUnit("e5m2", "e5m2", acc, "fp16")


def test_dot_error_refuses_what_it_cannot_measure():
    from bitsim.accum import DotUnit, KulischAcc
    with pytest.raises(ValueError, match="unit int8_int32 has int8"):
        dot_error(["int8_int32"], (16,))
    with pytest.raises(ValueError, match="at most 26 significant bits"):
        dot_error({"f64": DotUnit("fp64", "fp64", KulischAcc(width=127, overflow="wrap"), "fp64")}, (16,))
    with pytest.raises(ValueError, match="rows and every length"):
        dot_error(["wang_fp8"], (0,))
    with pytest.raises(TypeError, match="a unit must be"):
        dot_error({"x": 3}, (16,))


def test_dot_error_cli_prints_the_table_and_writes_a_png(tmp_path, capsys):
    path = tmp_path / "err.png"
    assert main(["dot-error", "wang_fp8", "nvidia_h100_e4m3_fp32", "--lengths", "16,32", "--rows", "2",
                 "--plot", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["K", "wang_fp8", "nvidia_h100_e4m3_fp32"]
    table = dot_error(["wang_fp8", "nvidia_h100_e4m3_fp32"], (16, 32), rows=2)
    assert out[1].split() == ["16", f"{table['wang_fp8'][0]:.3e}", f"{table['nvidia_h100_e4m3_fp32'][0]:.3e}"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["dot-error", "wang_fp8", "--lengths", "16,x"]) == 2
    assert "--lengths" in capsys.readouterr().err
