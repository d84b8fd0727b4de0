"""The agent gives nothing away: each route by which it once ran a caller's code as root, or
traced what the caller could not debug, tried as an attacker would.

Callers who are not root are throwaway users (tests/privileged/conftest.py) whose only sudo
rule names the installed, root-owned agent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lineprobe_agent.code_trust import UntrustedCode, check_root_owned
from lsprotocol import types
from pytest_lsp import client_capabilities

from tests.conftest import ROOT
from tests.privileged.conftest import INSTALLED_AGENT, ThrowawayUser

pytestmark = pytest.mark.privileged

LINEPROBE_SCRIPT = Path(sys.executable).parent / "lineprobe"
"""The installed console script, as a user runs it (``python -m`` would itself put the
working directory on sys.path, for the CLI as much as for the agent)."""


def plant(directory: Path, owner: ThrowawayUser | None = None) -> Path:
    """A ``lineprobe_agent`` package (and a PYTHONSTARTUP file) that would record, if it ever
    ran, under which uid; returns the marker file it would write."""
    marker = directory / "PLANTED-CODE-RAN"
    package = directory / "lineprobe_agent"
    package.mkdir(parents=True)
    code = f"import os\nopen({str(marker)!r}, 'a').write(f'euid={{os.geteuid()}}\\n')\n"
    (package / "__init__.py").write_text(code)
    (package / "__main__.py").write_text(code)
    (package / "protocol.py").write_text(code)
    (directory / "startup.py").write_text(code)
    if owner is not None:
        for path in [directory, *directory.rglob("*")]:
            os.chown(path, owner.uid, owner.gid)
    directory.chmod(0o777)  # the planted code may write its marker whoever runs it
    return marker


def test_root_never_runs_an_agent_package_planted_in_the_working_directory(shared_dir: Path) -> None:
    marker = plant(shared_dir / "planted")
    done = subprocess.run(
        [str(LINEPROBE_SCRIPT), "capabilities"],
        cwd=marker.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "CPU profiling" in done.stdout
    assert not marker.exists(), f"planted code ran: {marker.read_text()}"


def test_a_caller_through_sudo_never_runs_its_own_code_as_root(
    throwaway_user: ThrowawayUser, shared_dir: Path
) -> None:
    """The caller sets PYTHONPATH, PYTHONSTARTUP and SUDO_UID=0, on its side and on sudo's command
    line (its rule allows SETENV), and works in a folder holding a planted agent package."""
    marker = plant(shared_dir / "planted", owner=throwaway_user)
    planted = marker.parent
    poison = {"PYTHONPATH": str(planted), "PYTHONSTARTUP": str(planted / "startup.py"), "SUDO_UID": "0"}
    launcher = "sudo -n " + " ".join(f"{k}={v}" for k, v in poison.items())
    env = throwaway_user.env(
        LINEPROBE_LAUNCHER=launcher,
        PYTHONSTARTUP=poison["PYTHONSTARTUP"],
        SUDO_UID="0",
        PYTHONPATH=f"{throwaway_user.pythonpath}:{planted}",
    )
    # pid 1 is root's: with SUDO_UID=0 believed, the agent would have traced it.
    done = throwaway_user.run(
        throwaway_user.lineprobe("syscalls", "--pid", "1", "-d", "0.5"), env, cwd=planted
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "process 1 belongs to uid 0, not to the caller" in done.stderr
    assert not marker.exists(), f"planted code ran: {marker.read_text()}"


async def capabilities_through_serve(serve: list[str], workspace: Path) -> Any:
    """`lineprobe serve` started as an editor starts it, in ``workspace``: `initialize` (which
    prepares the agent), then `lineprobe.capabilities`; its answer."""
    client = pytest_lsp.make_test_lsp_client()
    await client.start_io(*serve, cwd=str(workspace))
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="planted")],
                root_uri=workspace.as_uri(),
            )
        )
        return await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="lineprobe.capabilities", arguments=[])
        )
    finally:
        await client.shutdown_session()


async def test_the_language_server_in_a_planted_workspace_starts_only_its_own_agent(shared_dir: Path) -> None:
    """`initialize` alone starts the agent (prepareAgent), in the workspace folder the editor opened."""
    marker = plant(shared_dir / "workspace")
    workspace = marker.parent
    report = await capabilities_through_serve([str(LINEPROBE_SCRIPT), "serve"], workspace)
    assert report is not None
    assert not marker.exists(), f"planted code ran: {marker.read_text()}"


def test_the_installed_agent_is_root_owned_and_not_writable_by_a_caller(
    throwaway_user: ThrowawayUser,
) -> None:
    root = Path("/usr/local/lib/lineprobe-agent")
    files = [
        str(INSTALLED_AGENT),
        *(str(p) for p in root.rglob("*") if p.suffix in (".py", ".pyc", ".so", ".pth")),
    ]
    check_root_owned(files)  # raises, naming the file, otherwise
    for path in (INSTALLED_AGENT, root / "venv" / "bin", next(root.rglob("lineprobe_agent/session.py"))):
        assert throwaway_user.run(["test", "-w", str(path)]).returncode != 0, f"{path} is writable"
    text = INSTALLED_AGENT.read_text()
    assert "env -i" in text and " -I -m lineprobe_agent" in text and "cd /" in text


def test_agent_code_that_others_can_write_is_refused_naming_the_file(
    throwaway_user: ThrowawayUser, shared_dir: Path
) -> None:
    """A rule that named a user-writable copy of the agent (or a venv the user owns) was a root
    grant: the agent must refuse to run from it, and say which file is the problem."""
    copy = shared_dir / "user-owned"
    shutil.copytree(ROOT / "tracers" / "lineprobe_agent", copy / "lineprobe_agent")
    for path in [copy, *copy.rglob("*")]:
        os.chown(path, throwaway_user.uid, throwaway_user.gid)
    ours, theirs = socket.socketpair()
    run_copy = (
        f"import sys, runpy; sys.path.insert(0, {str(copy)!r}); "
        "runpy.run_module('lineprobe_agent', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", run_copy],
        stdin=theirs,
        stdout=theirs,
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        cwd="/",
    )
    theirs.close()
    ours.close()
    assert done.returncode == 2
    assert "refusing to run with privileges" in done.stderr
    assert (
        str(copy / "lineprobe_agent") in done.stderr and f"owned by uid {throwaway_user.uid}" in done.stderr
    )
    # And an agent not started isolated (-I) is refused before it serves anyone.
    done = subprocess.run(
        [sys.executable, "-m", "lineprobe_agent"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert done.returncode == 2 and "isolated" in done.stderr


def test_an_agent_without_a_socket_to_its_caller_serves_no_one() -> None:
    """Without a socket pair there is no kernel-recorded caller; an environment variable is not one."""
    done = subprocess.run(
        [sys.executable, "-I", "-m", "lineprobe_agent"],
        capture_output=True,
        env={"SUDO_UID": "0"},
        input=b"",
        timeout=60,
        cwd="/",
    )
    assert done.returncode == 2
    assert b"cannot tell who is asking" in done.stderr


def test_check_root_owned_names_what_is_wrong(tmp_path: Path) -> None:
    loose = tmp_path / "loose.py"
    loose.write_text("")
    loose.chmod(0o666)
    tmp_path.chmod(0o755)
    with pytest.raises(UntrustedCode, match=r"loose\.py is writable by everyone"):
        check_root_owned([str(loose)])


def _spawn_as(user: ThrowawayUser, argv: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``argv`` as ``user``; returns the runuser process and the PID of ``argv`` itself."""
    process = user.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        listed = children.read_text().split() if children.exists() else []
        for child in listed:
            # runuser -> env -> the program (env execs it: same PID)
            grandchildren = Path(f"/proc/{child}/task/{child}/children").read_text().split()
            pid = int(grandchildren[0]) if grandchildren else int(child)
            if Path(f"/proc/{pid}/exe").exists() and os.readlink(f"/proc/{pid}/exe") not in (
                "/usr/bin/env",
                "/usr/sbin/runuser",
            ):
                return process, pid
        os.sched_yield()
        subprocess.run(["sleep", "0.02"])
    raise AssertionError(f"{argv} did not start")


def test_a_non_dumpable_process_of_the_same_user_is_refused(throwaway_user: ThrowawayUser) -> None:
    """prctl(PR_SET_DUMPABLE, 0) protects a secret from its own user: lineprobe must not read it out."""
    guarded = "import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); time.sleep(60)"
    plain = "import time; time.sleep(60)"
    processes = []
    try:
        runner, protected = _spawn_as(throwaway_user, ["/usr/bin/python3", "-c", guarded])
        processes.append(runner)
        runner, control = _spawn_as(throwaway_user, ["/usr/bin/python3", "-c", plain])
        processes.append(runner)
        subprocess.run(["sleep", "0.3"])  # let prctl run
        denied = throwaway_user.run(throwaway_user.lineprobe("profile", "--pid", str(protected), "-d", "0.5"))
        assert denied.returncode == 1, denied.stdout + denied.stderr
        assert "not debuggable" in denied.stderr and "non-dumpable" in denied.stderr
        allowed = throwaway_user.run(throwaway_user.lineprobe("profile", "--pid", str(control), "-d", "0.5"))
        assert allowed.returncode == 0, allowed.stderr
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_a_setgid_process_is_refused(
    throwaway_user: ThrowawayUser, workloads: Path, shared_dir: Path
) -> None:
    group = f"{throwaway_user.name}-g"
    subprocess.run(["groupadd", group], check=True)
    try:
        binary = shared_dir / "setgid-hotloop"
        shutil.copy(workloads / "hotloop", binary)
        shutil.chown(binary, "root", group)
        binary.chmod(0o2755)
        runner, pid = _spawn_as(throwaway_user, [str(binary), "30"])
        try:
            denied = throwaway_user.run(throwaway_user.lineprobe("profile", "--pid", str(pid), "-d", "0.5"))
            assert denied.returncode == 1, denied.stdout + denied.stderr
            assert "setgid" in denied.stderr
        finally:
            runner.kill()
            runner.wait()
    finally:
        subprocess.run(["groupdel", group], capture_output=True)


SECRET_C = r"""
#include <unistd.h>
int main(int argc, char **argv)
{
    for (int i = 0; i < 200; ++i) {
        access(argv[1], F_OK);  /* fails: ENOENT, with the path as evidence */
        usleep(10000);
    }
    return 0;
}
"""


@pytest.fixture
def setuid_prober(shared_dir: Path) -> Path:
    """A setuid-root program whose system calls carry a recognisable path."""
    source = shared_dir / "prober.c"
    source.write_text(SECRET_C)
    binary = shared_dir / "prober"
    subprocess.run(["cc", "-O1", "-o", str(binary), str(source)], check=True)
    shutil.chown(binary, "root", "root")
    binary.chmod(0o4755)
    return binary


def test_an_exec_into_a_setuid_program_ends_the_trace(
    throwaway_user: ThrowawayUser, setuid_prober: Path
) -> None:
    secret = "/lineprobe-secret-of-a-root-process"
    script = f"for i in 1 2 3; do test -e /lineprobe-before; done; sleep 0.3; exec {setuid_prober} {secret}"
    done = throwaway_user.run(
        throwaway_user.lineprobe("syscalls", "--json", "-d", "4", "--", "/bin/sh", "-c", script)
    )
    assert done.returncode == 0, done.stderr
    trace = json.loads(done.stdout)
    paths = {f["path"] for f in trace["failures"]}
    assert secret not in paths, "system calls of the setuid process were recorded"
    assert any(
        w.startswith("tracing stopped after") and "belongs to uid 0" in w for w in trace["warnings"]
    ), trace["warnings"]
    # What ran before the exec, as the caller, was traced.
    assert trace["syscalls"], "nothing was recorded before the exec"
    # Root may trace setuid programs: the same run as root sees the path (the test can see it).
    as_root = subprocess.run(
        [str(LINEPROBE_SCRIPT), "syscalls", "--json", "-d", "4", "--", "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert secret in {f["path"] for f in json.loads(as_root.stdout)["failures"]}


def test_the_access_helper_runs_with_the_callers_credentials(throwaway_user: ThrowawayUser) -> None:
    """The kernel's answer comes from a process that is the caller as far as ptrace goes."""
    from lineprobe_agent.access import AccessCheck, Caller

    check = AccessCheck(Caller(os.getpid(), throwaway_user.uid, throwaway_user.gid, ()))
    try:
        assert "belongs to uid 0" in (check.denial(1) or "")
        assert check.denial(os.getpid()) is not None  # root's own process: not the caller's
        runner, pid = _spawn_as(throwaway_user, ["/usr/bin/python3", "-c", "import time; time.sleep(30)"])
        try:
            assert check.denial(pid) is None
        finally:
            runner.kill()
            runner.wait()
        assert check.denial(2**22 + 7) is not None  # no such process: never allowed
    finally:
        check.close()


async def test_a_caller_serving_lsp_from_a_planted_workspace_starts_only_the_installed_agent(
    throwaway_user: ThrowawayUser, shared_dir: Path
) -> None:
    """The user's `lineprobe serve`, started by the editor in an untrusted repository that plants a
    `lineprobe_agent` package: `initialize` alone starts the agent through sudo (prepareAgent)."""
    marker = plant(shared_dir / "repository", owner=throwaway_user)
    workspace = marker.parent
    env = throwaway_user.env(
        LINEPROBE_LAUNCHER="sudo -n", PYTHONPATH=f"{throwaway_user.pythonpath}:{workspace}"
    )
    report = await capabilities_through_serve(
        throwaway_user.argv(throwaway_user.lineprobe("serve"), env), workspace
    )
    assert report is not None
    privileges = next(c for c in report["capabilities"] if c["name"] == "privileges")
    assert privileges["available"], report  # the installed agent, through sudo
    assert not marker.exists(), f"planted code ran: {marker.read_text()}"
