"""``bitsim golden gen | check | verify``: the command-line side of ``bitsim.golden`` (docs/golden.md).

Exit status: 0 when everything matches, 1 when ``check`` or ``verify`` finds a mismatch, 2 for bad input
or a malformed file (``bitsim.cli.main``).
"""

from __future__ import annotations

import time
from pathlib import Path

from bitsim.golden.build import op_set
from bitsim.golden.cases import LEVELS
from bitsim.golden.check import REF_CASES, check_suite
from bitsim.golden.sets import OPS
from bitsim.golden.suite import MANIFEST, WRITERS, verify, write_suite
from bitsim.golden.suites import (ROOT_MANIFEST, SUITES, TRACE_RECIPES, digits_trace, generate, verify_root,
                                  write_all)
from bitsim.progress import Progress
from bitsim.rounding import MODES


def _suite_dirs(path: Path) -> list[Path]:
    """The suite directories of a golden root (one with MANIFEST), or [path] for one suite."""
    if (path / ROOT_MANIFEST).is_file() and not (path / MANIFEST).is_file():
        return sorted(p for p in path.iterdir() if (p / MANIFEST).is_file())
    return [path]


def cmd_gen(args, usage_error) -> int:
    out = Path(args.out)
    writers = tuple(args.writer) if args.writer else None
    if args.all:
        if args.suite or args.format:
            raise usage_error("--all takes no --suite or --format")
        bar = Progress("golden gen", len(SUITES), args.quiet)
        write_all(out, progress=lambda name: bar.update(note=name), scheduler=args.scheduler, workers=args.workers)
        print(f"wrote {len(SUITES)} suites and {out / ROOT_MANIFEST}")
        return 0
    if args.suite or args.trace:
        if args.format or args.op or (args.suite and args.trace):
            raise usage_error("give one of --suite NAME, --trace RECIPE or --format/--op/--rounding")
        if args.suite:
            name, sets = args.suite, generate(args.suite)
        else:
            options = TRACE_RECIPES.get(args.trace, {})
            name, sets = f"trace_{args.trace}", [digits_trace(args.trace, args.seed, **options)]
        if writers is not None:
            for cs in sets:
                cs.writers = None
        path = write_suite(out, name, sets, writers or WRITERS)
    else:
        if not (args.format and args.op):
            raise usage_error("give --suite NAME, --all, --trace RECIPE, or --format F and --op OP")
        in_formats = args.in_format or None
        cs = op_set(f"{args.op}_{args.rounding}", args.op, args.format, args.rounding, level=args.level,
                    seed=args.seed, sr_bits=args.sr_bits, in_formats=in_formats)
        path = write_suite(out, f"{args.format}_{args.op}_{args.rounding}", [cs], writers or WRITERS)
    print(f"wrote {path}")
    return 0


def cmd_check(args, usage_error) -> int:
    path = Path(args.path)
    ref_cases = None if args.ref_cases == "all" else int(args.ref_cases)
    problems = verify_root(path) if (path / ROOT_MANIFEST).is_file() else []
    total = 0
    dirs = _suite_dirs(path)
    bar = Progress("golden check", len(dirs), args.quiet)
    for d in dirs:
        t = time.perf_counter()
        report = check_suite(d, ref_cases)
        problems += report.mismatches
        total += report.cases
        bar.update(note=d.name)
        if not args.quiet:
            print(f"{d}: {report.cases} cases in {report.files} files, {report.ref_cases} also by bitsim.ref: "
                  f"{'ok' if report.ok else f'{len(report.mismatches)} mismatch(es)'} "
                  f"({time.perf_counter() - t:.1f} s)")
    for p in problems:
        print(p)
    print(f"{'FAIL' if problems else 'PASS'}: {total} cases")
    return 1 if problems else 0


def cmd_verify(args, usage_error) -> int:
    path = Path(args.path)
    problems = verify_root(path) if (path / ROOT_MANIFEST).is_file() else []
    dirs = _suite_dirs(path)
    bar = Progress("golden verify", len(dirs), args.quiet)
    for d in dirs:
        problems += verify(d)
        bar.update(note=d.name)
    for p in problems:
        print(p)
    print(f"{'FAIL' if problems else 'PASS'}: checksums of {len(dirs)} suite(s)")
    return 1 if problems else 0


def add_parser(sub, usage_error) -> None:
    """Add ``golden gen|check|verify`` to a subparsers object; ``usage_error`` is the CLI's error class."""
    golden = sub.add_parser("golden", help="golden vectors: generate, check, verify (docs/golden.md)")
    gsub = golden.add_subparsers(dest="golden_command", required=True, parser_class=type(golden))
    gen = gsub.add_parser("gen", help="write a suite (--suite NAME | --all) or one op's cases (--format/--op)")
    gen.add_argument("--suite", choices=list(SUITES), help="a committed suite")
    gen.add_argument("--all", action="store_true", help="every committed suite and the root MANIFEST")
    gen.add_argument("--trace", metavar="RECIPE", help="one training step of the digits MLP under a bitsim.nn "
                     "recipe (--seed: initial weights)")
    gen.add_argument("--format", help="output format of the op, e.g. e5m2")
    gen.add_argument("--op", choices=list(OPS))
    gen.add_argument("--in-format", action="append", help="operand format (once per operand; convert: the source)")
    gen.add_argument("--rounding", default="rne", choices=list(MODES))
    gen.add_argument("--sr-bits", type=int, help="random bits per case with --rounding sr (default 8)")
    gen.add_argument("--level", default="small", choices=list(LEVELS))
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--writer", action="append", choices=list(WRITERS),
                     help="testfloat, memh or npz (repeatable; default all, committed suites their own)")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.add_argument("--scheduler", help="with --all: 'local' (a Dask LocalCluster) or a Dask scheduler address, "
                                         "one task per suite")
    gen.add_argument("--workers", type=int, default=2, help="workers of a local cluster (default 2)")
    gen.set_defaults(run=lambda a: cmd_gen(a, usage_error))
    chk = gsub.add_parser("check", help="recompute every case of a suite (or of golden/) and report mismatches")
    chk.add_argument("path")
    chk.add_argument("--ref-cases", default=str(REF_CASES),
                     help=f"cases per set also recomputed by bitsim.ref (default {REF_CASES}; 'all')")
    chk.add_argument("--quiet", action="store_true", help="no progress bar, no per-suite lines")
    chk.set_defaults(run=lambda a: cmd_check(a, usage_error))
    ver = gsub.add_parser("verify", help="check the manifest checksums of a suite (or of golden/)")
    ver.add_argument("path")
    ver.add_argument("--quiet", action="store_true", help="no progress bar")
    ver.set_defaults(run=lambda a: cmd_verify(a, usage_error))
