"""The error every golden-vector reader raises: a ValueError that names the file, the line (or the
NPZ member) and what was expected there."""

from __future__ import annotations


class GoldenFileError(ValueError):
    """A malformed, truncated or inconsistent golden-vector file."""

    def __init__(self, path, line, message: str):
        self.path, self.line = str(path), line
        where = f"{self.path}:{line}" if isinstance(line, int) else f"{self.path} [{line}]" if line else self.path
        super().__init__(f"{where}: {message}")


def hex_digits(bits: int) -> int:
    """Hex digits of a ``bits``-wide word."""
    return max(1, -(-bits // 4))


def parse_hex(text: str, bits: int, path, line, what: str, digits: int | None = None) -> int:
    """The value of one hex word of exactly ``digits`` (default ``hex_digits(bits)``) digits, below
    2**bits (either case)."""
    digits = hex_digits(bits) if digits is None else digits
    if len(text) != digits or any(ch not in "0123456789abcdefABCDEF" for ch in text):
        raise GoldenFileError(path, line, f"{what}: expected {digits} hex digit(s), got {text!r}")
    value = int(text, 16)
    if value >> bits:
        raise GoldenFileError(path, line, f"{what}: {text} does not fit in {bits} bits")
    return value


def read_lines(path) -> list[str]:
    """The lines of a text file without their newlines; a last line without a newline is a truncation."""
    with open(path, "r", encoding="ascii", newline="") as fh:
        try:
            text = fh.read()
        except UnicodeDecodeError as e:
            raise GoldenFileError(path, None, f"not an ASCII text file ({e.reason} at byte {e.start})") from None
    if text and not text.endswith("\n"):
        n = text.count("\n") + 1
        raise GoldenFileError(path, n, "the last line has no newline (truncated file?)")
    return text.split("\n")[:-1] if text else []
