"""Two CPU captures compared (``costs.diff``), seen from the editor: per document, per line.

A comparison is shown in place of a profile: the after capture's ``ProfileView`` carries it, so a
new profile, a cleared one or an opened capture replaces it the way it replaces a profile. Its
documents are those of either capture (a file whose code went away is all colder), mapped to
local files by the same ``SourceLocator`` rules as a profile's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pygls.uris import from_fs_path

from lineprobe.costs.diff import FunctionChange, LineChange, ProfileDiff
from lineprobe.costs.model import StackProfile
from lineprobe.lsp.settings import Settings
from lineprobe.lsp.source_locator import SourceLocator


@dataclass
class ComparedDocument:
    uri: str
    path: str
    lines: dict[int, LineChange]
    """By 1-based line number, as DWARF numbers them."""
    functions: list[FunctionChange]


@dataclass
class Comparison:
    diff: ProfileDiff
    before: StackProfile
    before_name: str
    """How the user named the before capture (its file)."""
    after_name: str
    documents: dict[str, ComparedDocument] = field(default_factory=dict)
    """By document URI."""

    @classmethod
    def build(
        cls,
        diff: ProfileDiff,
        before: StackProfile,
        names: tuple[str, str],
        settings: Settings,
        workspace_roots: list[str],
    ) -> Comparison:
        comparison = cls(diff, before, *names)
        local = SourceLocator(settings, workspace_roots).local
        by_path: dict[str, ComparedDocument] = {}
        for change in diff.lines:
            path = local(change.path)
            if path is not None:
                comparison._document(path, by_path).lines[change.line] = change
        for function in diff.functions:
            path = local(function.path)
            if path is not None and function.line:
                comparison._document(path, by_path).functions.append(function)
        return comparison

    def _document(self, path: str, by_path: dict[str, ComparedDocument]) -> ComparedDocument:
        doc = by_path.get(path)
        if doc is None:
            uri = from_fs_path(path) or f"file://{path}"
            doc = by_path[path] = self.documents[uri] = ComparedDocument(uri, path, {}, [])
        return doc

    @property
    def largest_change(self) -> float:
        """The largest change of a line's self cost beyond the sampler's luck, in the compared
        unit (0: none): the full strength of the comparison's heat."""
        return max((abs(c.self_delta) for c in self.diff.lines if not c.within_noise), default=0.0)

    def change_percent(self, change: float) -> float:
        """A change as a percentage of the before capture's cost (all its samples)."""
        whole = self.diff.before.cost
        return 100 * change / whole if whole > 0 else 0.0
