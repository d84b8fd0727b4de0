"""The lineprobe service (``lineprobe_agent.service``): one root-owned process on a unix socket
that starts an agent per connection; each agent asks the kernel who connected (SO_PEERCRED) and
traces only what that caller could debug. Here a throwaway user in the service's group uses it
as a user would: the CLI finds the socket (LINEPROBE_AGENT_SOCKET) and needs no sudo.
"""

from __future__ import annotations

import contextlib
import grp
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.privileged.conftest import ThrowawayUser
from tests.privileged.test_security import _spawn_as, plant

pytestmark = pytest.mark.privileged

INSTALLED_PYTHON = Path("/usr/local/lib/lineprobe-agent/venv/bin/python")


@pytest.fixture(scope="module")
def service(throwaway_user: ThrowawayUser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The installed service on a socket of its own, the user in its group; stopped after."""
    if not INSTALLED_PYTHON.exists():
        pytest.fail(f"{INSTALLED_PYTHON} is missing: run `make install-agent` as root (make test does)")
    group = f"lp-svc-{secrets.token_hex(3)}"
    subprocess.run(["groupadd", group], check=True)
    subprocess.run(["usermod", "-aG", group, throwaway_user.name], check=True)
    # Not under pytest's own folder, which is root's alone: the user must reach the socket.
    folder = Path(tempfile.mkdtemp(prefix="lp-service-", dir="/tmp"))
    folder.chmod(0o755)
    socket_path = folder / "agent.sock"
    log = (folder / "service.log").open("wb")
    process = subprocess.Popen(
        [
            str(INSTALLED_PYTHON),
            "-I",
            "-m",
            "lineprobe_agent.service",
            "--socket",
            str(socket_path),
            "--group",
            group,
        ],
        stdout=log,
        stderr=log,
        cwd="/",
    )
    try:
        for _ in range(200):
            if socket_path.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        assert socket_path.exists(), (folder / "service.log").read_text()
        assert (
            socket_path.stat().st_mode & 0o777 == 0o660
            and socket_path.stat().st_gid == grp.getgrnam(group).gr_gid
        )
        yield socket_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        print((folder / "service.log").read_text()[-2000:])
        subprocess.run(["groupdel", group], capture_output=True)
    assert not socket_path.exists(), "the service leaves its socket behind"
    shutil.rmtree(folder, ignore_errors=True)


def agents_started(socket_path: Path, uid: int) -> int:
    """How many agents the service has started for ``uid`` (its log says each)."""
    return (socket_path.parent / "service.log").read_text().count(f" for uid {uid}\n")


def through_service(user: ThrowawayUser, socket_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lineprobe ARGS`` as ``user``, who has no privileges and no launcher set (a sudo rule for
    the agent, but no LINEPROBE_LAUNCHER): the CLI finds the service's socket and uses it."""
    before = agents_started(socket_path, user.uid)
    env = user.env(LINEPROBE_AGENT_SOCKET=str(socket_path))
    done = user.run(user.lineprobe(*args), env)
    assert agents_started(socket_path, user.uid) > before, f"the service was not used: {done.stderr}"
    return done


def test_a_user_traces_their_own_process_through_the_service(
    throwaway_user: ThrowawayUser, service: Path
) -> None:
    runner, busy = _spawn_as(throwaway_user, ["/usr/bin/python3", "-c", "while True: pass"])
    try:
        done = through_service(throwaway_user, service, "profile", "--pid", str(busy), "-d", "1", "--json")
    finally:
        runner.kill()
        runner.wait()
    assert done.returncode == 0, done.stderr
    assert '"samples"' in done.stdout and "sudo" not in done.stderr


def test_root_and_other_users_and_non_dumpable_processes_are_refused_with_a_reason(
    throwaway_user: ThrowawayUser, service: Path
) -> None:
    refused = through_service(throwaway_user, service, "profile", "--pid", "1", "-d", "0.5")
    assert refused.returncode == 1 and "belongs to uid 0" in refused.stderr, refused.stderr
    other = subprocess.Popen(["runuser", "-u", "nobody", "--", "sleep", "60"])
    guarded = "import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); time.sleep(60)"
    runner, protected = _spawn_as(throwaway_user, ["/usr/bin/python3", "-c", guarded])
    try:
        time.sleep(0.3)
        sleeper = next(
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-u", "nobody", "-x", "sleep"], capture_output=True, text=True
            ).stdout.split()
        )
        refused = through_service(throwaway_user, service, "profile", "--pid", str(sleeper), "-d", "0.5")
        assert refused.returncode == 1 and "belongs to uid" in refused.stderr, refused.stderr
        refused = through_service(throwaway_user, service, "profile", "--pid", str(protected), "-d", "0.5")
        assert refused.returncode == 1 and "non-dumpable" in refused.stderr, refused.stderr
    finally:
        for process in (other, runner):
            process.kill()
            process.wait()
    refused = through_service(throwaway_user, service, "disk", "--all", "-d", "0.5")
    assert refused.returncode != 0 and "tracing every task needs root" in refused.stderr, refused.stderr


def test_only_the_group_may_connect(service: Path) -> None:
    script = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(service)!r})"
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", script], capture_output=True, text=True
    )
    assert done.returncode != 0 and "Permission denied" in done.stderr, done.stderr


def test_one_user_gets_a_bounded_number_of_agents(throwaway_user: ThrowawayUser, service: Path) -> None:
    """Five connections at once: four agents say hello, the fifth is refused as busy."""
    script = (
        "import socket, json\n"
        "conns = []\n"
        "for _ in range(5):\n"
        f"    s = socket.socket(socket.AF_UNIX); s.connect({str(service)!r}); conns.append(s)\n"
        "for s in conns:\n"
        "    print(json.loads(s.makefile('rb').readline())['type'])\n"
    )
    done = throwaway_user.run(["/usr/bin/python3", "-c", script], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["hello"] * 4 + ["error"], done.stdout


def test_the_service_outlives_a_client_that_sends_garbage(
    throwaway_user: ThrowawayUser, service: Path
) -> None:
    # (The last test's agents may still be ending: the service counts them until they have.)
    script = (
        "import socket, time\n"
        "for _ in range(40):\n"
        f"    s = socket.socket(socket.AF_UNIX); s.connect({str(service)!r})\n"
        "    if b'hello' in s.makefile('rb').readline(): break\n"
        "    s.close(); time.sleep(0.25)\n"
        "s.sendall(b'\\x00\\xff{not json\\n' * 1000); s.close()\n"
    )
    assert throwaway_user.run(["/usr/bin/python3", "-c", script]).returncode == 0
    runner, busy = _spawn_as(throwaway_user, ["/usr/bin/python3", "-c", "while True: pass"])
    try:
        done = through_service(throwaway_user, service, "profile", "--pid", str(busy), "-d", "0.5", "--json")
    finally:
        runner.kill()
        runner.wait()
    assert done.returncode == 0, done.stderr
    assert os.path.exists(service)


def test_a_service_killed_mid_trace_leaves_the_trace_to_finish_and_nothing_behind(
    workloads: Path, spawn: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """kill -9 of the service while one of its agents samples: that agent is a session of its own
    and answers its caller in full; when the caller is done it exits, and none of its BPF
    programs outlives it. The next service replaces the stale socket."""
    from lineprobe_agent import protocol

    from tests.privileged.test_agent import live_program_ids, programs_of

    folder = Path(tempfile.mkdtemp(prefix="lp-service-", dir="/tmp"))
    socket_path = folder / "agent.sock"
    target = spawn(workloads / "primes", "200000", "0")
    service = subprocess.Popen(
        [str(INSTALLED_PYTHON), "-I", "-m", "lineprobe_agent.service", "--socket", str(socket_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
    )
    try:
        for _ in range(200):
            if socket_path.exists():
                break
            time.sleep(0.05)
        channel = socket.socket(socket.AF_UNIX)
        channel.connect(str(socket_path))
        channel.settimeout(60)
        replies = channel.makefile("rb")
        hello = protocol.decode_message(replies.readline())
        assert isinstance(hello, protocol.Hello)
        channel.sendall(protocol.encode(protocol.ProfileRequest(1, target.pid, 99, 3.0)))
        while True:
            message = protocol.decode_message(replies.readline())
            assert not isinstance(message, protocol.Failure), message
            if isinstance(message, protocol.Progress) and message.phase == "sampling" and message.samples:
                break
        ours = programs_of(hello.agent_pid)
        assert ours
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        while not isinstance(message, protocol.ProfileDone):
            message = protocol.decode_message(replies.readline())
            assert not isinstance(message, protocol.Failure), message
        assert message.result.counters.samples > 0
        replies.close()  # the file holds the socket open too
        channel.close()
        deadline = time.monotonic() + 10
        while ours & live_program_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ours & live_program_ids() == set()
        assert socket_path.exists()  # stale: the next service replaces it
        again = subprocess.Popen(
            [str(INSTALLED_PYTHON), "-I", "-m", "lineprobe_agent.service", "--socket", str(socket_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
        )
        try:
            for _ in range(200):
                probe = socket.socket(socket.AF_UNIX)
                with contextlib.suppress(OSError):
                    probe.connect(str(socket_path))
                    assert b"hello" in probe.makefile("rb").readline()
                    probe.close()
                    break
                probe.close()
                time.sleep(0.05)
            else:
                raise AssertionError("the second service never answered")
        finally:
            again.send_signal(signal.SIGTERM)
            again.wait(30)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_member_of_the_group_never_runs_their_own_code_as_root_through_the_service(
    throwaway_user: ThrowawayUser, service: Path, shared_dir: Path
) -> None:
    """The routes a caller has to steer a root process: its environment (PYTHONPATH,
    PYTHONSTARTUP, SUDO_UID=0), its working directory holding a planted agent package, and the
    interpreter and package the service runs (root-owned, not writable by the caller). None
    reaches the service's agents: they start from the service, not from the caller."""
    marker = plant(shared_dir / "planted", owner=throwaway_user)
    planted = marker.parent
    env = throwaway_user.env(
        LINEPROBE_AGENT_SOCKET=str(service),
        PYTHONSTARTUP=str(planted / "startup.py"),
        SUDO_UID="0",
        PYTHONPATH=f"{throwaway_user.pythonpath}:{planted}",
    )
    before = agents_started(service, throwaway_user.uid)
    # pid 1 is root's: with SUDO_UID=0 believed, the agent would have traced it.
    done = throwaway_user.run(
        throwaway_user.lineprobe("syscalls", "--pid", "1", "-d", "0.5"), env, cwd=planted
    )
    assert agents_started(service, throwaway_user.uid) > before, "the service was not used"
    assert done.returncode == 1 and "process 1 belongs to uid 0, not to the caller" in done.stderr, (
        done.stderr
    )
    assert not marker.exists(), f"planted code ran: {marker.read_text()}"
    for path in (
        INSTALLED_PYTHON,
        INSTALLED_PYTHON.resolve(),
        *INSTALLED_PYTHON.parents[1].rglob("lineprobe_agent/*.py"),
    ):
        assert throwaway_user.run(["test", "-w", str(path)]).returncode != 0, (
            f"{path} is writable by the caller"
        )
