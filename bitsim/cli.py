"""Command line: ``bitsim formats``, ``bitsim show FORMAT``, ``bitsim encode FORMAT VALUES...``,
``bitsim golden gen|check|verify`` (``bitsim.golden.cli``), ``bitsim train`` (``nets.cli``).

Values given to ``encode`` are read exactly (decimal, fraction, hex float) and rounded once by the
exact reference, never through a binary64 float.
"""

from __future__ import annotations

import argparse
import re
import sys
from fractions import Fraction

from bitsim import ref
from bitsim.formats import cards
from bitsim.blocks import cards as block_cards
from bitsim.blocks.catalog import BLOCK_ENTRIES, BlockEntry, block_entry, lookup_block
from bitsim.formats.catalog import ENTRIES, CatalogEntry, entry, lookup
from bitsim.golden import cli as golden_cli
from nets import cli as train_cli
from bitsim.rounding import MODES, stochastic_args

FLAG_NAMES = ("inexact", "underflow", "overflow", "infinite", "invalid")   # flag bits 1, 2, 4, 8, 16
_HEX_FLOAT = re.compile(r"^0x([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?\d+))?$")
_NEGATIVE_VALUE = re.compile(r"^-(\.?\d|inf|nan)", re.IGNORECASE)


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """Raises UsageError instead of exiting, and reads ``-1e-3``, ``-inf``, ``-1/3``, ``-0x1p-3`` as values."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse's own pattern takes only -12 and -1.5 as negative numbers; every option here is long
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message):
        raise UsageError(message)


def parse_value(text: str):
    """An input value, exactly: (x, negative) with x a Fraction, ``ref.NAN`` or ``(ref.INF, negative)``.

    Accepts decimals (``0.1``, ``-1e-3``), fractions (``1/3``), hex floats (``0x1.8p-3``), ``inf``,
    ``-inf`` and ``nan``; ``negative`` carries the sign of a zero (``-0``).
    """
    s = text.strip().lower()
    negative = s.startswith("-")
    body = s[1:] if s[:1] in "+-" else s
    if body in ("inf", "infinity"):
        return (ref.INF, negative), negative
    if body == "nan":
        return ref.NAN, negative
    m = _HEX_FLOAT.match(body)
    if m and (m[1] or m[2]):
        digits = (m[1] or "") + (m[2] or "")
        x = Fraction(int(digits, 16)) * Fraction(2) ** (int(m[3] or 0) - 4 * len(m[2] or ""))
        return (-x if negative else x), negative
    try:
        return Fraction(s), negative
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"cannot read {text!r} as a number (decimal, fraction p/q, hex float, inf or nan)") from None


def _entry_for(name: str) -> CatalogEntry:
    """The catalog entry of a name, or an entry built on the fly for a generic name."""
    spec = lookup(name)
    return entry(name) or CatalogEntry(spec.name or name, spec, "generic name")


def _plain(markdown: str) -> str:
    """A card as plain text: the collapsible-section tags removed."""
    return re.sub(r"</?details>\n|</?summary>", "", markdown)


def _print_columns(rows) -> None:
    """Rows of strings, every column but the last padded to equal width."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])


def cmd_formats(args) -> None:
    _print_columns([(e.name, cards.layout_text(e.spec, compact=True), f"{e.spec.bits} bits",
                     f"max {cards.number(e.spec.max)}", cards.short_source(e.source)) for e in ENTRIES])
    print("\nBlock formats: " + ", ".join(e.name for e in BLOCK_ENTRIES) + ", bfp<wl>, bfp<wl>_qpytorch")
    print("\nGeneric names: " + ", ".join(k for k, _ in cards.GENERIC_NAMES) + " (`bitsim show NAME` describes one)")


def cmd_show(args) -> None:
    block = block_entry(args.format)
    if block is None and lookup_block(args.format) is not None:
        block = BlockEntry(args.format, lookup_block(args.format), "generic name")
    if block is not None:
        print(block_cards.card(block), end="")
        return
    print(_plain(cards.card(_entry_for(args.format))), end="")
    if args.plot:
        from bitsim.plots import plot_format
        print(f"wrote {plot_format(args.format, args.plot)}")


def _flags_text(flags: int) -> str:
    return ",".join(n for i, n in enumerate(FLAG_NAMES) if flags >> i & 1) or "-"


def cmd_encode(args) -> None:
    fmt = lookup(args.format)
    values = [parse_value(v) for v in args.values]
    sr_bits, seed, *_ = stochastic_args(args.rounding, args.sr_bits, args.seed, 0, 0, None, (len(values),))
    rows = []
    for i, (text, (x, negative)) in enumerate(zip(args.values, values)):
        rand = ref.sr_random(int(seed), 0, i, sr_bits) if args.rounding == "sr" else 0
        code, flags = ref.round_value(x, fmt, args.rounding, rand=rand, sr_bits=sr_bits, negative=negative)
        rows.append((text, "->", cards.hex_code(fmt, code), cards.code_bits(fmt, code),
                     cards.value_text(fmt, code), f"flags: {_flags_text(flags)}"))
    _print_columns(rows)


def cmd_verify(args) -> int:
    from bitsim.verify import verify_pairs
    report = verify_pairs(args.op, args.format, args.rounding, rows=args.rows, shards=args.shards,
                          scheduler=args.scheduler, workers=args.workers, quiet=args.quiet)
    for a, b, code, flags in report.first:
        print(f"mismatch: {args.op}({a:#x}, {b:#x}) gives {code:#x} flags {_flags_text(flags)}")
    print(f"{'PASS' if report.ok else 'FAIL'}: {report.op} {report.fmt} {report.rounding}: {report.pairs} pairs, "
          f"{report.mismatches} mismatch(es); digest {report.digest}")
    return 0 if report.ok else 1


def _lengths(text: str) -> list[int]:
    try:
        lengths = [int(t) for t in text.split(",")]
    except ValueError:
        raise UsageError(f"--lengths: comma-separated integers are needed; got {text!r}") from None
    if not lengths or min(lengths) < 1:
        raise UsageError(f"--lengths: every length must be >= 1; got {text!r}")
    return lengths


def cmd_dot_error(args) -> int:
    from bitsim.plots import dot_error, plot_dot_error
    lengths = _lengths(args.lengths)
    table = dot_error(args.units, lengths, rows=args.rows, seed=args.seed, signed=args.signed)
    rows = [("K", *table)] + [(f"{n:,}", *(f"{table[u][i]:.3e}" for u in table)) for i, n in enumerate(lengths)]
    _print_columns(rows)
    if args.plot:
        print(f"wrote {plot_dot_error(table, args.plot, lengths)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bitsim", description="Bit-accurate low-precision number formats.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("formats", help="list the catalog formats").set_defaults(run=cmd_formats)
    show = sub.add_parser("show", help="describe a format (all code words when <= 8 bits)")
    show.add_argument("format", help="catalog or generic name, e.g. e4m3, e3m4, fixed8.7")
    show.add_argument("--plot", metavar="PNG", help="also draw the value grid and the quantisation error (float "
                                                   "formats up to 16 bits; needs matplotlib)")
    show.set_defaults(run=cmd_show)
    enc = sub.add_parser("encode", help="round exact values to a format")
    enc.add_argument("format", help="catalog or generic name")
    enc.add_argument("values", nargs="+", help="decimal, fraction p/q, hex float (0x1.8p-3), inf, -inf, nan")
    enc.add_argument("--rounding", default="rne", choices=list(MODES))
    enc.add_argument("--sr-bits", type=int, help="random bits per value with --rounding sr")
    enc.add_argument("--seed", type=int, help="generator seed with --rounding sr")
    enc.set_defaults(run=cmd_encode)
    ver = sub.add_parser("verify", help="an op over every operand pair of a format against an independent path "
                                        "(bitsim.verify), optionally sharded on Dask")
    ver.add_argument("op", help="add, sub, mul or div")
    ver.add_argument("format", nargs="?", default="fp16", help="fp16 (rne), or a format of at most 8 bits")
    ver.add_argument("--rounding", default="rne", choices=list(MODES))
    ver.add_argument("--rows", type=int, default=256, help="first operands per shard (default 256)")
    ver.add_argument("--shards", type=int, help="only the first N shards (a spot check; default all)")
    ver.add_argument("--scheduler", help="'local' (a LocalCluster) or a Dask scheduler address; default: this "
                                         "process")
    ver.add_argument("--workers", type=int, default=2, help="workers of a local cluster (default 2)")
    ver.add_argument("--quiet", action="store_true", help="no progress bar")
    ver.set_defaults(run=cmd_verify)
    err = sub.add_parser("dot-error", help="error of dot products against their length, per unit (the exact dot "
                                           "of the same code words as reference)")
    err.add_argument("units", nargs="+", help="unit presets, e.g. wang_fp8 fp32_seq nvidia_h100_e4m3_fp32")
    err.add_argument("--lengths", default=",".join(str(2 ** k) for k in range(4, 17)),
                     help="comma-separated dot lengths (default 16,32,...,65536)")
    err.add_argument("--rows", type=int, default=8, help="random rows per length (default 8)")
    err.add_argument("--seed", type=int, default=0)
    err.add_argument("--signed", action="store_true", help="signed N(0,1) operands (default: their absolute "
                                                          "values, all products positive)")
    err.add_argument("--plot", metavar="PNG", help="also draw the table (needs matplotlib)")
    err.set_defaults(run=cmd_dot_error)
    golden_cli.add_parser(sub, UsageError)
    train_cli.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with a one-line message; 1 when a
    golden check finds a mismatch)."""
    try:
        args = build_parser().parse_args(argv)
        status = args.run(args)
    except (UsageError, ValueError) as e:
        print(f"bitsim: error: {e}", file=sys.stderr)
        return 2
    return status or 0
