"""A USDT count seen from the editor: Java methods with their call rates, from HotSpot's method
probes counted by class and method (``lineprobe.usdtCount`` with ``"by": "method"``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lsprotocol import types
from pygls.uris import from_fs_path

from lineprobe.lsp.java_methods import JavaSources
from lineprobe.usdt.counts import ProbeCounts
from lineprobe.usdt.hotspot import PROVIDER


@dataclass(frozen=True)
class MethodRate:
    class_name: str
    method: str
    count: int
    per_s: float
    line: int


@dataclass
class ProbeView:
    counts: ProbeCounts
    methods: dict[str, list[MethodRate]] = field(default_factory=dict)
    """By document URI: the methods counted there, at their declarations."""

    @classmethod
    def build(cls, counts: ProbeCounts, roots: list[str]) -> ProbeView:
        view = cls(counts)
        if not _by_class_and_method(counts):
            return view
        sources = JavaSources(roots)
        for group in counts.groups:
            class_name, method = str(group.values[0]), str(group.values[1])
            site = sources.method(class_name, method)
            if site is None:
                continue
            uri = from_fs_path(site.path) or f"file://{site.path}"
            rate = MethodRate(class_name, method, group.count, counts.rate(group.count), site.line)
            view.methods.setdefault(uri, []).append(rate)
        return view

    def lenses(self, uri: str) -> list[types.CodeLens]:
        name = self.counts.probe.rsplit(":", 1)[-1]
        seconds = self.counts.header.duration_s
        lenses = []
        for rate in self.methods.get(uri, []):
            position = types.Position(rate.line - 1, 0)
            lenses.append(
                types.CodeLens(
                    range=types.Range(position, position),
                    command=types.Command(
                        title=f"{name}: {rate.per_s:,.0f} calls/s ({rate.count:,} in {seconds:.1f} s)",
                        command="",
                    ),
                    data={"class": rate.class_name, "method": rate.method, "count": rate.count},
                )
            )
        return lenses


def _by_class_and_method(counts: ProbeCounts) -> bool:
    """Whether the groups are (class name, method name) texts of a HotSpot method probe."""
    parts = counts.probe.split(":")
    return (
        len(parts) >= 2
        and parts[-2] == PROVIDER
        and parts[-1] in ("method__entry", "method__return")
        and [(a.number, a.text) for a in counts.group_by] == [(2, True), (4, True)]
    )
