"""The CLI's logger: a live progress bar with an ETA on a terminal, plain lines when piped; and the commands that
only read (list, help, report) start without torch."""

from __future__ import annotations

import io
import subprocess
import sys

from bench.log import Logger
from infoprune.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_done_left_and_eta():
    out = Terminal()
    log = Logger(stream=out)
    with progress(log, 3, "cells") as advance:
        for i in range(3):
            log(f"cell {i}")
            advance()
    text = out.getvalue()
    assert "\r" in text and "3/3 cells done" in text and "left" in text  # the bar, redrawn in place
    assert "cell 2" in text


def test_a_pipe_gets_plain_lines_only():
    out = io.StringIO()
    log = Logger(stream=out)
    with progress(log, 3, "cells") as advance:
        for i in range(3):
            log(f"cell {i}")
            advance()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and all(line.startswith("[") and "] cell" in line for line in lines)
    assert "\r" not in out.getvalue()


def test_a_plain_callable_log_needs_no_progress_support():
    seen = []
    with progress(seen.append, 2, "cells") as advance:
        advance()
    assert seen == []


def test_list_help_and_report_do_not_import_torch(tmp_path):
    from test_report import make_run

    folder = make_run(tmp_path / "run")
    for argv in (["list"], ["--help"], ["report", str(folder)]):
        code = ("import sys\nfrom bench.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
                "print('torch' in sys.modules, 'sklearn' in sys.modules)" % argv)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip().splitlines()[-1] == "False False", argv
