"""DWARF paths to files of the workspace (path remapping, existence, membership)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pygls.uris import from_fs_path

from lineprobe.lsp.settings import Settings


@dataclass
class SourceLocator:
    settings: Settings
    workspace_roots: list[str]
    known: dict[str, str | None] = field(default_factory=dict)
    """DWARF path -> local file (mapped, existing, inside the workspace) or None."""

    def __post_init__(self) -> None:
        self._roots = [str(Path(r).resolve()) for r in self.workspace_roots]

    def local(self, path: str | None) -> str | None:
        if path is None:
            return None
        if path not in self.known:
            mapped = self.settings.map_path(path)
            resolved = str(Path(mapped).resolve()) if os.path.exists(mapped) else None
            if (
                resolved is not None
                and self._roots
                and not any(resolved == r or resolved.startswith(r.rstrip("/") + "/") for r in self._roots)
            ):
                resolved = None  # outside the workspace: not ours to annotate
            self.known[path] = resolved
        return self.known[path]


def uri_of(path: str) -> str:
    return from_fs_path(path) or f"file://{path}"
