"""A one-line progress bar on stderr for the long commands (train, reproduce, golden); silent when quiet.

    bar = Progress("golden check", total=len(suites), quiet=args.quiet)
    for d in suites:
        ...
        bar.update(note=d.name)      # one more item done; the note goes after the count

On a terminal each update rewrites the line (carriage return) and the last item ends it with a newline.
Into a file or a pipe (a CI log) a bar writes one whole line per tenth of the work instead, so the log
stays readable. Nothing is written to stdout, so a command's results stay machine-readable.
"""

from __future__ import annotations

import sys

WIDTH = 30


class Progress:
    """``label [#####.....] done/total note`` on stderr, or nothing with ``quiet``."""

    def __init__(self, label: str, total: int, quiet: bool = False, done: int = 0, stream=None,
                 interactive: bool | None = None):
        self.label, self.total, self.quiet, self.done = label, max(int(total), 0), bool(quiet), int(done)
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty()) if interactive is None else bool(interactive)
        self._tenth = self._tenths()

    def _tenths(self) -> int:
        return 10 * self.done // max(self.total, 1)

    def update(self, step: int = 1, note: str = "") -> None:
        """``step`` more items done; redraw the line with ``note``."""
        self.done += step
        if self.quiet:
            return
        filled = WIDTH * self.done // max(self.total, 1)
        tail = f" {note}" if note else ""
        line = f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total}{tail}"
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if self.done >= self.total else ""))
        elif self._tenths() > self._tenth or self.done >= self.total:
            self._tenth = self._tenths()
            self.stream.write(line + "\n")
        self.stream.flush()
