"""The agent's request loop: reads requests, runs them one at a time, answers.

Stdout belongs to the protocol alone. At start the agent keeps a private
duplicate of fd 1 for its messages and points fd 1 at stderr, so whatever
bcc, clang or a library prints can never corrupt the message stream.

A reader thread parses stdin so that ``stop`` reaches a running profile and a
closed pipe ends it; the main thread does the BPF work. Probes are released
on every exit path: normal return, exception, SIGTERM, EOF on stdin. The
perf events themselves are file descriptors, so even SIGKILL frees them.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import BinaryIO

import msgspec

from lineprobe_agent import protocol
from lineprobe_agent.capabilities import capability_report, has_tracing_privileges
from lineprobe_agent.cpu_profiler import CpuProfiler, name_kernel_address, sampling_loop
from lineprobe_agent.kernel_source import KernelHeadersMissing, export_for_bcc, find_kernel_headers
from lineprobe_agent.target import NoSuchProcess, NotPermitted, Target, caller_uid

MAX_DURATION_S = 3600.0
MAX_FREQUENCY = 10000


Work = protocol.CapabilitiesRequest | protocol.ProfileRequest
"""Requests that run on the main thread, one at a time (stop and shutdown do not queue)."""


class RequestFailed(Exception):
    def __init__(self, code: protocol.ErrorCode, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code: protocol.ErrorCode = code
        self.message = message
        self.hint = hint


@dataclass
class Channel:
    """The protocol side of stdout, safe to write from any thread."""

    stream: BinaryIO
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: protocol.AgentMessage) -> None:
        data = protocol.encode(message)
        with self.lock:
            try:
                self.stream.write(data)
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # the server is gone; the reader thread will end the loop


@dataclass
class Agent:
    channel: Channel
    started_at: float
    requests: queue.Queue[Work | None] = field(default_factory=queue.Queue)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    current_id: int | None = None
    profiler: CpuProfiler | None = None
    first_request_at: float | None = None

    # -- input -------------------------------------------------------------------

    def read_requests(self, stdin: BinaryIO) -> None:
        """Reader thread: parse each line; garbage gets an error, not a crash."""
        for line in stdin:
            if not line.strip():
                continue
            try:
                request = protocol.decode_request(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.channel.send(protocol.Failure(None, "bad-request", f"malformed request: {exc}"))
                continue
            if isinstance(request, protocol.StopRequest):
                if request.id == self.current_id:
                    self.stop_requested.set()
                continue
            if isinstance(request, protocol.ShutdownRequest):
                break
            self.requests.put(request)
        # EOF, shutdown or a closed pipe: end whatever runs, then the loop.
        self.stop_requested.set()
        self.requests.put(None)

    # -- the loop ------------------------------------------------------------------

    def serve(self) -> None:
        try:
            while True:
                request = self.requests.get()
                if request is None:
                    return
                if self.first_request_at is None:
                    self.first_request_at = time.monotonic()
                self.stop_requested.clear()
                self.current_id = request.id
                try:
                    self.handle(request)
                except RequestFailed as exc:
                    self.channel.send(protocol.Failure(request.id, exc.code, exc.message, exc.hint))
                except Exception as exc:  # the agent must answer, whatever broke
                    self.channel.send(
                        protocol.Failure(request.id, "internal", f"{type(exc).__name__}: {exc}")
                    )
                finally:
                    self.current_id = None
        finally:
            self.close()

    def handle(self, request: Work) -> None:
        if isinstance(request, protocol.CapabilitiesRequest):
            self.channel.send(protocol.CapabilitiesResult(request.id, capability_report()))
        elif isinstance(request, protocol.ProfileRequest):
            self.channel.send(protocol.ProfileDone(request.id, self.profile(request)))
        else:
            raise RequestFailed("bad-request", f"unexpected request {type(request).__name__}")

    def close(self) -> None:
        profiler = self.profiler
        self.profiler = None
        if profiler is not None:
            profiler.close()

    # -- CPU profiling ------------------------------------------------------------

    def _ensure_profiler(self, request_id: int) -> float:
        """Compile the sampling program once per agent; returns seconds spent."""
        if self.profiler is not None:
            return 0.0
        if not has_tracing_privileges():
            raise RequestFailed(
                "no-privileges",
                f"the agent runs as uid {os.geteuid()} without CAP_BPF/CAP_PERFMON",
                "run as root, or set a launcher that gains privileges (default `sudo -n`)",
            )
        try:
            export_for_bcc(find_kernel_headers())
        except KernelHeadersMissing as exc:
            raise RequestFailed("kernel-headers-missing", str(exc), "install linux-headers-amd64") from None
        self.channel.send(protocol.Progress(request_id, "compiling", 0.0, 0.0, 0))
        started = time.monotonic()
        try:
            self.profiler = CpuProfiler()
        except ImportError as exc:
            raise RequestFailed(
                "bcc-unavailable", f"cannot import bcc: {exc}", "install python3-bpfcc and run `make setup`"
            ) from None
        except Exception as exc:
            raise RequestFailed("compile-failed", f"BPF program did not compile or load: {exc}") from None
        return time.monotonic() - started

    def profile(self, request: protocol.ProfileRequest) -> protocol.ProfileResult:
        if not 1 <= request.frequency <= MAX_FREQUENCY:
            raise RequestFailed("bad-request", f"frequency must be 1..{MAX_FREQUENCY} Hz")
        if not 0 < request.duration_s <= MAX_DURATION_S:
            raise RequestFailed("bad-request", f"duration must be in (0, {MAX_DURATION_S:.0f}] s")
        agent_start_s = (self.first_request_at or time.monotonic()) - self.started_at
        if not has_tracing_privileges():
            raise RequestFailed(
                "no-privileges",
                f"the agent runs as uid {os.geteuid()} without CAP_BPF/CAP_PERFMON",
                "run as root, or set a launcher that gains privileges (default `sudo -n`)",
            )
        try:
            target = Target.open(request.pid, caller_uid())
        except NoSuchProcess as exc:
            raise RequestFailed("no-such-process", str(exc), "check the PID: `ps -e`") from None
        except NotPermitted as exc:
            raise RequestFailed("permission-denied", str(exc)) from None
        try:
            compile_s = self._ensure_profiler(request.id)
            profiler = self.profiler
            assert profiler is not None
            target.snapshot_maps()
            attach_started = time.monotonic()
            try:
                profiler.start(request.pid, request.frequency, request.exemplars)
            except Exception as exc:
                raise RequestFailed("attach-failed", f"cannot attach the perf events: {exc}") from None
            attach_s = time.monotonic() - attach_started
            started_at = time.time()
            exited = False

            def wait(timeout: float) -> bool:
                nonlocal exited
                if self.stop_requested.wait(0):
                    return True
                # Drain exemplars while waiting; the pidfd then says whether the target lives.
                profiler.poll(timeout)
                exited = target.wait_exit(0)
                return exited or self.stop_requested.is_set()

            def tick(elapsed: float) -> None:
                target.snapshot_maps()
                self.channel.send(
                    protocol.Progress(
                        request.id, "sampling", elapsed, request.duration_s, profiler.samples_so_far()
                    )
                )

            self.channel.send(protocol.Progress(request.id, "sampling", 0.0, request.duration_s, 0))
            try:
                sampling_s, ended_early = sampling_loop(profiler, request.duration_s, wait, tick)
            finally:
                profiler.stop()
            collect_started = time.monotonic()
            if not exited:
                target.snapshot_maps()
            self.channel.send(protocol.Progress(request.id, "collecting", sampling_s, request.duration_s, 0))
            collected = profiler.collect(name_kernel_address)
            return protocol.ProfileResult(
                pid=target.pid,
                exe=target.exe,
                comm=target.comm,
                frequency=request.frequency,
                requested_s=request.duration_s,
                duration_s=round(sampling_s, 4),
                started_at=started_at,
                stopped_early=ended_early and not exited,
                target_exited=exited,
                exited_after_s=round(sampling_s, 4) if exited else None,
                counters=collected.counters,
                stacks=collected.stacks,
                maps=target.mappings(),
                exemplars=collected.exemplars,
                timings=protocol.PhaseTimings(
                    agent_start_s=round(agent_start_s, 4),
                    compile_s=round(compile_s, 4),
                    attach_s=round(attach_s, 4),
                    sampling_s=round(sampling_s, 4),
                    collect_s=round(time.monotonic() - collect_started, 4),
                ),
            )
        finally:
            target.close()


def _private_stdout() -> BinaryIO:
    """Keep fd 1 for the protocol only; everything else printed goes to stderr."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb", buffering=0)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(started_at: float) -> int:
    channel = Channel(_private_stdout())
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    signal.signal(signal.SIGINT, _raise_on_sigterm)
    agent = Agent(channel, started_at)
    channel.send(protocol.Hello(protocol.PROTOCOL_VERSION, os.getpid(), os.geteuid()))
    reader = threading.Thread(target=agent.read_requests, args=(sys.stdin.buffer,), daemon=True)
    reader.start()
    try:
        agent.serve()
    except SystemExit:
        agent.close()
        raise
    return 0
