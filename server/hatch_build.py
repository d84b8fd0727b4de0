"""Wheel build hook: the DWARF accelerator compiled into the wheel.

A wheel built from this tree (``pip install .``, ``pipx install``, ``python -m build``) carries
``lineprobe/symbolization/liblineprobe_dwarf.so`` compiled for the machine that builds it, and is
tagged for that platform (any Python 3: the library is loaded with ctypes). Without a C compiler
the wheel is built without it, with a warning: lineprobe then decodes DWARF with pyelftools alone,
which gives the same answers, more slowly (``lineprobe capabilities`` says which). An editable
install (``make setup``) is left alone: ``make accel`` builds the library in place.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("server/lineprobe/symbolization/dwarf_accel.c")
TARGET = "lineprobe/symbolization/liblineprobe_dwarf.so"
FLAGS = ["-O2", "-g", "-Wall", "-Wextra", "-fPIC", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"]
"""The Makefile's ``ACCEL_CFLAGS`` but ``-Werror``: another compiler's new warning must not stop an
install."""


class AcceleratorBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        compiler = shlex.split(os.environ.get("CC", "cc"))
        if shutil.which(compiler[0]) is None:
            self.app.display_warning(
                f"lineprobe: no C compiler ({compiler[0]}): the wheel has no DWARF accelerator and "
                "decodes with pyelftools alone (slower). Install gcc and build again to have it."
            )
            return
        folder = Path(tempfile.mkdtemp(prefix="lineprobe-accel-"))
        library = folder / "liblineprobe_dwarf.so"
        source = Path(self.root) / SOURCE
        done = subprocess.run(
            [*compiler, *FLAGS, "-shared", "-o", str(library), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            self.app.display_warning(
                f"lineprobe: the DWARF accelerator did not compile ({done.stderr.strip()[:400]}): the wheel "
                "decodes with pyelftools alone (slower)."
            )
            return
        build_data["force_include"][str(library)] = TARGET
        build_data["pure_python"] = False
        # Loaded with ctypes, not as a CPython extension: any Python 3 on this platform.
        build_data["tag"] = "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")
        self.app.display_info(f"lineprobe: DWARF accelerator compiled into the wheel ({' '.join(compiler)})")
