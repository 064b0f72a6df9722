"""The golden vectors' real consumer: examples/rtl/e5m2_mul.v (a synthesizable E5M2 RNE multiplier) run
by Icarus Verilog against all 65,536 operand pairs of golden/e5m2/mul_rne_all.*.memh."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RTL = ROOT / "examples" / "rtl"
VECTORS = ROOT / "golden" / "e5m2" / "mul_rne_all"
HEADER_LINES = 8

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                reason="Icarus Verilog (iverilog, vvp) is not installed; .ci/run installs the "
                                       "Debian package iverilog")


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    sim = tmp_path_factory.mktemp("rtl") / "sim"
    subprocess.run(["iverilog", "-g2005", "-Wall", "-o", str(sim), str(RTL / "e5m2_mul.v"),
                    str(RTL / "tb_e5m2_mul.v")], check=True, capture_output=True, text=True)
    return sim


def _run(sim, prefix) -> list[str]:
    out = subprocess.run(["vvp", "-n", str(sim), f"+vectors={prefix}"], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return [line for line in out.splitlines() if line.startswith(("PASS", "FAIL", "MISMATCH"))]


def test_rtl_multiplier_matches_every_golden_vector(simulator):
    assert _run(simulator, VECTORS) == ["PASS: 65536 cases"]


def test_testbench_catches_a_wrong_vector(simulator, tmp_path):
    for part in ("a", "b", "result", "flags"):
        shutil.copy(f"{VECTORS}.{part}.memh", tmp_path / f"v.{part}.memh")
    case = 12345
    path = tmp_path / "v.result.memh"
    lines = path.read_text().split("\n")
    good = lines[HEADER_LINES + case]
    wrong = int(good, 16) ^ 0x01
    lines[HEADER_LINES + case] = f"{wrong:02X}"
    path.write_text("\n".join(lines))
    out = _run(simulator, tmp_path / "v")
    assert out[-1] == "FAIL: 1 of 65536 cases mismatch"
    assert len(out) == 2 and out[0].startswith(f"MISMATCH case {case} (result file line {HEADER_LINES + case + 1}): ")
    assert f" = {good.lower()} flags " in out[0] and f"expected {wrong:02x} flags " in out[0]   # DUT right, file wrong
