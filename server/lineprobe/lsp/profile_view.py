"""A finished profile seen from the editor: per document, per line.

The profile speaks of DWARF paths; the editor of document URIs. This module
maps one to the other once (path remapping, workspace membership, staleness)
so that every feature (diagnostics, hints, lenses, hovers, heat) reads the
same answer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pygls.uris import from_fs_path

from lineprobe.costs.model import FunctionStat, LineStat, StackProfile
from lineprobe.lsp.comparison_view import Comparison
from lineprobe.lsp.settings import Settings
from lineprobe.lsp.source_locator import SourceLocator


@dataclass
class DocumentProfile:
    uri: str
    path: str
    lines: dict[int, LineStat]
    """By 1-based line number, as DWARF numbers them."""
    functions: list[FunctionStat]
    stale: bool = False


@dataclass
class ProfileView:
    profile: StackProfile
    """What the editor shows: the whole profile, or a slice of it (``costs.slices``)."""
    whole: StackProfile | None = None
    """The profile ``profile`` is a slice of; None: ``profile`` is whole."""
    documents: dict[str, DocumentProfile] = field(default_factory=dict)
    """By document URI."""
    by_path: dict[str, DocumentProfile] = field(default_factory=dict)
    local_paths: dict[str, str | None] = field(default_factory=dict)
    """DWARF path -> local file (mapped, existing, inside the workspace) or None."""
    comparison: Comparison | None = None
    """Shown instead of ``profile``'s own costs: ``profile`` (the after capture) compared with an
    earlier one; hovers, hints, lenses, diagnostics, heat and the flame graph show the change."""

    @property
    def shown_uris(self) -> set[str]:
        """The documents this view puts heat on."""
        return set(self.comparison.documents if self.comparison is not None else self.documents)

    def local_path(self, dwarf_path: str | None) -> str | None:
        return self.local_paths.get(dwarf_path) if dwarf_path else None

    @property
    def unsliced(self) -> StackProfile:
        return self.whole or self.profile

    @classmethod
    def build(
        cls,
        profile: StackProfile,
        settings: Settings,
        workspace_roots: list[str],
        whole: StackProfile | None = None,
    ) -> ProfileView:
        view = cls(profile, whole)
        locator = SourceLocator(settings, workspace_roots)
        view.local_paths = locator.known
        try:
            binary_mtime: float | None = os.stat(profile.header.exe).st_mtime
        except OSError:
            binary_mtime = None
        local = locator.local

        for stat in profile.lines:
            path = local(stat.path)
            if path is None:
                continue
            doc = view._document(path, binary_mtime)
            doc.lines[stat.line] = stat
        for fstat in profile.functions:
            path = local(fstat.path)
            if path is not None and path in view.by_path:
                view.by_path[path].functions.append(fstat)
        return view

    def _document(self, path: str, binary_mtime: float | None) -> DocumentProfile:
        uri = from_fs_path(path) or f"file://{path}"
        doc = self.documents.get(uri)
        if doc is None:
            # A checksum mismatch (or a newer file) seen while resolving, else the date rule.
            stale = path in self.profile.stale_sources
            if not stale and binary_mtime is not None:
                try:
                    stale = os.stat(path).st_mtime > binary_mtime + 1
                except OSError:
                    stale = False
            doc = self.documents[uri] = DocumentProfile(uri, path, {}, [], stale)
            self.by_path[path] = doc
        return doc

    def percent(self, count: int) -> float:
        return self.profile.share(count)
