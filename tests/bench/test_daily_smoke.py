"""The one-file daily benchmark's code path, one run of one way: `cdi run` in a fresh process on
the day's file succeeds and the bench prints its figures and its final line. It failed unnoticed
once, when the demo's day file gained orders in a second currency whose rates it did not land."""

from __future__ import annotations

import contextlib
import io
import re

from bench import daily


def test_it_ends_with_the_daily_line() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert daily.main(["--repeat", "1", "--ways", "archive"]) == 0
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"run 1 archive +[0-9.]+ s wall, clean_raw +[0-9.]+ s \([0-9]+%\)", lines[2]), lines
    assert re.fullmatch(r"counts: every run [0-9,]+ valid, [0-9,]+ quarantined", lines[4]), lines
    last = dict(field.split("=") for field in lines[-1].removeprefix("daily: ").split())
    assert float(last["wall_s"]) > float(last["spark_s"]) > 0, lines[-1]
    assert last["wall_off_s"] == "nan", lines[-1]  # a way left out
