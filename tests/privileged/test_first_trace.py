"""A user's first trace, as someone who has just installed lineprobe meets it: an administrator of
their desktop (sudo with their password), no sudoers rule for lineprobe, no service yet.

- The language server tries nothing privileged when the editor starts it; the first trace the
  user asks for tries the launcher, fails, and says how to set up tracing.
- The editor's set-up (the extension's own code, ``extension/src/model/elevation.ts``, compiled)
  asks for the password once, through sudo, with a stand-in answering the password box: a wrong
  password first (asked again), then the right one.
- Right after, in the session the user was already in (no new login), their trace works, through
  the lineprobe service; and what was installed grants only the agent: no sudoers rule, a
  root-owned service that runs the root-owned agent, the user a member of its group.
"""

from __future__ import annotations

import grp
import json
import pwd
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import client_capabilities

from tests.conftest import ROOT
from tests.privileged.conftest import SAFE_PATH, ThrowawayUser, _readable_packages, remove_user
from tests.privileged.test_agent_setup import _groups_of, _session_shell
from tests.privileged.test_security import _spawn_as

pytestmark = pytest.mark.privileged

SERVICE_SOCKET = Path("/run/lineprobe/agent.sock")
SERVICE_GROUP = "lineprobe"
AGENT_PREFIX = Path("/usr/local/lib/lineprobe-agent")
EXTENSION = ROOT / "extension"
DRIVER = Path(__file__).with_name("elevation_driver.cjs")
USERS_LINEPROBE = ROOT / ".venv" / "bin" / "lineprobe"
"""The lineprobe the user's editor starts its server from (the workspace's .venv): the set-up is
run with it, as the extension does."""


@dataclass(frozen=True)
class DesktopUser:
    user: ThrowawayUser
    password: str
    sudo_log: Path

    def sudo_attempts(self) -> list[str]:
        """Each command the user has tried through sudo, as sudo logged it (one entry per try)."""
        if not self.sudo_log.exists():
            return []
        entries = self.sudo_log.read_text().replace("\n    ", " ").splitlines()
        return [entry for entry in entries if entry.strip()]


@pytest.fixture(scope="module")
def desktop_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopUser]:
    """A user who may run anything as root through sudo with their own password (as the first
    user of a desktop may), and has no rule for lineprobe; removed afterwards, with their sudo
    rule. sudo logs each command they try, allowed or not."""
    if SERVICE_SOCKET.exists() or SERVICE_GROUP in {group.gr_name for group in grp.getgrall()}:
        pytest.fail(
            f"lineprobe's service is set up on this machine ({SERVICE_SOCKET}, group {SERVICE_GROUP}):"
            " this test sets it up and removes it itself; remove it first (lineprobe setup-agent"
            " --uninstall)"
        )
    name = f"lp-first-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    rule = Path(f"/etc/sudoers.d/{name}")
    sudo_log = tmp_path_factory.mktemp("first-trace-sudo") / "sudo.log"
    try:
        rule.write_text(f"Defaults:{name} logfile={sudo_log}\n{name} ALL=(ALL:ALL) ALL\n")
        rule.chmod(0o440)
        entry = pwd.getpwnam(name)
        scratch = tmp_path_factory.mktemp("first-trace-packages")
        user = ThrowawayUser(
            name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), _readable_packages(name, scratch)
        )
        yield DesktopUser(user, password, sudo_log)
    finally:
        rule.unlink(missing_ok=True)
        remove_user(name)


async def test_the_server_tries_nothing_privileged_until_a_trace_is_asked_for(
    desktop_user: DesktopUser, tmp_path: Path
) -> None:
    user = desktop_user.user
    env = user.env(LINEPROBE_AGENT_SOCKET=str(tmp_path / "no-service.sock"))
    client = pytest_lsp.make_test_lsp_client()
    await client.start_io(*user.argv(user.lineprobe("serve"), env), cwd=str(user.home))
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                workspace_folders=[types.WorkspaceFolder(uri=user.home.as_uri(), name="home")],
                root_uri=user.home.as_uri(),
            )
        )
        # The agent's preparation would have begun at `initialized`, in a thread of its own:
        # give it the time it takes elsewhere, then ask for a trace.
        time.sleep(2)
        assert desktop_user.sudo_attempts() == [], "the server ran sudo at start"
        runner, busy = _spawn_as(user, ["/usr/bin/python3", "-c", "while True: pass"])
        try:
            answer = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="lineprobe.profile", arguments=[{"pid": busy, "durationMs": 500}]
                )
            )
        finally:
            runner.kill()
            runner.wait()
    finally:
        await client.shutdown_session()
    tried = desktop_user.sudo_attempts()
    assert tried and "a password is required" in tried[0], f"the launcher was not tried: {answer}"
    assert "COMMAND=/usr/local/libexec/lineprobe-agent" in tried[0], tried
    assert answer["ok"] is False and answer["error"]["code"] == "no-privileges", answer
    assert f"lineprobe setup-agent --user {user.name}" in answer["error"]["message"], answer


def test_one_consented_step_leads_to_a_working_trace_and_grants_only_the_agent(
    desktop_user: DesktopUser,
) -> None:
    user, password = desktop_user.user, desktop_user.password
    model = _compiled_extension_model(user)
    sudoers_before = sorted(p.name for p in Path("/etc/sudoers.d").iterdir())
    # The user's session, begun before the set-up: its processes' groups were fixed at login.
    profile = shlex.join(user.lineprobe("profile", "-d", "1", "--json")) + ' --pid "$pid"'
    session = subprocess.Popen(
        user.argv(["/bin/sh", "-c", f"read pid; exec {profile}"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=user.home,
    )
    runner, busy = _spawn_as(user, ["/usr/bin/python3", "-c", "while True: pass"])
    try:
        before = user.run(user.lineprobe("profile", "--pid", str(busy), "-d", "0.5"))
        assert before.returncode != 0 and "setup-agent" in before.stderr, before.stderr

        done = user.run(
            ["node", str(model / "elevation_driver.cjs"), str(model), str(USERS_LINEPROBE), user.name],
            user.env(LP_PASSWORD=password, PATH=SAFE_PATH),
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        step = json.loads(done.stdout)
        assert step["command"] == [str(USERS_LINEPROBE), "setup-agent", "--user", user.name], step
        assert step["outcome"] == {"outcome": "done"}, step
        assert step["asked"] == [False, True], f"the wrong password was not asked again: {step}"
        assert password not in done.stdout, "the password was shown"
        said = "\n".join(step["lines"])
        assert f"Members of group {SERVICE_GROUP} may ask" in said, said

        shell = _session_shell(user)
        assert str(grp.getgrnam(SERVICE_GROUP).gr_gid) not in _groups_of(shell), "the session has the group"
        traced_out, traced_err = session.communicate(f"{busy}\n", timeout=120)
        assert session.returncode == 0, traced_err
        assert json.loads(traced_out)["samples"] > 0
    finally:
        runner.kill()
        runner.wait()
        if session.poll() is None:
            session.kill()
        session.wait()
        try:
            _assert_only_the_agent_is_granted(user, sudoers_before)
        finally:
            subprocess.run(
                [sys.executable, "-m", "lineprobe.cli", "setup-agent", "--uninstall", "--keep-agent"],
                capture_output=True,
                timeout=300,
            )
            # The other tests' installed agent, as `make install-agent` made it.
            subprocess.run(
                ["bash", str(ROOT / "tracers" / "install-agent.sh")], check=True, capture_output=True
            )
            shutil.rmtree(model, ignore_errors=True)


def _assert_only_the_agent_is_granted(user: ThrowawayUser, sudoers_before: list[str]) -> None:
    assert sorted(p.name for p in Path("/etc/sudoers.d").iterdir()) == sudoers_before, "a sudoers rule"
    assert user.name in grp.getgrnam(SERVICE_GROUP).gr_mem
    service_pid = int(SERVICE_SOCKET.with_name("service.pid").read_text())
    status = Path(f"/proc/{service_pid}/status").read_text()
    assert next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:] == ["0"] * 4
    cmdline = Path(f"/proc/{service_pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0].decode().startswith(f"{AGENT_PREFIX}/") and cmdline[1:4] == [
        b"-I",
        b"-m",
        b"lineprobe_agent.service",
    ], cmdline
    for path in [AGENT_PREFIX, *AGENT_PREFIX.rglob("*")]:
        info = path.lstat()
        writable = not path.is_symlink() and info.st_mode & 0o022
        assert info.st_uid == 0 and not writable, f"{path} is not root's alone"


def _compiled_extension_model(user: ThrowawayUser) -> Path:
    """The extension's model as its unit tests compile it, with the driver, in a folder ``user``
    can read (the checkout may not be)."""
    tsc = EXTENSION / "node_modules" / ".bin" / "tsc"
    if not tsc.exists() or shutil.which("node") is None:
        pytest.fail(
            "the editor's set-up cannot be run: node or the extension's modules are missing"
            " (`make test` installs them: `cd extension && npm ci`)"
        )
    subprocess.run([str(tsc), "-p", "tsconfig.test.json"], cwd=EXTENSION, check=True)
    folder = Path(tempfile.mkdtemp(prefix="lp-first-trace-", dir="/tmp"))
    for name in ("agentSetup.js", "elevation.js"):
        shutil.copy(EXTENSION / "out" / "model" / name, folder / name)
    shutil.copy(DRIVER, folder / DRIVER.name)
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder
