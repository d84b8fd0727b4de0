"""``lineprobe setup-agent``, as root on this machine kind (no systemd: the service's own
daemon): what it grants is said first; a user it adds to its group then traces their own
process with no sudo, from a session begun before the set-up (no new login); ``--uninstall``
leaves no service, socket, group or installed agent."""

from __future__ import annotations

import grp
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.privileged.conftest import ThrowawayUser
from tests.privileged.test_security import _spawn_as

pytestmark = pytest.mark.privileged

AGENT_PREFIX = Path("/usr/local/lib/lineprobe-agent")
AGENT_ENTRY = Path("/usr/local/libexec/lineprobe-agent")


def running_service(pid: int) -> bool:
    """Whether ``pid`` still runs the service (an ended one may linger as a zombie a while)."""
    try:
        return b"lineprobe_agent.service" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def setup_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lineprobe.cli", "setup-agent", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_setup_grants_a_group_tracing_of_its_own_processes_and_uninstall_removes_everything(
    throwaway_user: ThrowawayUser,
) -> None:
    group = f"lp-setup-{secrets.token_hex(3)}"
    folder = Path(tempfile.mkdtemp(prefix="lp-setup-", dir="/tmp"))
    folder.chmod(0o755)
    socket_path = folder / "agent.sock"
    where = ("--group", group, "--socket", str(socket_path))
    # The user's session, begun before the set-up: its processes' groups are fixed at login.
    env = throwaway_user.env(LINEPROBE_AGENT_SOCKET=str(socket_path), LINEPROBE_LAUNCHER="service")
    profile = shlex.join(throwaway_user.lineprobe("profile", "-d", "1", "--json")) + ' --pid "$pid"'
    session = subprocess.Popen(
        throwaway_user.argv(["/bin/sh", "-c", f"read pid; exec {profile}"], env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=throwaway_user.home,
    )
    try:
        done = setup_agent("--user", throwaway_user.name, *where)
        assert done.returncode == 0, done.stderr
        assert f"Members of group {group} may ask" in done.stdout and "stay root's" in done.stdout
        assert "may trace their own processes now" in done.stdout
        assert socket_path.stat().st_mode & 0o777 == 0o666
        assert socket_path.stat().st_gid == grp.getgrnam(group).gr_gid
        assert throwaway_user.name in grp.getgrnam(group).gr_mem
        service_pid = int((folder / "service.pid").read_text())
        session_shell = _session_shell(throwaway_user)
        assert str(grp.getgrnam(group).gr_gid) not in _groups_of(session_shell), "the session has the group"

        runner, busy = _spawn_as(throwaway_user, ["/usr/bin/python3", "-c", "while True: pass"])
        try:
            traced_out, traced_err = session.communicate(f"{busy}\n", timeout=120)
        finally:
            runner.kill()
            runner.wait()
        assert session.returncode == 0, traced_err
        assert '"samples"' in traced_out

        again = setup_agent("--user", throwaway_user.name, *where)  # idempotent: the old daemon replaced
        assert again.returncode == 0, again.stderr
        assert not running_service(service_pid)

        removed = setup_agent("--uninstall", *where)
        assert removed.returncode == 0, removed.stderr
        assert not socket_path.exists() and not (folder / "service.pid").exists()
        with pytest.raises(KeyError):
            grp.getgrnam(group)
        assert not AGENT_PREFIX.exists() and not AGENT_ENTRY.exists()
        assert (
            subprocess.run(["pgrep", "-f", f"lineprobe_agent.service --socket {socket_path}"]).returncode == 1
        )
    finally:
        if session.poll() is None:
            session.kill()
        session.wait()
        setup_agent("--uninstall", "--keep-agent", *where)
        # The other tests' installed agent, as `make install-agent` made it.
        subprocess.run(["bash", str(ROOT / "tracers" / "install-agent.sh")], check=True, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _session_shell(user: ThrowawayUser) -> int:
    """The PID of the user's waiting session shell (``read pid``)."""
    for _ in range(200):
        listed = subprocess.run(
            ["pgrep", "-u", user.name, "-f", "read pid"], capture_output=True, text=True
        ).stdout.split()
        if listed:
            return int(listed[0])
        time.sleep(0.025)
    raise AssertionError("the session shell did not start")


def _groups_of(pid: int) -> list[str]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Groups:"):
            return line.split()[1:]
    return []


def test_setup_as_a_user_who_is_not_root_changes_nothing(throwaway_user: ThrowawayUser) -> None:
    done = throwaway_user.run(throwaway_user.lineprobe("setup-agent", "--group", "lp-never"))
    assert done.returncode == 1 and "run it as root" in done.stderr, done.stderr
    with pytest.raises(KeyError):
        grp.getgrnam("lp-never")
