"""Keeping what an agent answered, and playing it back in its place.

A recording is a file of JSON lines. The first says what it is::

    {"lineprobe-recording": 1, "protocol": 3, "command": ["profile", "--pid", "42"]}

(``command``, when the CLI saved it with ``--save``: the arguments that made it, which
``lineprobe open`` runs again against the recording)

then every line exchanged, in order, each wrapped with its direction::

    {"from": "server", "message": {...the request...}}
    {"from": "agent", "message": {...progress, an answer, an error...}}

After each capture's exchange, a line may keep the frames its addresses resolved to
(``symbolization/frame_archive.py``), so that the recording alone resolves to the same
lines on another machine, or after the workload was rebuilt or deleted::

    {"frames": {"build-id:9f0c...": {"4660": [["is_divisible", "/src/primes.c", 17, ...]]}}}

Beside it, a folder ``<recording>.binaries/`` may hold copies of the traced
binaries (as ``perf archive`` keeps them), which name what the frames do not (a report
that asks for addresses the capture's own did not).

``RecordedAgent`` answers each request with the next recorded exchange of the
same type: its progress messages, then its answer, through the same decoding
as a live agent (``wire``). It needs no privileges, which is what lets the
LSP views and the attribution code be tested, and shown, as any user.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.progress import CapabilityReport, Progress, ProgressCallback
from lineprobe.capture.wire.convert import WIRE_KINDS, Captured, Tracepoints, WireSession
from lineprobe.model.capture import CaptureHeader
from lineprobe.model.mapping import MappedFile
from lineprobe.profiling.model import RawProfile
from lineprobe.symbolization.frame_archive import FrameArchive, FrameArchiveUnreadable
from lineprobe.tracepoints.records import TracepointLayout
from lineprobe.usdt.counts import ProbeCounts, SiteHits
from lineprobe.usdt.hits import ProbeTrace
from lineprobe.usdt.sites import LiveProbe

RECORDING_VERSION = 1
SYSTEM_PREFIXES = ("/usr/", "/lib", "/etc/", "/opt/", "[")
"""Files a recording does not archive: the system's, found again on a machine like the one traced."""


def archive_folder(recording: Path) -> Path:
    return recording.with_name(recording.name + ".binaries")


class Recorder:
    """Writes every line a spawned agent exchanges to a recording (thread-safe)."""

    def __init__(self, path: Path, command: list[str] | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115  (closed by close())
        header: dict[str, Any] = {
            "lineprobe-recording": RECORDING_VERSION,
            "protocol": WireSession.protocol_version(),
        }
        if command is not None:
            header["command"] = command
        self._write(header)

    def _write(self, value: dict[str, Any]) -> None:
        with self._lock:
            self._file.write(json.dumps(value, separators=(",", ":")).encode() + b"\n")
            self._file.flush()

    def server_said(self, line: bytes) -> None:
        self._write({"from": "server", "message": json.loads(line)})

    def agent_said(self, line: bytes) -> None:
        self._write({"from": "agent", "message": json.loads(line)})

    def archive(self, header: CaptureHeader, also: Iterable[MappedFile] = ()) -> None:
        """Keep a copy of the traced binaries that are not the system's (the target's own, and
        those of ``also``: the children a profile followed). Only ELF files: a process maps other
        files too (node maps its jitdump for perf, megabytes that name no code of their own)."""
        folder = archive_folder(self.path)
        for mapping in (*header.mappings, *also):
            if mapping.path.startswith(SYSTEM_PREFIXES) or not _is_elf(mapping.path):
                continue
            folder.mkdir(exist_ok=True)
            copy = folder / os.path.basename(mapping.path)
            if not copy.exists():
                shutil.copy2(mapping.path, copy)

    def keep_frames(self, archive: FrameArchive) -> None:
        """Keep what a capture's addresses resolved to, for opening it where its files are not."""
        if len(archive):
            self._write({"frames": archive.to_json()})

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _is_elf(path: str) -> bool:
    """A regular file that starts as an ELF file does."""
    try:
        if not os.path.isfile(path):
            return False
        with open(path, "rb") as file:
            return file.read(4) == b"\x7fELF"
    except OSError:
        return False


@dataclass(frozen=True)
class SavedCommand:
    """What ``lineprobe open`` needs of a recording: the CLI arguments that made it, and the PID
    its first trace was of (a launched command's, which a reopening names instead)."""

    arguments: list[str]
    pid: int | None


def saved_command(path: Path) -> SavedCommand:
    """The command a recording was saved by (``--save``); raises RecordingUnreadable."""
    try:
        with open(path, "rb") as recording:
            first = json.loads(recording.readline() or b"{}")
            pid = None
            for line in recording:
                entry = json.loads(line)
                message = entry.get("message") if isinstance(entry, dict) else None
                if entry.get("from") == "server" and isinstance(message, dict) and "pid" in message:
                    pid = message["pid"] if isinstance(message["pid"], int) else None
                    break
    except OSError as exc:
        raise RecordingUnreadable(path, exc.strerror or str(exc)) from None
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise RecordingUnreadable(path, f"not JSON lines: {exc}") from None
    if not isinstance(first, dict) or first.get("lineprobe-recording") != RECORDING_VERSION:
        raise RecordingUnreadable(path, "no lineprobe-recording header line")
    command = first.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(arg, str) for arg in command):
        raise RecordingUnreadable(path, "it names no command: it was not saved with `lineprobe ... --save`")
    return SavedCommand(command, pid)


@dataclass
class _Exchange:
    request: dict[str, Any]
    answers: list[bytes] = field(default_factory=list)


class RecordingUnreadable(AgentError):
    def __init__(self, path: Path, why: str) -> None:
        super().__init__("bad-request", f"{path}: not a lineprobe recording ({why})")


@dataclass
class RecordedAgent:
    """Stands in for an agent by replaying a recording (see the module's description)."""

    path: Path
    agent_pid: int = 0
    started_in_s: float = 0.0
    frame_archive: FrameArchive | None = field(default=None, init=False)
    """The frames the recording kept, of every capture in it (None: it kept none)."""
    _exchanges: list[_Exchange] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        try:
            lines = self.path.read_bytes().splitlines()
        except OSError as exc:
            raise RecordingUnreadable(self.path, exc.strerror or str(exc)) from None
        try:
            first = json.loads(lines[0]) if lines else {}
            entries = [json.loads(line) for line in lines[1:] if line.strip()]
        except (ValueError, UnicodeDecodeError) as exc:
            raise RecordingUnreadable(self.path, f"not JSON lines: {exc}") from None
        if not isinstance(first, dict) or first.get("lineprobe-recording") != RECORDING_VERSION:
            raise RecordingUnreadable(self.path, "no lineprobe-recording header line")
        wire = WireSession()
        by_id: dict[int, _Exchange] = {}
        for entry in entries:
            if isinstance(entry, dict) and "frames" in entry:
                self._keep_frames(entry["frames"])
                continue
            message = entry.get("message") if isinstance(entry, dict) else None
            if not isinstance(message, dict):
                raise RecordingUnreadable(self.path, "an entry without a message")
            line = json.dumps(message).encode()
            if entry.get("from") == "server":
                if isinstance(message.get("id"), int) and message.get("type") not in ("stop", "shutdown"):
                    exchange = _Exchange(message)
                    by_id[message["id"]] = exchange
                    self._exchanges.append(exchange)
            elif message.get("type") == "hello":
                hello = wire.decode(line).body  # refuses a recording of another protocol version
                self.agent_pid = getattr(hello, "agent_pid", 0)
            elif isinstance(message.get("id"), int) and message["id"] in by_id:
                by_id[message["id"]].answers.append(line)

    def _keep_frames(self, value: object) -> None:
        try:
            frames = FrameArchive.from_json(value)
        except FrameArchiveUnreadable as exc:
            raise RecordingUnreadable(self.path, str(exc)) from None
        if self.frame_archive is None:
            self.frame_archive = frames
        else:
            self.frame_archive.merge(frames)

    # -- the AgentClient protocol -----------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return not self._closed

    def _next(self, request_type: str) -> _Exchange:
        with self._lock:
            for i, exchange in enumerate(self._exchanges):
                if exchange.request.get("type") == request_type:
                    return self._exchanges.pop(i)
        raise AgentError(
            "bad-request", f"the recording {self.path} holds no (more) {request_type!r} requests to replay"
        )

    def _replay(self, request_type: str, progress: ProgressCallback | None) -> Any:
        wire = WireSession()
        for line in self._next(request_type).answers:
            message = wire.decode(line)
            if isinstance(message.body, Progress):
                if progress is not None:
                    live = message.body.live
                    if isinstance(live, LiveProbe):  # its sites' files as replayed, as the answer's
                        live = replace(live, site_hits=self._sites_from_archive(live.site_hits))
                    progress(replace(message.body, live=live))
                continue
            if isinstance(message.body, AgentError):
                raise message.body
            return message.body
        raise AgentError("internal", f"the recording {self.path} ends before the answer to {request_type!r}")

    def capabilities(self) -> CapabilityReport:
        answer = self._replay("capabilities", None)
        assert isinstance(answer, CapabilityReport)
        return answer

    def tracepoints(self, pattern: str) -> tuple[TracepointLayout, ...]:
        answer = self._replay("tracepoints", None)
        assert isinstance(answer, Tracepoints)
        return answer.layouts

    def prepare(self, programs: list[str]) -> float:
        """Nothing to compile: a recording has its answers already."""
        return 0.0

    def trace(
        self,
        kind: str,
        pid: int,
        duration_s: float,
        parameters: dict[str, Any],
        progress: ProgressCallback | None = None,
        start_at_exec: int = 0,
    ) -> Any:
        answer = self._replay(WIRE_KINDS[kind].request_type, progress)
        if not isinstance(answer, Captured):
            raise AgentError("internal", f"the recording answers {kind!r} with {type(answer).__name__}")
        raw = answer.raw
        raw = replace(raw, header=self._from_archive(raw.header))
        if isinstance(raw, RawProfile) and raw.processes:
            processes = {
                tgid: replace(p, exe=self._archived(p.exe), mappings=self._mappings_from_archive(p.mappings))
                for tgid, p in raw.processes.items()
            }
            raw = replace(raw, processes=processes)
        if isinstance(raw, ProbeCounts | ProbeTrace):
            raw = replace(raw, site_hits=self._sites_from_archive(raw.site_hits))
        return raw

    def _archived(self, path: str) -> str:
        """The archived copy of a traced binary where there is one, else the path itself."""
        copy = archive_folder(self.path) / os.path.basename(path)
        return str(copy) if not path.startswith(SYSTEM_PREFIXES) and copy.is_file() else path

    def _mappings_from_archive(self, mappings: tuple[MappedFile, ...]) -> tuple[MappedFile, ...]:
        return tuple(
            MappedFile(m.start, m.end, m.offset, self._archived(m.path), m.build_id) for m in mappings
        )

    def _from_archive(self, header: CaptureHeader) -> CaptureHeader:
        """The header as replayed: its binaries the archived copies where there are some."""
        mappings = self._mappings_from_archive(header.mappings)
        return replace(header, exe=self._archived(header.exe), mappings=mappings, replayed=True)

    def _sites_from_archive(self, sites: tuple[SiteHits, ...]) -> tuple[SiteHits, ...]:
        return tuple(replace(site, binary=self._archived(site.binary)) for site in sites)

    def stop_all(self) -> None:
        """A replay has no window to cut short."""

    def close(self) -> None:
        self._closed = True
