"""Frame paths to files of the workspace: DWARF's (path remapping, existence, membership), and
a JIT's relative source names (Java's package path, ``slowy/App.java``), found under the
workspace's source roots by that path (``java_methods.JavaSources``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pygls.uris import from_fs_path

from lineprobe.lsp.java_methods import JavaSources
from lineprobe.lsp.settings import Settings


@dataclass
class SourceLocator:
    settings: Settings
    workspace_roots: list[str]
    known: dict[str, str | None] = field(default_factory=dict)
    """DWARF path -> local file (mapped, existing, inside the workspace) or None."""

    def __post_init__(self) -> None:
        self._roots = [str(Path(r).resolve()) for r in self.workspace_roots]
        self._java = JavaSources([*self._roots, *self.settings.java_source_roots])

    def local(self, path: str | None) -> str | None:
        if path is None:
            return None
        if path not in self.known and not path.startswith("/") and path.endswith(".java"):
            self.known[path] = self._java.source_of(path.removesuffix(".java"))
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
