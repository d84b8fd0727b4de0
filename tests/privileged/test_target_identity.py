"""The traced process stays the one that was asked for: PID reuse, and launched commands that
outlive whoever launched them."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.progress import Progress
from lineprobe.capture.spawned import SpawnedAgent
from lineprobe_agent import protocol
from lineprobe_agent.access import AccessCheck, Caller
from lineprobe_agent.cpu_profiler import CpuProfiler
from lineprobe_agent.session import Agent, Channel, RequestFailed
from lsprotocol import types

from tests.conftest import LINEPROBE
from tests.privileged.pid_reuse import take_pid

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    """An agent in this (root) process, its CPU sampler compiled once for every attempt."""
    caller = Caller(os.getpid(), 0, 0, ())
    agent = Agent(Channel(io.BytesIO()), 0.0, AccessCheck(caller))
    agent.prepare(protocol.PrepareRequest(0, ["cpu"]))
    yield agent
    agent.close()


def test_a_pid_reused_while_tracing_is_set_up_yields_nothing_of_the_new_process(
    agent: Agent, workloads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiling takes seconds: the target may exit and its PID go to another process before the
    probes attach. 1,000 times, the target is replaced by a busy process with its PID between the
    request's arrival and the attach; not one sample of the newcomer may come back."""
    start = CpuProfiler.start
    replaced: list[subprocess.Popen[bytes]] = []
    current: dict[str, subprocess.Popen[bytes]] = {}

    def replace_then_start(self: CpuProfiler, tgid: int, *args: Any, **kwargs: Any) -> None:
        original = current.pop("target")
        original.kill()
        original.wait()  # reaped: its PID is free
        newcomer = take_pid(tgid, [str(workloads / "spin"), "5"])
        if newcomer is not None:
            replaced.append(newcomer)
        start(self, tgid, *args, **kwargs)

    monkeypatch.setattr(CpuProfiler, "start", replace_then_start)
    refused = recorded = 0
    attempts = 0
    try:
        while len(replaced) < 1000 and attempts < 1500:
            attempts += 1
            current["target"] = subprocess.Popen(["sleep", "30"])
            pid = current["target"].pid
            try:
                answer = agent.trace(protocol.ProfileRequest(attempts, pid, 999, 0.05))
                assert isinstance(answer, protocol.ProfileDone)
            except RequestFailed as exc:
                assert exc.code == "no-such-process", exc.message
                refused += 1
            else:
                recorded += answer.result.counters.samples
            for process in replaced[-1:]:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    finally:
        for process in [*current.values(), *replaced]:
            if process.poll() is None:
                process.kill()
                process.wait()
    print(
        f"\nPID reuse during set-up: {len(replaced)} reuses in {attempts} attempts, {refused} refused, "
        f"{recorded} samples of a newcomer recorded"
    )
    assert len(replaced) >= 1000
    assert recorded == 0
    assert refused == attempts  # the original always exited before the trace began


def test_a_pid_reused_during_compile_end_to_end(workloads: Path) -> None:
    """The same through a fresh agent, whose first request compiles: the PID changes hands while
    the agent compiles (its `compiling` progress)."""
    for _ in range(2):
        original = subprocess.Popen(["sleep", "30"])
        newcomer: subprocess.Popen[bytes] | None = None

        def on_progress(message: Progress, original: subprocess.Popen[bytes] = original) -> None:
            nonlocal newcomer
            if message.phase == "compiling" and newcomer is None:
                original.kill()
                original.wait()
                newcomer = take_pid(original.pid, [str(workloads / "spin"), "5"])

        try:
            with SpawnedAgent() as agent, pytest.raises(AgentError) as caught:
                agent.trace("profile", original.pid, 0.5, {"frequency": 999}, on_progress)
            assert caught.value.code == "no-such-process"
            assert "nothing was recorded" in caught.value.message
        finally:
            for process in (original, newcomer):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()


def launched_by(parent: int, marker: str) -> list[int]:
    """PIDs of the command launched as ``sleep MARKER``: at its gate (``... lineprobe-launch sleep
    MARKER``) or running. Not the launcher's own forks, which carry its command line until they
    exec something else."""
    command = b"sleep\0" + marker.encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == parent:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(command) or b"lineprobe-launch\0" + command in cmdline:
            found.append(int(entry.name))
    return found


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.01)
    return alive


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_a_launched_command_dies_with_the_cli_that_launched_it() -> None:
    """SIGKILL leaves no cleanup code to run: the kernel must end the command (parent-death
    signal). 100 cycles, the CLI killed at a random moment once its command exists."""
    rng = random.Random(7)
    survivors: list[int] = []
    agents: list[int] = []
    cycles = 0
    slowest = 0.0
    while cycles < 100:
        marker = f"{1000 + cycles}.{rng.randrange(10**6)}"
        cli = subprocess.Popen(
            [*LINEPROBE, "profile", "-d", "60", "--", "sleep", marker],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        command: list[int] = []
        while not command and time.monotonic() < deadline and cli.poll() is None:
            command = launched_by(cli.pid, marker)
            time.sleep(0.005)
        assert command, "the CLI never launched its command"
        time.sleep(rng.uniform(0, 1.2))  # at the gate, compiling, or sampling
        agents.extend(_agents_of(cli.pid))
        cli.send_signal(signal.SIGKILL)
        cli.wait()
        killed_at = time.monotonic()
        left = wait_gone(command, 1.0)
        slowest = max(slowest, time.monotonic() - killed_at)
        for pid in left:
            survivors.append(pid)
            os.kill(pid, signal.SIGKILL)
        cycles += 1
    print(
        f"\nCLI killed {cycles} times: {len(survivors)} launched commands survived it by 1 s; "
        f"slowest end {slowest * 1000:.0f} ms"
    )
    assert survivors == []
    # Their agents end too (end of input, or a reset socket), within the agent's grace period.
    orphaned = wait_gone(agents, 10.0)
    for pid in orphaned:
        os.kill(pid, signal.SIGKILL)
    assert orphaned == [], "agents outlived the CLI that started them"


def _agents_of(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children")
    found = []
    for child in children.read_text().split() if children.exists() else []:
        try:
            if b"lineprobe_agent" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except OSError:
            continue
    return found


async def test_a_launched_command_dies_with_the_language_server() -> None:
    """The same for `lineprobe serve`, killed while it profiles a command it launched."""
    for cycle in range(20):
        marker = f"{2000 + cycle}.5"
        client = pytest_lsp.make_test_lsp_client()
        await client.start_io(sys.executable, "-m", "lineprobe.cli", "serve")
        server_pid = client._server.pid  # type: ignore[union-attr]  (pygls keeps the process private)
        await client.initialize_session(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(), initialization_options={"prepareAgent": False}
            )
        )
        pending = asyncio.ensure_future(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="lineprobe.profile",
                    arguments=[{"command": ["sleep", marker], "durationMs": 60000}],
                )
            )
        )
        deadline = time.monotonic() + 30
        command: list[int] = []
        while not command and time.monotonic() < deadline:
            command = launched_by(server_pid, marker)
            await asyncio.sleep(0.01)
        assert command, "the server never launched its command"
        os.kill(server_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        left = wait_gone(command, 1.0)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        pending.cancel()
        with contextlib.suppress(BaseException):
            await client.stop()
        assert left == [], f"cycle {cycle}: the command outlived the server"
        assert time.monotonic() - killed_at < 1.0
