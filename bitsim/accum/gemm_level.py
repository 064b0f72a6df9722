"""The GEMM (library) level on top of a tensor-core instruction chain: promotion, split-K, epilogue.

tensorcore_models.md section 1.3 ("Chaining groups into an instruction and into a GEMM"). One output
``D[i] = C[i] + sum_k A[i, k] * B[i, k]`` is evaluated as:

1. **Split-K** (``split_k = S``, ``split_tile_k = T``): K is cut into k-tiles of T elements (the last one
   may be shorter). ``"contiguous"``: split s owns the run of tiles ``[s*q, (s+1)*q)`` with
   ``q = ceil(tiles / S)`` (= CUTLASS's ``round_up(ceil(K / S), T)`` elements per split; trailing splits may
   own nothing); ``"interleaved"``: split s owns the tiles t with ``t mod S == s``. A split's elements are
   taken in increasing k. ``split_k = 1``: one split owns all of K (T plays no part).
2. **Promotion** (``promotion_interval = N_C``): every N_C elements *of a split* the tensor-core chain
   restarts from +0; each chunk (the last one may be shorter) is one chain (``fused_dot`` with ``c = +0``,
   a ragged tail zero-padded inside its last instruction), and the chunk results are added serially into a
   separate fp32 accumulator that starts from +0: ``acc <- RN32(acc + chunk)``. ``None`` = no promotion
   (fast accumulation): the split's partial is the chain over all its elements, from +0.
   A split that owns no element has the partial +0.
3. **Combine**: the S partials are added with fp32 RNE adds, ``"serial"`` = ``((p0 + p1) + p2) + ...`` in
   split order, ``"pairwise"`` = adjacent pairs level by level (an odd last partial moves up unchanged).
4. **Epilogue** (``"fp32_add"``, alpha = beta = 1): the API's C is added last, ``D = RN32(total + C)``;
   without C (beta = 0) ``D = total``. The API C is *not* the instruction's accumulator input ``c``.

Every add is IEEE 754 addition rounded to nearest even in the unit's output format, which must be fp32
(``bitsim.ops.add`` on the code words: a zero sum is +0 unless both addends are zeros of the same sign,
+inf + -inf is NaN, an overflow is an infinity). A NaN result is the tensor core's canonical NaN (all
magnitude bits set, 0x7FFFFFFF — the code the chain itself gives), whatever the NaN payloads of C.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitsim import ops
from bitsim.accum.fused import _as_float_format, _check_acc, _code_array, fused_dot
from bitsim.backend import is_device_array
from bitsim.formats import format as lookup_format
from bitsim.formats.spec import _check_choice, _check_int

SPLIT_LAYOUTS = ("contiguous", "interleaved")
COMBINES = ("serial", "pairwise")
EPILOGUES = ("fp32_add",)
_MAX_K = 1 << 40  # upper bound for the integer fields (validation only)


@dataclass(frozen=True)
class GemmLevel:
    """Library-level parameters of a tensor-core GEMM (module docstring for the semantics).

    Fields:
        promotion_interval: N_C, K-elements per chain before promotion into the fp32 accumulator
            (a positive multiple of the instruction's K); None = no promotion (fast accumulation).
        split_k: S >= 1, number of K splits, each its own chain (or promoted chains) from +0.
        split_tile_k: T, width of the k-tiles the splits own (a positive multiple of the instruction's K);
            needed when split_k > 1.
        split_layout: "contiguous" (runs of tiles) or "interleaved" (tile t to split t mod S).
        combine: "serial" (in split order) or "pairwise" order of the fp32 adds of the split partials.
        epilogue: "fp32_add": D = RN32(acc + C) with alpha = beta = 1.
        source: where the values come from (not compared).
    """

    promotion_interval: int | None
    split_k: int = 1
    split_tile_k: int | None = None
    split_layout: str = "contiguous"
    combine: str = "serial"
    epilogue: str = "fp32_add"
    source: str = field(default="", compare=False)

    def __post_init__(self):
        for name in ("promotion_interval", "split_tile_k"):
            if getattr(self, name) is not None:
                _check_int("GemmLevel", name, getattr(self, name), 1, _MAX_K)
        _check_int("GemmLevel", "split_k", self.split_k, 1, _MAX_K)
        _check_choice("GemmLevel", "split_layout", self.split_layout, SPLIT_LAYOUTS)
        _check_choice("GemmLevel", "combine", self.combine, COMBINES)
        _check_choice("GemmLevel", "epilogue", self.epilogue, EPILOGUES)
        if self.split_k > 1 and self.split_tile_k is None:
            raise ValueError(f"GemmLevel.split_tile_k must be given when split_k > 1; got split_k={self.split_k} "
                             "and split_tile_k=None")
        if not isinstance(self.source, str):
            raise TypeError(f"GemmLevel.source must be a str; got {self.source!r}")

    def check_unit(self, instruction_k: int, out) -> None:
        """ValueError unless N_C and T are whole numbers of instructions and the output format is fp32."""
        for name in ("promotion_interval", "split_tile_k"):
            value = getattr(self, name)
            if value is not None and value % instruction_k:
                raise ValueError(f"GemmLevel.{name} must be a multiple of the instruction K {instruction_k}; "
                                 f"got {value}")
        if _as_float_format("out", out) != lookup_format("fp32"):
            raise ValueError(f"GemmLevel.epilogue {self.epilogue!r} adds in fp32; the unit's output format is {out}")


# ------------------------------------------------------------------------------------------ schedule


def split_columns(K: int, gemm: GemmLevel) -> list[np.ndarray]:
    """The k indices of every split, each in increasing k (step 1 of the module docstring)."""
    if gemm.split_k == 1:
        return [np.arange(K)]
    T, S = gemm.split_tile_k, gemm.split_k
    tiles = [np.arange(start, min(start + T, K)) for start in range(0, K, T)]
    if gemm.split_layout == "contiguous":
        q = -(-len(tiles) // S)
        owned = [tiles[s * q:(s + 1) * q] for s in range(S)]
    else:
        owned = [tiles[s::S] for s in range(S)]
    return [np.concatenate(run) if run else np.arange(0) for run in owned]


def chunk_columns(cols: np.ndarray, gemm: GemmLevel) -> list[np.ndarray]:
    """A split's k indices cut every ``promotion_interval`` elements (one chunk without promotion)."""
    n_c = gemm.promotion_interval
    if n_c is None:
        return [cols] if len(cols) else []
    return [cols[start:start + n_c] for start in range(0, len(cols), n_c)]


# ------------------------------------------------------------------------------------------ adds


def rn_add(x, y, fmt) -> np.ndarray:
    """RN(x + y) in ``fmt`` on code arrays (IEEE 754 addition, ``bitsim.ops.add``), as int64 codes; a NaN
    result is the canonical NaN with every magnitude bit set."""
    fmt = _as_float_format("fmt", fmt)
    dtype = fmt.code_dtype
    codes, _ = ops.add(np.asarray(x).astype(dtype), np.asarray(y).astype(dtype), fmt, "rne")
    codes = codes.astype(np.int64)
    nan = (codes & fmt.magnitude_mask) > fmt.max_code_magnitude + 1
    return np.where(nan, fmt.magnitude_mask, codes)


def _serial(terms: list, fmt, start=None) -> np.ndarray:
    """((start + t0) + t1) + ... with RNE adds (start None: from t0)."""
    total = start
    for t in terms:
        total = t if total is None else rn_add(total, t, fmt)
    return total


def _pairwise(terms: list, fmt) -> np.ndarray:
    """Adjacent pairs added level by level; an odd last term moves up unchanged."""
    while len(terms) > 1:
        paired = [rn_add(terms[i], terms[i + 1], fmt) for i in range(0, len(terms) - 1, 2)]
        terms = paired + terms[len(paired) * 2:]
    return terms[0]


# ------------------------------------------------------------------------------------------ evaluation


def take_host(X, idx, axis: int):
    """``X[:, idx]`` (axis 1) or ``X[idx, :]`` (axis 0): how the library level gathers chunk columns of host
    arrays (``bitsim.kernels.cuda_run.take`` gathers those of device arrays)."""
    return X[:, idx] if axis == 1 else X[idx, :]


def _host(x) -> np.ndarray:
    """A chain's results on the host, where the library level's fp32 adds run (device results copied back)."""
    return x.copy_to_host() if is_device_array(x) else np.asarray(x)


def _chain_results(A, B, chunks, fmt_in, acc, instruction_k, chain=None, take=take_host) -> np.ndarray:
    """(n, len(chunks)) chain results, each chunk from c = +0; chunks of equal length share one call of
    ``chain`` (default the compiled CPU kernel ``bitsim.kernels.fused_cpu.fused_rows``; the NumPy model
    for an exact window) on the columns ``take`` gathers."""
    from bitsim.kernels.fused_cpu import fused_rows, kernel_supports
    if chain is None:
        chain = fused_rows if kernel_supports(acc) else fused_dot
    n = A.shape[0]
    out = np.zeros((n, len(chunks)), np.int64)
    lengths = np.array([len(cols) for cols in chunks], np.int64)
    for length in np.unique(lengths):
        which = np.flatnonzero(lengths == length)
        idx = np.concatenate([chunks[j] for j in which])                 # m chunks of ``length`` columns
        a = take(A, idx, 1).reshape(n * len(which), length)             # row i * m + j: chunk j of row i
        b = take(B, idx, 1).reshape(n * len(which), length)
        d = chain(a, b, np.zeros(n * len(which), np.int64), fmt_in, acc, instruction_k=instruction_k)
        out[:, which] = _host(d).astype(np.int64).reshape(n, len(which))
    return out


def gemm_dot(A, B, C, fmt_in, acc, gemm: GemmLevel, instruction_k=None, chain=None, take=take_host) -> np.ndarray:
    """Rows of ``D = C + sum_k A[i,k] * B[i,k]`` through the GEMM level ``gemm`` over the chain of ``acc``.

    Args:
        A, B: host integer codes of ``fmt_in``, shape (n, K).
        C: fp32 codes (the API's C, added in the epilogue), shape (n,), or None (beta = 0).
        fmt_in, acc, instruction_k: the instruction chain, as for ``fused_dot``.
        gemm: the library-level parameters.
        chain: ``(a, b, c, fmt_in, acc, instruction_k=)`` -> the rows' chain results (a backend's compiled
            fused rows, e.g. ``fused_cuda.fused_rows``; default the CPU's, or the NumPy model for an exact
            window).
        take: ``(X, idx, axis)`` -> X's columns idx (``take_host``; ``cuda_run.take`` for device arrays,
            which the GPU's chain then reads in place).

    Returns:
        int64 fp32 codes, shape (n,).
    """
    _check_acc(acc)
    if not isinstance(gemm, GemmLevel):
        raise TypeError(f"gemm must be a GemmLevel; got {type(gemm).__name__}")
    step = acc.group if instruction_k is None else instruction_k
    gemm.check_unit(step, acc.out)
    fmt_in = _as_float_format("fmt_in", fmt_in)
    if not is_device_array(A):                     # device codes were checked on the GPU by the caller
        A, B = _code_array(A, fmt_in, "A"), _code_array(B, fmt_in, "B")
    if A.ndim != 2 or A.shape != B.shape:
        raise ValueError(f"gemm_dot: A and B must have the same shape (n, K); got {A.shape} and {B.shape}")
    n = A.shape[0]
    if C is not None:
        C = _code_array(_host(C), acc.out, "C")
        if C.shape != (n,):
            raise ValueError(f"gemm_dot: C must have shape ({n},); got {C.shape}")
    owners = [chunk_columns(cols, gemm) for cols in split_columns(A.shape[1], gemm)]
    flat = [chunk for chunks in owners for chunk in chunks]
    results = _chain_results(A, B, flat, fmt_in, acc, step, chain, take) if flat else np.zeros((n, 0), np.int64)
    first, columns = 0, []
    for chunks in owners:
        columns.append([results[:, j] for j in range(first, first + len(chunks))])
        first += len(chunks)
    return _library_level(columns, C, n, acc.out, gemm)


def gemm_matmul(A, B, C, fmt_in, acc, gemm: GemmLevel, instruction_k=None, chain=None,
                take=take_host) -> np.ndarray:
    """``D = C + A @ B`` through the GEMM level ``gemm``: ``gemm_dot`` of every row of A with every column of
    B, without expanding them: each chunk's chains are one GEMM of A's and B's chunk columns.

    Args:
        A (M, K), B (K, N): integer codes of ``fmt_in``; C: fp32 codes (M, N) (the API's C) or None.
        chain: ``(A_chunk, B_chunk, None, fmt_in, acc, instruction_k)`` -> (M, N) chain results from c = +0
            (a backend's compiled fused GEMM; default the CPU's, ``fused_cpu.fused_gemm``).
        take: ``(X, idx, axis)`` -> X's columns (axis 1) or rows (axis 0) idx, as for ``gemm_dot``.

    Returns:
        int64 fp32 codes, shape (M, N).
    """
    from bitsim.kernels.fused_cpu import fused_gemm
    chain = fused_gemm if chain is None else chain
    _check_acc(acc)
    step = acc.group if instruction_k is None else instruction_k
    gemm.check_unit(step, acc.out)
    M, N = A.shape[0], B.shape[1]
    columns = [[_host(chain(take(A, cols, 1), take(B, cols, 0), None, fmt_in, acc, step)).astype(np.int64)
                .reshape(-1) for cols in chunks]
               for chunks in (chunk_columns(cols, gemm) for cols in split_columns(A.shape[1], gemm))]
    C = None if C is None else _host(C).reshape(-1)
    return _library_level(columns, C, M * N, acc.out, gemm).reshape(M, N)


def _library_level(columns: list, C, n: int, fmt, gemm: GemmLevel) -> np.ndarray:
    """Steps 2-4 of the module docstring: ``columns[s]`` holds split s's chunk results (int64 codes, n
    each) in order; returns the n int64 codes of D."""
    partials = []
    for chunks in columns:
        if gemm.promotion_interval is None:
            partials.append(chunks[0] if chunks else np.zeros(n, np.int64))
        else:
            partials.append(_serial(chunks, fmt, start=np.zeros(n, np.int64)))
    total = _serial(partials, fmt) if gemm.combine == "serial" else _pairwise(partials, fmt)
    return total if C is None else rn_add(total, C, fmt)
