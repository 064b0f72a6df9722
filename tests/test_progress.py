"""bitsim.progress.Progress: the bar it draws, and silence when quiet."""

import io

from bitsim.progress import Progress


def test_bar_redraws_and_ends_with_a_newline():
    out = io.StringIO()
    bar = Progress("work", 3, stream=out, interactive=True)
    bar.update(note="a")
    bar.update(2, note="b")
    assert out.getvalue() == ("\rwork [" + "#" * 10 + "." * 20 + "] 1/3 a"
                              "\rwork [" + "#" * 30 + "] 3/3 b\n")


def test_resumed_bar_counts_from_its_start_and_quiet_writes_nothing():
    out = io.StringIO()
    Progress("epoch 2", 4, done=2, stream=out, interactive=True).update()
    assert out.getvalue() == "\repoch 2 [" + "#" * 22 + "." * 8 + "] 3/4"
    quiet = io.StringIO()
    bar = Progress("work", 2, quiet=True, stream=quiet)
    bar.update()
    bar.update()
    assert quiet.getvalue() == "" and bar.done == 2


def test_into_a_file_a_bar_writes_one_line_per_tenth():
    out = io.StringIO()                                  # not a terminal: no carriage returns
    bar = Progress("work", 25, stream=out)
    for i in range(25):
        bar.update(note=str(i))
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 10
    assert lines[0] == "work [" + "#" * 3 + "." * 27 + "] 3/25 2" and lines[-1] == "work [" + "#" * 30 + "] 25/25 24"
