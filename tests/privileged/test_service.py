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
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lineprobe_agent import protocol
from lineprobe_agent.tracefs_sweep import write_command

from tests.privileged.agent_service import INSTALLED_PYTHON, connect_as, start_service, stop_service
from tests.privileged.conftest import ThrowawayUser
from tests.privileged.pid_reuse import MOMENTS, run_attempts
from tests.privileged.test_security import _spawn_as, plant

pytestmark = pytest.mark.privileged


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
    try:
        process = start_service(socket_path, group, log)
    except AssertionError as exc:
        log.close()
        raise AssertionError(f"{exc}: {(folder / 'service.log').read_text()}") from None
    try:
        # Anyone may connect; the service serves the group's members alone (the next test).
        assert (
            socket_path.stat().st_mode & 0o777 == 0o666
            and socket_path.stat().st_gid == grp.getgrnam(group).gr_gid
        )
        yield socket_path
    finally:
        stop_service(process)
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


def test_only_the_group_is_served_and_others_are_told_why(service: Path) -> None:
    """``nobody`` connects (the socket is 0666) and gets a refusal naming the group and the set-up,
    and no agent; the service's membership check is all that stands between them."""
    script = (
        "import socket, sys; s = socket.socket(socket.AF_UNIX); "
        f"s.connect({str(service)!r}); s.settimeout(10); sys.stdout.buffer.write(s.recv(65536))"
    )
    before = (service.parent / "service.log").read_text().count(" for uid ")
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", script], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    refusal = protocol.decode_message(done.stdout.strip())
    assert isinstance(refusal, protocol.Failure) and refusal.code == "no-privileges", refusal
    assert "nobody" in refusal.message and "is not a member of group lp-svc-" in refusal.message
    assert refusal.hint is not None and "setup-agent --user nobody" in refusal.hint
    assert (service.parent / "service.log").read_text().count(" for uid ") == before, "an agent was started"


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

    from tests.privileged.test_agent import live_program_ids, programs_of

    folder = Path(tempfile.mkdtemp(prefix="lp-service-", dir="/tmp"))
    socket_path = folder / "agent.sock"
    target = spawn(workloads / "primes", "200000", "0")
    service = start_service(socket_path)
    try:
        connection = connect_as(socket_path)
        hello = connection.hello
        connection.send(protocol.ProfileRequest(1, target.pid, 99, 3.0))
        while True:
            message = connection.next_message()
            assert not isinstance(message, protocol.Failure), message
            if isinstance(message, protocol.Progress) and message.phase == "sampling" and message.samples:
                break
        ours = programs_of(hello.agent_pid)
        assert ours
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        while not isinstance(message, protocol.ProfileDone):
            message = connection.next_message()
            assert not isinstance(message, protocol.Failure), message
        assert message.result.counters.samples > 0
        connection.close()
        deadline = time.monotonic() + 10
        while ours & live_program_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ours & live_program_ids() == set()
        assert socket_path.exists()  # stale: the next service replaces it
        again = start_service(socket_path)  # its socket replaces the stale one
        try:
            connect_as(socket_path).close()  # it answers with its hello
        finally:
            stop_service(again)
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


def test_a_pid_reused_by_another_users_process_yields_none_of_its_events(
    throwaway_user: ThrowawayUser, service: Path
) -> None:
    """The caller's traced process exits and its PID goes to nobody's process: before the
    request, during set-up and mid-trace, in turn (tests/privileged/pid_reuse.py;
    ``make bench-pid-reuse`` makes 1,000 such reuses)."""
    user = throwaway_user
    connection = connect_as(service, user.uid, user.gid, (user.gid, service.stat().st_gid))
    try:
        tally = run_attempts(connection, 45, user.uid, user.gid)
    finally:
        connection.close()
    print(f"\n{tally.summary()}")
    assert tally.reuses >= 45 and all(tally.by_moment[moment] for moment in MOMENTS), tally.summary()
    assert tally.newcomer_events == 0, tally.summary()
    # The gate met the newcomer: it held the newcomer's events, or (the agent quicker than the
    # newcomer's first system call, as on some machines every time) it saw the PID change hands
    # mid-trace and ended each such trace there.
    assert tally.held_by_gate > 0 or tally.ended_at_reuse == tally.by_moment["mid-trace"], tally.summary()
    # Named before the request, the newcomer's PID is refused; mid-trace, the trace had run.
    assert (
        tally.outcomes["before the request: refused (permission-denied)"]
        == tally.by_moment["before the request"]
    )
    assert tally.outcomes["mid-trace: traced, the target's calls seen"] > 0, tally.summary()


def test_the_service_sweeps_stale_probe_events_from_tracefs_at_start(tmp_path: Path) -> None:
    """A bcc process killed with SIGKILL where the uprobe PMU is refused leaves its probe event
    in tracefs (named after its PID); a starting service removes those of exited processes and
    leaves a running process's alone."""
    events = Path("/sys/kernel/tracing/uprobe_events")
    exited = subprocess.Popen(["true"])
    exited.wait()
    stale = f"uprobes/p__bin_true_0x1000_bcc_{exited.pid}"
    live = f"uprobes/p__bin_true_0x1000_bcc_{os.getpid()}"
    for event in (stale, live):
        write_command(events, f"p:{event} /bin/true:0x1000")
    folder = Path(tempfile.mkdtemp(prefix="lp-service-", dir="/tmp"))
    try:
        with (folder / "service.log").open("wb") as log:
            stop_service(start_service(folder / "agent.sock", log=log))
        listed = events.read_text()
        assert stale not in listed and live in listed, listed
        assert f"removed 1 stale probe events from tracefs: {stale}" in (folder / "service.log").read_text()
    finally:
        for event in (stale, live):
            if event in events.read_text():
                write_command(events, f"-:{event}")
        shutil.rmtree(folder, ignore_errors=True)


def _jailed(user: ThrowawayUser, jail: Path, program: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``program`` run by ``user`` chrooted into ``jail`` (a user namespace of its own, which any
    user may make): /proc/PID/maps names its files as the agent sees them (JAIL/probes), and
    the same path under /proc/PID/root leads to JAIL/JAIL/probes, which the user controls."""
    for library in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
        (jail / library[1:]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(library, jail / library[1:])
    shutil.copy(program, jail / "probes")
    for path in [jail, *jail.rglob("*")]:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)
    return _spawn_as(user, ["unshare", "-Ur", f"--root={jail}", "/probes", "100000000000000"])


def test_a_mapped_file_redirected_to_a_fifo_or_a_root_file_is_never_opened_as_root(
    throwaway_user: ThrowawayUser, service: Path, shared_dir: Path, workloads: Path, tmp_path: Path
) -> None:
    """bcc's USDT reader opens, as root, each file a process maps by its path in
    /proc/PID/maps under /proc/PID/root. A process in a chroot of its owner's (a user
    namespace needs no privilege) makes that path lead where its owner likes: to a FIFO (root
    would wait forever for a writer) or to a symlink to a file only root may read. Both are
    refused with the reason, before bcc opens anything; a CPU profile, which reads build IDs
    through the kernel's link to the mapped file, still works."""
    user = throwaway_user
    secret = tmp_path / "root-only-elf"  # the USDT workload itself, readable by root alone
    shutil.copy(workloads / "probes", secret)
    secret.chmod(0o600)
    count = ("stackcount", "usdt:lineprobe_demo:request", "-d", "0.5")
    plain, pid = _spawn_as(user, [str(workloads / "probes"), "100000000000000"])
    try:  # the control: a process outside a jail is counted
        counted = through_service(user, service, *count, "--pid", str(pid))
        assert counted.returncode == 0, counted.stderr
    finally:
        plain.kill()
        plain.wait()
    jail = shared_dir / "jail"
    seen_by_root = jail / str(jail)[1:] / "probes"  # where /proc/PID/root + the mapped path leads
    seen_by_root.parent.mkdir(parents=True)
    os.mkfifo(seen_by_root)
    runner, pid = _jailed(user, jail, workloads / "probes")
    try:
        refused = through_service(user, service, *count, "--pid", str(pid))
        assert refused.returncode == 1, refused.stderr
        assert f"{jail}/probes, which process {pid} maps, is now a FIFO" in refused.stderr, refused.stderr
        profiled = through_service(user, service, "profile", "--pid", str(pid), "-d", "0.5", "--json")
        assert profiled.returncode == 0 and '"samples"' in profiled.stdout, profiled.stderr
        assert user.run(["sh", "-c", f"rm {seen_by_root} && ln -s {secret} {seen_by_root}"]).returncode == 0
        refused = through_service(user, service, *count, "--pid", str(pid))
        assert refused.returncode == 1, refused.stderr
        assert "was replaced by a file the caller cannot read" in refused.stderr, refused.stderr
    finally:
        runner.kill()
        runner.wait()


def test_a_perf_map_redirected_to_a_root_file_is_read_with_the_callers_rights(
    throwaway_user: ThrowawayUser, service: Path, tmp_path: Path
) -> None:
    """A JIT's perf map (/tmp/perf-PID.map) is the process owner's file, and is read by the
    caller's own lineprobe, never by the agent: pointed at a map that only root may read, which
    would name every JIT sample LineprobeSecret_*, it names none of them."""
    from tests.privileged.test_jit_perf_map import node

    user = throwaway_user
    script = Path(__file__).resolve().parents[2] / "workloads" / "jit" / "hot.js"
    runner, pid = _spawn_as(user, [node(), "--perf-basic-prof", str(script), "60"])
    perf_map = Path(f"/tmp/perf-{pid}.map")
    try:
        for _ in range(200):
            if perf_map.exists() and "lineprobeHotSpin" in perf_map.read_text():
                break
            time.sleep(0.05)
        secret = tmp_path / "secret.map"  # the same ranges, other names, root's alone
        lines = perf_map.read_text().splitlines()
        secret.write_text(
            "".join(
                f"{' '.join(line.split(' ', 2)[:2])} LineprobeSecret_{n}\n" for n, line in enumerate(lines)
            )
        )
        secret.chmod(0o600)
        named = through_service(user, service, "profile", "--pid", str(pid), "-d", "1", "--json")
        assert "lineprobeHotSpin" in named.stdout, named.stderr  # the control: the map is read
        assert user.run(["sh", "-c", f"rm {perf_map} && ln -s {secret} {perf_map}"]).returncode == 0
        done = through_service(user, service, "profile", "--pid", str(pid), "-d", "1", "--json")
    finally:
        runner.kill()
        runner.wait()
        perf_map.unlink(missing_ok=True)
    assert done.returncode == 0 and '"samples"' in done.stdout, done.stderr
    assert "lineprobeHotSpin" not in done.stdout and "LineprobeSecret" not in done.stdout + done.stderr


def test_each_agent_of_the_service_has_a_bounded_address_space(
    throwaway_user: ThrowawayUser, service: Path
) -> None:
    """A caller's agents hold at most four times 2 GiB of memory: the service limits each one's
    address space (RLIMIT_AS), and an agent under the limit still compiles and traces."""
    user = throwaway_user
    connection = connect_as(service, user.uid, user.gid, (user.gid, service.stat().st_gid))
    try:
        limits = Path(f"/proc/{connection.hello.agent_pid}/limits").read_text()
        line = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        assert line.split()[3:5] == ["2147483648", "2147483648"], line
        runner, busy = _spawn_as(user, ["/usr/bin/python3", "-c", "while True: pass"])
        try:
            connection.send(protocol.ProfileRequest(1, busy, 99, 0.5))
            while not isinstance(
                answer := connection.next_message(), protocol.ProfileDone | protocol.Failure
            ):
                pass
        finally:
            runner.kill()
            runner.wait()
        assert isinstance(answer, protocol.ProfileDone) and answer.result.counters.samples > 0, answer
    finally:
        connection.close()


def bpf_map_memory(pid: int) -> int:
    """Bytes of kernel memory held by the BPF maps process ``pid`` has open (their fdinfo)."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd) == "anon_inode:bpf-map":
                info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                total += int(
                    next(line.split()[1] for line in info.splitlines() if line.startswith("memlock:"))
                )
    return total


AGENT_MAP_BUDGET = 256 << 20
"""What one agent's kept programs may hold in BPF maps (ARCHITECTURE's per-caller limits)."""


def test_an_agents_kept_programs_hold_bounded_map_memory(service: Path) -> None:
    """The programs an agent keeps between requests have maps of fixed size, lineprobe's own
    (a caller chooses none): all of them compiled at once stay within the documented budget."""
    from lineprobe_agent.tracer_registry import BY_PROGRAM

    connection = connect_as(service)
    try:
        connection.send(protocol.PrepareRequest(1, sorted(BY_PROGRAM)))
        while isinstance(answer := connection.next_message(), protocol.Progress):
            pass
        assert isinstance(answer, protocol.Prepared), answer
        held = bpf_map_memory(connection.hello.agent_pid)
    finally:
        connection.close()
    print(f"\nBPF maps of one agent with {', '.join(sorted(BY_PROGRAM))} compiled: {held / 2**20:.1f} MiB")
    assert 0 < held <= AGENT_MAP_BUDGET


def test_socket_activated_by_systemd_the_service_serves_systemds_socket(tmp_path: Path) -> None:
    """Where systemd runs, its socket unit makes the socket and starts the service on the first
    connection, handing the socket over (LISTEN_FDS). systemd-socket-activate does exactly that
    here: the first caller is served by an agent, and the service leaves systemd's socket."""
    folder = Path(tempfile.mkdtemp(prefix="lp-service-", dir="/tmp"))
    socket_path = folder / "agent.sock"
    log = (folder / "service.log").open("wb")
    service = [str(INSTALLED_PYTHON), "-I", "-m", "lineprobe_agent.service", "--socket", str(socket_path)]
    activator = subprocess.Popen(
        ["systemd-socket-activate", "-l", str(socket_path), *service],
        stdout=log,
        stderr=log,
        cwd="/",
    )
    try:
        for _ in range(200):
            if socket_path.exists():
                break
            time.sleep(0.05)
        connection = connect_as(socket_path)  # the service starts now, and its agent answers
        assert connection.hello.euid == 0
        connection.close()
        stop_service(activator)  # it became the service (exec), which ends on SIGTERM
        assert f"listening on {socket_path}" in (folder / "service.log").read_text()
        assert socket_path.exists(), "the service removed the socket systemd made"
    finally:
        log.close()
        if activator.poll() is None:
            activator.kill()
            activator.wait()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_setups_systemd_units_are_ones_systemd_accepts(tmp_path: Path) -> None:
    """The units `setup-agent` installs where systemd runs, checked by systemd's own verifier
    (which refuses an unknown key, a socket without a Listen setting, a relative ExecStart)."""
    from lineprobe.agent_setup import AgentSetup

    written = []
    for name, text in AgentSetup(group="root").units().items():
        (tmp_path / name).write_text(text)
        written.append(str(tmp_path / name))
    done = subprocess.run(["systemd-analyze", "verify", *written], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "lineprobe_agent.service" in (tmp_path / "lineprobe-agent.service").read_text()
