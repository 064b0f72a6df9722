"""Named tensor-core presets ``nvidia_<gpu>_<input>_<output>`` (DESIGN section 6).

Every parameter comes from the published models as summarised in tensorcore_models.md section 1.6 (sources:
K = Khattak & Mikaitis, MATLAB-tensor-core; M = MMA-Sim; F = Fasi et al. 2021; E = mmaemu) — none is tuned
to data. The exponent floor is Khattak-Mikaitis' clamp ``emin_out - 5 - neab`` as listed in section 1.6
(V100 none / -19, A100 and Ada -132 / -20, H100, H200 and B200 -133 / -21 for fp32 / fp16 outputs); a zero
``c`` is dropped from the maximum (their convention, the one the recordings were checked with).

A suffix names another path: ``_tcgen05`` (B200 tcgen05 instruction), ``_cublas`` (the instruction chain plus
the library level a GEMM library was measured to add: promotion, split-K, epilogue; ``GemmLevel``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bitsim.accum.fused import FusedAcc
from bitsim.accum.gemm_level import GemmLevel
from bitsim.formats import format as lookup_format
from bitsim.formats.spec import FloatFormat

_FLOOR = {"v100": {"fp32": None, "fp16": -19}, "a100": {"fp32": -132, "fp16": -20},
          "ada": {"fp32": -132, "fp16": -20}, "l40s": {"fp32": -132, "fp16": -20},
          "h100": {"fp32": -133, "fp16": -21}, "h200": {"fp32": -133, "fp16": -21},
          "b200": {"fp32": -133, "fp16": -21}}


@dataclass(frozen=True)
class TensorCoreUnit:
    """A named preset: input format, the fused unit (``acc``, whose ``out`` is the output format), the K of
    one instruction, and the model row it comes from (``source``). ``gemm``: None = one instruction chain
    over all of K with ``c`` as the instruction's accumulator input; a ``GemmLevel`` = the library level
    on top of it (promotion, split-K, C in the epilogue; ``bitsim.accum.gemm_level``)."""

    name: str
    fmt_in: FloatFormat
    acc: FusedAcc
    instruction_k: int
    source: str
    gemm: GemmLevel | None = None

    def __post_init__(self):
        if self.gemm is not None:
            if not isinstance(self.gemm, GemmLevel):
                raise TypeError(f"TensorCoreUnit.gemm must be a GemmLevel or None; got {self.gemm!r}")
            self.gemm.check_unit(self.instruction_k, self.acc.out)

    @property
    def out(self) -> FloatFormat:
        return self.acc.out


def _preset(gpu, fmt_in, out, group, window, frac_bits, instruction_k, source, suffix="", **fields):
    rounding = "rtz" if out == "fp32" else "rne"
    acc = FusedAcc(group=group, window_bits=window, result_frac_bits=frac_bits, result_rounding=rounding,
                   out=out, exponent_floor=_FLOOR[gpu][out], source=source, **fields)
    name = f"nvidia_{gpu}_{fmt_in}_{out}{suffix}"
    return name, TensorCoreUnit(name, lookup_format(fmt_in), acc, instruction_k, source)


def _half_precision_rows(gpu, group, window, instruction_k, row, inputs=("fp16", "bf16")):
    """fp16 (and bf16) inputs -> fp32 (RZ 23) and fp16 -> fp16 (RNE 10) of one GPU."""
    for fmt_in in inputs:
        yield _preset(gpu, fmt_in, "fp32", group, window, 23, instruction_k, f"{row} {fmt_in}->f32, RZ")
    yield _preset(gpu, "fp16", "fp16", group, window, 10, instruction_k, f"{row} f16->f16, RNE")


def _tf32_row(gpu, group, window, instruction_k, row):
    yield _preset(gpu, "tf32", "fp32", group, window, 23, instruction_k, f"{row} tf32->f32, RZ")


def _fp8_rows(gpu, fp32_row, fp16_row):
    """e4m3 and e5m2 inputs, fp32 and fp16 outputs; ``*_row`` = (kwargs, source text)."""
    for fmt_in in ("e4m3", "e5m2"):
        for out, (kwargs, source) in (("fp32", fp32_row), ("fp16", fp16_row)):
            yield _preset(gpu, fmt_in, out, source=source, **kwargs)


_ADA_FP8 = ((dict(group=16, window=13, frac_bits=13, instruction_k=32),
             "1.6 row 'Ada m16n8k32 e4m3/e5m2 -> f32': g16 (2 per instruction), W13, RZ to 13 fraction bits "
             "(K, M, E; 5000/5000 on Ada and L40S recordings)"),
            (dict(group=16, window=13, frac_bits=10, instruction_k=32),
             "1.6 row 'Ada m16n8k32 e4m3/e5m2 -> f16': g16, W13, RNE (M; 5000/5000 on Ada recordings)"))
_HOPPER_FP8 = ((dict(group=32, window=13, frac_bits=13, instruction_k=32),
                "1.6 row 'H100/H200 wgmma k32 e4m3/e5m2 -> f32': g32, W13, RZ to 13 fraction bits (K, M, E, D; "
                "the published fp32 recordings fit with c := 0, section 1.7)"),
               (dict(group=32, window=25, frac_bits=10, instruction_k=32, c_mode="halves_f16"),
                "1.6 row 'legacy mma.sync FP8, f16 accumulate': two halves of 16 (k mod 4 in {0,1}, {2,3}), "
                "W25, each RNE16, then RNE16 adds of the halves and of c (5000/5000 on H100/H200/B200)"))
_B200_FP8 = ((dict(group=32, window=25, frac_bits=23, instruction_k=32, c_mode="late_ieee_add"),
              "1.6 row 'B200 legacy mma.sync FP8 -> f32': products g32 W25 -> RZ23, then RNE32(. + c) "
              "(5000/5000 on B200 recordings; = mmaemu b200_mma_sync)"),
             _HOPPER_FP8[1])


# (gpus, (g, W, instruction k, source) of fp16/bf16, (g, W, instruction k, source) of tf32)
_HALF_AND_TF32 = (
    (("a100", "ada", "l40s"),
     (8, 24, 16, "1.6 row 'A100/A30/A2, RTX 30xx m16n8k16' (Ada/L40S 'as A100'): g8, W24 (neab 1) (K, M, H)"),
     (4, 24, 8, "1.6 row 'A100 m16n8k8 tf32': g4, W24 (K, M)")),
    (("h100", "h200", "b200"),
     (16, 25, 16, "1.6 row 'H100/H200 HMMA.16816, wgmma k16' / 'B200 tcgen05, HMMA': g16, W25 (neab 2) (K, M)"),
     (8, 25, 8, "1.6 row 'wgmma k8 / tcgen05 tf32': g8, W25 (K, M)")),
)


def _all_presets():
    yield from _half_precision_rows("v100", 4, 23, 4, "1.6 row 'V100 mma m8n8k4, wmma': g4, W23 (neab 0) (K, M, F)",
                                   inputs=("fp16",))
    for gpus, half, tf32 in _HALF_AND_TF32:
        for gpu in gpus:
            yield from _half_precision_rows(gpu, *half[:3], f"{half[3]} [{gpu}]")
            yield from _tf32_row(gpu, *tf32[:3], f"{tf32[3]} [{gpu}]")
    for gpu in ("ada", "l40s"):
        yield from _fp8_rows(gpu, *_ADA_FP8)
    for gpu in ("h100", "h200"):
        yield from _fp8_rows(gpu, *_HOPPER_FP8)
    yield from _fp8_rows("b200", *_B200_FP8)
    for fmt_in in ("e4m3", "e5m2"):
        yield _preset("b200", fmt_in, "fp32", 32, 25, 23, 32, suffix="_tcgen05",
                      source="1.6 row 'B200 tcgen05 kind::f8f6f4': g32, W25, RZ, c joint (M, D; not re-checked)")


_CUBLAS_FP8 = GemmLevel(
    promotion_interval=128,
    source="1.3 'Promotion' and 3.4: cuBLASLt FP8 with use_fast_accum=False on H100 PCIe (mmaemu, cuBLASLt "
           "12.8.3.14): the chain restarts every 128 K-elements, chunk results added serially from +0 with fp32 RN; "
           "no split-K (the split count is a library heuristic, section 1.3 'Split-K'); C in the epilogue")


def _library_presets(presets):
    """``_cublas`` presets: a published instruction chain plus the library level measured on that GPU."""
    for fmt_in in ("e4m3", "e5m2"):
        base = presets[f"nvidia_h100_{fmt_in}_fp32"]
        name = f"{base.name}_cublas"
        yield name, replace(base, name=name, gemm=_CUBLAS_FP8,
                            source=f"{base.source}; GEMM level: {_CUBLAS_FP8.source}")


PRESETS: dict[str, TensorCoreUnit] = dict(_all_presets())
PRESETS.update(_library_presets(PRESETS))


def unit(name: str) -> TensorCoreUnit:
    """The preset called ``name`` (``nvidia_<gpu>_<input>_<output>``); ValueError lists the known names."""
    if not isinstance(name, str):
        raise TypeError(f"unit(name): name must be a str; got {name!r}")
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown tensor-core preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
