"""The `bitsim` command line: expected codes worked out by hand from the format definitions."""

import subprocess
import sys

import numpy as np
import pytest

import bitsim
from bitsim.cli import main
from bitsim.blocks.catalog import BLOCK_ENTRIES
from bitsim.formats.catalog import ENTRIES


def run(capsys, *argv):
    """(exit status, stdout lines, stderr) of one command."""
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err


def encoded(capsys, *argv):
    """{input: (code, bits, value, flags)} from `bitsim encode ...`."""
    rc, lines, err = run(capsys, "encode", *argv)
    assert rc == 0 and err == ""
    result = {}
    for line in lines:
        text, arrow, code, bits, value, label, flags = line.split()
        assert arrow == "->" and label == "flags:"
        result[text] = (code, bits, value, flags)
    return result


def test_encode_e4m3_by_hand(capsys):
    # OCP E4M3: bias 7, 3 mantissa bits, no inf, NaN = S.1111.111, max = 1.75 * 2**8 = 448 (0.1111.110).
    got = encoded(capsys, "e4m3", "448", "464", "465", "0.1", "-0", "1/3", "-1/3", "0x1.8p-3")
    # 448 is the largest finite value: E = 8 + 7 = 1111, M = 110.
    assert got["448"] == ("0x7e", "0.1111.110", "448", "-")
    # 464 is halfway between 448 (M = 110) and 480 (M = 111, beyond max): ties to even keep 448.
    assert got["464"] == ("0x7e", "0.1111.110", "448", "inexact")
    # 465 rounds to 480 > 448: overflow, and E4M3 overflows to NaN (0x7f).
    assert got["465"] == ("0x7f", "0.1111.111", "NaN", "inexact,overflow")
    # 0.1 lies in [2**-4, 2**-3) where the spacing is 2**-7: 0.1 / 2**-7 = 12.8, between
    # 12 * 2**-7 = 0.09375 = 1.5 * 2**-4 (0.0011.100 = 0x1c) and 13 * 2**-7 = 0.1015625 = 1.625 * 2**-4
    # (0.0011.101 = 0x1d); 12.8 is nearer 13.
    assert got["0.1"] == ("0x1d", "0.0011.101", "0.1015625", "inexact")
    assert got["-0"] == ("0x80", "1.0000.000", "-0", "-")
    # 1/3 in [2**-2, 2**-1), spacing 2**-5: 10.67 rounds to 11 -> 11/32 = 1.375 * 2**-2, E = 0101, M = 011.
    assert got["1/3"] == ("0x2b", "0.0101.011", "0.34375", "inexact")
    assert got["-1/3"] == ("0xab", "1.0101.011", "-0.34375", "inexact")
    # 0x1.8p-3 = 1.5 * 2**-3 exactly: E = 4 = 0100, M = 100.
    assert got["0x1.8p-3"] == ("0x24", "0.0100.100", "0.1875", "-")


def test_decimal_input_is_rounded_once(capsys):
    # Through float64 both would become 464.0, a tie that rounds to 448; exactly, they sit either side.
    got = encoded(capsys, "e4m3", "464.00000000000000000001", "463.99999999999999999999")
    assert got["464.00000000000000000001"][0] == "0x7f"
    assert got["463.99999999999999999999"][0] == "0x7e"
    # binary32 max is 0x1.fffffep127; the overflow threshold is the midpoint 0x1.ffffffp127. A hex float
    # just below it (more digits than a float64 holds) stays finite; float.fromhex would make it the tie.
    got = encoded(capsys, "fp32", "0x1.fffffeffffffffffffp127", "0x1.ffffffp127")
    assert got["0x1.fffffeffffffffffffp127"] == ("0x7f7fffff", "0.11111110.11111111111111111111111",
                                                 "340282346638528859811704183484516925440", "inexact")
    assert got["0x1.ffffffp127"][0] == "0x7f800000"   # tie to even: the even neighbour is 2**128 -> inf


def test_encode_specials_and_modes(capsys):
    got = encoded(capsys, "e5m2", "inf", "-inf", "nan", "-1e-30")
    assert got["inf"] == ("0x7c", "0.11111.00", "+inf", "-")
    assert got["-inf"] == ("0xfc", "1.11111.00", "-inf", "-")
    assert got["nan"][:3] == ("0x7e", "0.11111.10", "NaN")
    # far below half the smallest subnormal (2**-17): -0, inexact and underflow
    assert got["-1e-30"] == ("0x80", "1.00000.00", "-0", "inexact,underflow")
    # 1000 in [2**9, 2**10) has spacing 2**6: rtz gives 960 > 448, overflow, and rtz saturates (IEEE 754 7.4)
    got = encoded(capsys, "e4m3", "1000", "--rounding", "rtz")
    assert got["1000"] == ("0x7e", "0.1111.110", "448", "inexact,overflow")
    # uint8: 2.5 truncates to 2; 300 saturates at 255
    got = encoded(capsys, "uint8", "2.5", "300", "--rounding", "rtz")
    assert got["2.5"] == ("0x02", "00000010", "2", "inexact")
    assert got["300"] == ("0xff", "11111111", "255", "inexact,overflow")


def test_encode_sr_matches_array_api(capsys):
    values = ["0.28125"] * 16 + ["0.3125"]                  # 0.28125 = 9/32 is halfway in e5m2's [0.25, 0.3125)
    argv = ["e5m2", *values, "--rounding", "sr", "--sr-bits", "8", "--seed", "7"]
    rc, lines, _ = run(capsys, "encode", *argv)
    assert rc == 0
    codes = [int(line.split()[2], 16) for line in lines]
    expect = bitsim.encode(np.array([float(v) for v in values]), "e5m2", "sr", sr_bits=8, seed=7)
    assert codes == expect.tolist()
    assert set(codes[:16]) == {0x34, 0x35} and codes[16] == 0x35   # both neighbours occur; exact stays


def test_formats_lists_catalog(capsys):
    rc, lines, _ = run(capsys, "formats")
    assert rc == 0
    names = [line.split()[0] for line in lines if line.strip() and not line.startswith(("Generic", "Block"))]
    assert names == [e.name for e in ENTRIES]
    blocks = next(line for line in lines if line.startswith("Block formats: "))
    assert blocks.split(": ")[1].split(", ")[:len(BLOCK_ENTRIES)] == [e.name for e in BLOCK_ENTRIES]
    assert lines[-1].startswith("Generic names: eXmY")
    e4m3 = next(line for line in lines if line.startswith("e4m3 "))
    assert e4m3.split()[:6] == ["e4m3", "S", "E4", "M3", "8", "bits"] and "max 448.0" in e4m3


def test_show_e2m1_all_values(capsys):
    rc, lines, _ = run(capsys, "show", "e2m1")
    assert rc == 0 and lines[0] == "### e2m1"
    text = "\n".join(lines)
    assert "<details>" not in text and "<summary>" not in text
    values = {}
    for line in lines:
        if line.startswith("| 0x"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            values.update((int(cells[i], 16), cells[i + 2]) for i in range(0, len(cells), 3))
    positive = ["0", "0.5", "1", "1.5", "2", "3", "4", "6"]    # E2M1: bias 1, subnormal 0.5, max 1.5 * 2**2
    assert values == {**dict(enumerate(positive)), **{8 + i: "-" + v for i, v in enumerate(positive)}}


def test_show_generic_and_alias(capsys):
    rc, lines, _ = run(capsys, "show", "fixed8.7")
    assert rc == 0 and lines[0] == "### fixed8.7" and "Source: generic name" in lines
    assert sum(line.count("| 0x") for line in lines) == 256
    rc, lines, _ = run(capsys, "show", "float8_e4m3fn")
    assert rc == 0 and lines[0] == "### e4m3"
    rc, lines, _ = run(capsys, "show", "fp32")
    assert rc == 0 and not any(line.startswith("| 0x") for line in lines)


@pytest.mark.parametrize("argv, needle", [
    (["show", "e4m3x"], "e4m3x"),
    (["encode", "nosuchformat", "1"], "nosuchformat"),
    (["encode", "e4m3", "1", "--rounding", "nearest"], "nearest"),
    (["encode", "e4m3", "abc"], "abc"),
    (["encode", "e4m3", "1/0"], "1/0"),
    (["encode", "e4m3", "1", "--rounding", "sr"], "sr_bits"),
    (["encode", "e4m3", "1", "--sr-bits", "4"], "sr_bits"),
    (["encode", "e4m3", "--", "-x"], "-x"),
    ([], "command"),
])
def test_bad_input_exits_2(capsys, argv, needle):
    rc, lines, err = run(capsys, *argv)
    assert rc == 2 and lines == []
    assert err.startswith("bitsim: error: ") and err.count("\n") == 1 and needle in err


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "bitsim", "encode", "e2m1", "5"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.split() == ["5", "->", "0x6", "0.11.0", "4", "flags:", "inexact"]   # tie 4|6 -> even M = 0


def test_show_block_formats(capsys):
    rc, lines, _ = run(capsys, "show", "mxfp8_e4m3")
    text = "\n".join(lines)
    assert rc == 0 and "`e8m0`" in text and "blocks of 32 along axis -1" in text and "emax_e = 8" in text
    rc, lines, _ = run(capsys, "show", "bfp6_qpytorch")
    assert rc == 0 and "`qpytorch_bfp`" in "\n".join(lines)
    rc, lines, _ = run(capsys, "show", "bm8")
    assert rc == 0 and "`accumulator_bits` = 31" in "\n".join(lines)
