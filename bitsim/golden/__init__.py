"""Golden vectors for hardware and kernel teams (docs/golden.md).

``build`` makes case sets (TestFloat-style operands, seeded GEMM inputs; expected outputs from bitsim's
kernels), ``suite.write_suite`` writes them as TestFloat-style lines (``testfloat``), ``$readmemh`` files
(``memh``) and NPZ (``npzfile``) with a manifest, ``check.check_suite`` recomputes every case and
cross-checks a sample with ``bitsim.ref``, ``suite.verify`` checks the manifest's sha256 table, and
``suites`` holds the committed suites of ``golden/``; ``trace`` is the ``train_step`` kind (one training
step of a small net, every trace entry a field).
"""

from bitsim.golden.build import block_encode_set, block_gemm_set, gemm_set, op_set
from bitsim.golden.check import Report, check_suite
from bitsim.golden.errors import GoldenFileError
from bitsim.golden.sets import CaseSet
from bitsim.golden.suite import WRITERS, load_manifest, verify, write_suite
from bitsim.golden.suites import SUITES, generate, verify_root, write_all, write_root_manifest

__all__ = ["op_set", "gemm_set", "block_gemm_set", "block_encode_set", "CaseSet", "check_suite", "Report",
           "GoldenFileError", "WRITERS", "write_suite", "load_manifest", "verify", "SUITES", "generate",
           "write_all", "write_root_manifest", "verify_root"]
