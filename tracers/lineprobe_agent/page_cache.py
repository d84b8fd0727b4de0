"""The page cache by process and file (``bpf/page_cache.bpf.c``): pages added, removed, dirtied
and written back, from the filemap and writeback tracepoints, counted in the kernel.

The kernel gives inode numbers; this loader names them from the open descriptors and mapped
files of the processes seen (``/proc/PID/fd``, ``/proc/PID/maps``), looked at about once a
second and again when the window ends. A file no process has open by then keeps its number.
"""

from __future__ import annotations

import os

from lineprobe_agent.bpf_source import constant
from lineprobe_agent.bpf_tables import c_text, stat
from lineprobe_agent.protocol import LiveReport, Mapping, PageCacheCounters, PageCacheFile
from lineprobe_agent.system_live import LiveTotals
from lineprobe_agent.tracepoint_program import TracepointProgram

EVENTS = constant("PC_STAT_EVENTS")
LOST = constant("PC_STAT_LOST")
PAGE_CACHE_TRACEPOINTS = (
    ("filemap:mm_filemap_add_to_page_cache", "on_add"),
    ("filemap:mm_filemap_delete_from_page_cache", "on_remove"),
    ("writeback:writeback_dirty_folio", "on_dirty"),
    ("writeback:writeback_single_inode", "on_written"),
)


def kernel_dev(st_dev: int) -> int:
    """A stat() st_dev in the kernel's own dev_t encoding (major << 20 | minor), as tracepoints give it."""
    return os.major(st_dev) << 20 | os.minor(st_dev)


class InodeNames:
    """Paths by (kernel dev_t, inode), learnt from processes' descriptors and mappings."""

    def __init__(self) -> None:
        self.paths: dict[tuple[int, int], str] = {}
        self.by_inode: dict[int, set[str]] = {}

    def learn(self, tgid: int) -> None:
        folder = f"/proc/{tgid}"
        try:
            descriptors = os.listdir(f"{folder}/fd")
        except OSError:
            descriptors = []
        for fd in descriptors:
            try:
                path = os.readlink(f"{folder}/fd/{fd}")
                if path.startswith("/"):
                    found = os.stat(f"{folder}/fd/{fd}")
                    self._add(kernel_dev(found.st_dev), found.st_ino, path)
            except OSError:
                continue
        try:
            with open(f"{folder}/maps") as maps:
                for line in maps:
                    parts = line.split(maxsplit=5)
                    if len(parts) == 6 and parts[4] != "0" and parts[5].startswith("/"):
                        major, minor = (int(part, 16) for part in parts[3].split(":"))
                        self._add(major << 20 | minor, int(parts[4]), parts[5].rstrip("\n"))
        except (OSError, ValueError):
            pass

    def _add(self, dev: int, ino: int, path: str) -> None:
        self.paths.setdefault((dev, ino), path)
        self.by_inode.setdefault(ino, set()).add(path)

    def name(self, dev: int, ino: int) -> str:
        """The path, or "" when unknown. Writeback's records carry no device: the inode alone
        names a file when one path has it."""
        if dev:
            return self.paths.get((dev, ino), "")
        paths = self.by_inode.get(ino, set())
        return next(iter(paths)) if len(paths) == 1 else ""


def every_process() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


class PageCacheTracer(TracepointProgram):
    """One window of page-cache activity: compiled for it, attached, collected, closed."""

    TABLES = ("pages", "touched")
    TRACEPOINTS = PAGE_CACHE_TRACEPOINTS

    def __init__(self, system_wide: bool) -> None:
        super().__init__("page_cache", system_wide, {})
        self._names = InodeNames()
        self._learnt: set[int] = set()
        self._live = LiveTotals("pages")

    def start(self, pid: int | None) -> None:
        if pid is not None:
            self._names.learn(pid)
        super().start(pid)

    def tick(self) -> None:
        """Learn the files of processes seen for the first time, while they still have them open."""
        for key in self._bpf["pages"]:
            tgid = int(key.tgid)
            if tgid not in self._learnt:
                self._learnt.add(tgid)
                self._names.learn(tgid)

    def events_so_far(self) -> int:
        return stat(self._bpf, EVENTS)

    def live(self, mappings: list[Mapping]) -> LiveReport | None:
        """Pages so far: added, removed, dirtied (folios), written."""
        if not self._live.due():
            return None
        columns = {"added": 0, "removed": 0, "dirtied": 0, "written": 0}
        for value in self._bpf["pages"].values():
            for column in columns:
                columns[column] += int(getattr(value, column))
        return self._live.report(columns.items())

    def collect(self) -> tuple[list[PageCacheFile], PageCacheCounters]:
        rows = list(self._bpf["pages"].items())
        # Removals and write-backs are done by kernel threads, which hold no files: every
        # process's files may be the ones they touched.
        for tgid in every_process() if self.system_wide else {int(key.tgid) for key, _ in rows}:
            self._names.learn(tgid)
        files = [
            PageCacheFile(
                tgid=int(key.tgid),
                comm=c_text(value.comm),
                dev=int(key.dev),
                ino=int(key.ino),
                path=self._names.name(int(key.dev), int(key.ino)),
                added=int(value.added),
                removed=int(value.removed),
                dirtied=int(value.dirtied),
                written=int(value.written),
            )
            for key, value in rows
        ]
        files.sort(key=lambda f: -(f.added + f.removed + f.dirtied + f.written))
        counters = PageCacheCounters(events=stat(self._bpf, EVENTS), lost=stat(self._bpf, LOST))
        self._reset()
        return files, counters

    def _forget(self) -> None:
        self._live.reset()
        self._names = InodeNames()
        self._learnt = set()
