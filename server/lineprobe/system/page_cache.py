"""The page cache by process and file, as far as the filemap and writeback tracepoints show it:
pages added (read in from the file, or about to be written), removed (evicted or truncated),
folios dirtied and pages written back. What they cannot show is in ``PAGE_CACHE_LIMITS``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from lineprobe.model.capture import CaptureHeader, Timings

PAGE_CACHE_LIMITS = (
    "cache hits pass no tracepoint on this kernel (cachestat counts them with kprobes on"
    " mark_page_accessed, refused here): there is no hit ratio, only what entered and left the cache",
    "files opened with O_DIRECT (databases' data files, often) bypass the page cache and are not seen",
    "dirtied counts folios (the tracepoint gives no size); added, removed and written count pages",
    "written counts the kernel's flusher threads' write-back only: pages an fsync or fdatasync"
    " writes pass no per-file tracepoint (lineprobe files times those calls)",
    "files are named from the processes' open descriptors and mappings, about once a second: a"
    " file no process holds open when lineprobe looks keeps its inode number",
)


@dataclass(frozen=True)
class PageCacheFile:
    pid: int
    comm: str
    device: str
    """The file system's device (``8:1``), empty for writeback's rows, which carry none."""
    inode: int
    path: str
    """Empty when no process had the file open or mapped when the agent looked."""
    added: int
    removed: int
    dirtied: int
    written: int

    @property
    def file(self) -> str:
        return self.path or f"inode {self.inode}" + (f" on {self.device}" if self.device else "")


@dataclass
class PageCacheActivity:
    header: CaptureHeader
    files: tuple[PageCacheFile, ...]
    """Most pages first."""
    events: int
    lost: int
    warnings: list[str] = field(default_factory=list)
    limits: tuple[str, ...] = PAGE_CACHE_LIMITS
    timings: Timings = field(default_factory=Timings)

    def total(self, column: str) -> int:
        return sum(int(getattr(f, column)) for f in self.files)


def resolve_page_cache(raw: PageCacheActivity, launched: bool = False) -> PageCacheActivity:
    started = time.monotonic()
    warnings = [f"{raw.lost:,} hits the map had no room for (not in the totals)"] if raw.lost else []
    warnings.extend(raw.header.warnings("trace", launched))
    return replace(raw, warnings=warnings, timings=raw.header.timings.resolved_since(started))
