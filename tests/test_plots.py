"""bitsim.plots: the data each figure draws, checked independently, and the PNG the CLI writes."""

import numpy as np
import pytest

import bitsim
from bitsim.cli import main
from bitsim.plots import quantization_error, value_grid


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
