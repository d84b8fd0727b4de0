"""Where a Java method is declared in the workspace, from the names HotSpot's probes give.

HotSpot names a class by its binary name with slashes (``slowy/App``, ``slowy/App$Inner``)
and a method by its simple name (``isDivisible``, ``<init>`` for constructors). A class
lives in ``<package path>/<outer class>.java`` under some source root, so the file is
found by that path's suffix; the declaration by a line that names the method before
its parameter list, after a type or modifier (a call has neither).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

SKIPPED_FOLDERS = frozenset({".git", "node_modules", ".venv", "build", "target", "out", ".gradle"})
MAX_FILES = 20000
"""Java files looked at in one workspace, at most (a monorepo is not walked forever)."""


@dataclass(frozen=True)
class MethodSite:
    path: str
    line: int
    """1-based."""


_NOT_A_TYPE = r"(?!(?:return|new|throw|else|case|yield|assert|do|try|catch|finally)\b)"


def _declaration(name: str, constructor: bool) -> re.Pattern[str]:
    """A line that declares ``name``: modifiers and a return type (a method; a constructor has
    none), the name, its parameter list. A call has no type before it; a statement that starts
    with a keyword is not a declaration."""
    return_type = "" if constructor else _NOT_A_TYPE + r"[\w$.]+(?:<[^()]*>)?(?:\[\])*\s+"
    return re.compile(
        r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*"  # annotations
        r"(?:(?:public|protected|private|static|final|synchronized|abstract|native|default|strictfp)\s+)*"
        r"(?:<[^>]*>\s+)?" + return_type + re.escape(name) + r"\s*\("  # type parameters
    )


@dataclass
class JavaSources:
    """The workspace's Java files, indexed by file name once, and declarations found in them."""

    roots: list[str]
    _by_name: dict[str, list[str]] | None = None
    _found: dict[tuple[str, str], MethodSite | None] = field(default_factory=dict)

    def _index(self) -> dict[str, list[str]]:
        if self._by_name is None:
            by_name: dict[str, list[str]] = {}
            seen = 0
            for root in self.roots:
                for folder, folders, files in os.walk(root):
                    folders[:] = [f for f in folders if f not in SKIPPED_FOLDERS and not f.startswith(".")]
                    for file in files:
                        if file.endswith(".java") and seen < MAX_FILES:
                            seen += 1
                            by_name.setdefault(file, []).append(os.path.join(folder, file))
            self._by_name = by_name
        return self._by_name

    def source_of(self, class_name: str) -> str | None:
        """The file that declares ``class_name`` (``pkg/Outer$Inner``), None when none does."""
        outer = class_name.split("$", 1)[0]
        suffix = os.sep + outer.replace("/", os.sep) + ".java"
        candidates = self._index().get(outer.rsplit("/", 1)[-1] + ".java", [])
        exact = [path for path in candidates if path.endswith(suffix)]
        return sorted(exact)[0] if exact else None

    def method(self, class_name: str, method: str) -> MethodSite | None:
        key = (class_name, method)
        if key not in self._found:
            self._found[key] = self._find(class_name, method)
        return self._found[key]

    def _find(self, class_name: str, method: str) -> MethodSite | None:
        path = self.source_of(class_name)
        if path is None:
            return None
        simple = class_name.rsplit("/", 1)[-1].rsplit("$", 1)[-1]
        name = simple if method == "<init>" else method
        if not re.fullmatch(r"[\w$]+", name):
            return None  # <clinit>, lambdas' synthetic names: no declaration of their own
        pattern = _declaration(name, constructor=method == "<init>")
        try:
            with open(path, encoding="utf-8", errors="replace") as source:
                for number, line in enumerate(source, 1):
                    if not line.lstrip().startswith(("//", "*")) and pattern.match(line):
                        return MethodSite(path, number)
        except OSError:
            return None
        return None
