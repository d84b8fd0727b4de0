"""A runtime launched by lineprobe gets what it needs for its JIT code to have lines.

``node`` gets ``--perf-prof --interpreted-frames-native-stack`` (runtime_hints.NODE_FLAGS):
V8 then writes ``jit-PID.dump`` (code with source positions) and ``isolate-...-PID-v8.log`` in
its working directory. They serve the capture's resolution only, so the files a launch
caused are removed once it is resolved (a capture kept with ``--save`` holds its frames);
a node the user started with the flags keeps its files.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Sequence

from lineprobe.symbolization.runtime_hints import node_argv_with_flags


def runtime_argv(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` with the flags its runtime needs, and whether any were added."""
    flagged = node_argv_with_flags(list(argv))
    return (flagged, True) if flagged is not None else (list(argv), False)


def remove_leftovers(pid: int, cwd: str) -> None:
    """Remove the files added flags made a launched runtime write, by its PID, in its directory."""
    paths = [
        os.path.join(cwd, f"jit-{pid}.dump"),
        *glob.glob(os.path.join(glob.escape(cwd), f"isolate-0x*-{pid}-v8.log")),
    ]
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
