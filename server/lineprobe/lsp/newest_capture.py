"""The newest capture in the workspace: what ``lineprobe.openCapture`` opens when it is given no path.

Some editors run a server's commands from a picker that passes no arguments (Helix's
``:lsp-workspace-command``). With this, a capture kept from a terminal (``lineprobe profile --save
FILE.lpcap -- ./prog``) is one command away from the editor's lines there too.
"""

from __future__ import annotations

import os
from pathlib import Path

SUFFIX = ".lpcap"
SKIPPED = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", "target"})
"""Folders no capture is looked for in: version control, environments, dependencies, build trees
of their own tools."""
MOST_ENTRIES = 200_000
"""Files and folders looked at, at most: a home directory opened as a workspace is not walked
to its end."""


def newest_capture(roots: list[str]) -> Path | None:
    """The most recently modified ``.lpcap`` file under ``roots``, or None."""
    newest: tuple[float, Path] | None = None
    looked = 0
    for root in roots:
        for folder, folders, files in os.walk(root):
            # A capture's archived binaries (CAPTURE.lpcap.binaries/) hold no captures.
            folders[:] = [f for f in folders if f not in SKIPPED and not f.endswith(SUFFIX + ".binaries")]
            looked += len(folders) + len(files)
            for name in files:
                if not name.endswith(SUFFIX):
                    continue
                path = Path(folder, name)
                try:
                    modified = path.stat().st_mtime
                except OSError:
                    continue  # gone since it was listed
                if newest is None or modified > newest[0]:
                    newest = (modified, path)
            if looked > MOST_ENTRIES:
                return newest[1] if newest else None
    return newest[1] if newest else None
