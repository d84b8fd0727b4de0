"""``lineprobe setup-agent``: the one step that lets users trace without sudo. As root it
installs the privileged agent where only root can change it (``tracers/install-agent.sh``), makes
a group whose members may ask the agent for traces, and starts the lineprobe service on a unix
socket that group can reach: where systemd runs, a socket unit whose first connection starts the
service (socket activation), else the service as a daemon (``lineprobe_agent.service``); the
service does the same work either way. ``--uninstall`` removes all of it.

What it grants, said before it is done (``GRANT``): members of the group may trace processes
they could debug with ptrace themselves; nothing else. Root's processes, other users' and
non-dumpable ones are refused, and system-wide views stay root's.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPTS = (
    CHECKOUT / "tracers" / "install-agent.sh",
    # An installed wheel carries it inside the agent's package (pyproject.toml, force-include).
    Path(__file__).resolve().parents[1] / "lineprobe_agent" / "install-agent.sh",
)
AGENT_PREFIX = Path("/usr/local/lib/lineprobe-agent")
AGENT_ENTRY = Path("/usr/local/libexec/lineprobe-agent")
AGENT_PYTHON = AGENT_PREFIX / "venv" / "bin" / "python"
SYSTEMD_UNITS = Path("/etc/systemd/system")
SOCKET_UNIT = "lineprobe-agent.socket"
SERVICE_UNIT = "lineprobe-agent.service"
DEFAULT_GROUP = "lineprobe"
DEFAULT_SOCKET = Path("/run/lineprobe/agent.sock")
GRANT = (
    "Members of group {group} may ask lineprobe's agent (root) to trace processes they could debug"
    " with ptrace themselves: their own, unless non-dumpable, as Yama's ptrace_scope allows."
    " Root's processes, other users' and system-wide views (disk, interrupts for every task) stay"
    " root's. The agent's code is installed root-owned in {prefix}; the service on {socket} serves"
    " {group}'s members alone (it checks the group for each connection, so a member added now may"
    " trace at once, with no new login); each member has at most four agents at once."
)


class SetupFailed(Exception):
    pass


@dataclass(frozen=True)
class AgentSetup:
    socket: Path = DEFAULT_SOCKET
    group: str = DEFAULT_GROUP
    say: Callable[[str], None] = print

    @property
    def pidfile(self) -> Path:
        return self.socket.with_name("service.pid")

    @property
    def log(self) -> Path:
        return self.socket.with_name("service.log")

    def install(self, users: tuple[str, ...] = (), install_agent: bool = True) -> None:
        _need_root()
        self.say(GRANT.format(group=self.group, prefix=AGENT_PREFIX, socket=self.socket))
        if install_agent:
            script = next((path for path in INSTALL_SCRIPTS if path.exists()), None)
            if script is None:
                raise SetupFailed(
                    f"neither {' nor '.join(map(str, INSTALL_SCRIPTS))} is there: reinstall lineprobe"
                )
            _run(["bash", str(script)], "installing the agent")
        if not AGENT_PYTHON.exists():
            raise SetupFailed(f"{AGENT_PYTHON} is missing: the agent is not installed (make install-agent)")
        if not _group_exists(self.group):
            _run(["groupadd", "--system", self.group], f"making group {self.group}")
            self.say(f"group {self.group} made")
        for user in users:
            _run(["usermod", "-aG", self.group, user], f"adding {user} to {self.group}")
            self.say(f"{user} added to {self.group}: they may trace their own processes now")
        if systemd_running():
            self._install_units()
        else:
            self._start_daemon()

    def units(self) -> dict[str, str]:
        """systemd's socket unit (the socket, made by systemd; the service checks the group itself)
        and the service it starts on the first connection: the lineprobe service, handed the
        socket, so that the per-caller limits hold under systemd as without it."""
        return {
            SOCKET_UNIT: (
                "[Unit]\nDescription=lineprobe's agent service socket\n\n"
                f"[Socket]\nListenStream={self.socket}\nSocketMode=0666\nSocketUser=root\n"
                f"SocketGroup={self.group}\nDirectoryMode=0755\n\n"
                "[Install]\nWantedBy=sockets.target\n"
            ),
            SERVICE_UNIT: (
                "[Unit]\nDescription=lineprobe's agent service: one root agent per caller's connection\n"
                f"Requires={SOCKET_UNIT}\n\n"
                f"[Service]\nExecStart={AGENT_PYTHON} -I -m lineprobe_agent.service"
                f" --socket {self.socket} --group {self.group}\n"
                "WorkingDirectory=/\nKillMode=mixed\n"
            ),
        }

    def _install_units(self) -> None:
        for name, text in self.units().items():
            (SYSTEMD_UNITS / name).write_text(text)
        _run(["systemctl", "daemon-reload"], "reloading systemd")
        _run(["systemctl", "enable", "--now", SOCKET_UNIT], f"starting {SOCKET_UNIT}")
        self.say(f"systemd listens on {self.socket} ({SOCKET_UNIT}); it starts at boot")

    def _start_daemon(self) -> None:
        self.stop_daemon()
        self.socket.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            daemon = subprocess.Popen(
                [
                    str(AGENT_PYTHON),
                    "-I",
                    "-m",
                    "lineprobe_agent.service",
                    "--socket",
                    str(self.socket),
                    "--group",
                    self.group,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                start_new_session=True,
            )
        for _ in range(200):
            if self.socket.exists() or daemon.poll() is not None:
                break
            time.sleep(0.05)
        if not self.socket.exists():
            raise SetupFailed(f"the service did not start: {self.log.read_text()[-600:]}")
        self.pidfile.write_text(f"{daemon.pid}\n")
        self.say(
            f"the lineprobe service listens on {self.socket} (PID {daemon.pid}, log {self.log}); without"
            " systemd it does not start at boot: run `lineprobe setup-agent` again after a restart"
        )

    def stop_daemon(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if _is_service(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                if not _is_service(pid):
                    break
                time.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)

    def uninstall(self, remove_agent: bool = True) -> None:
        _need_root()
        if systemd_running() and (SYSTEMD_UNITS / SOCKET_UNIT).exists():
            subprocess.run(["systemctl", "disable", "--now", SOCKET_UNIT], capture_output=True)
            for unit in (SOCKET_UNIT, SERVICE_UNIT):
                (SYSTEMD_UNITS / unit).unlink(missing_ok=True)
            subprocess.run(["systemctl", "daemon-reload"], capture_output=True)
        self.stop_daemon()
        self.socket.unlink(missing_ok=True)
        self.log.unlink(missing_ok=True)
        if _group_exists(self.group):
            _run(["groupdel", self.group], f"removing group {self.group}")
        if remove_agent:
            shutil.rmtree(AGENT_PREFIX, ignore_errors=True)
            AGENT_ENTRY.unlink(missing_ok=True)
        self.say(
            "lineprobe's service, its group"
            + (" and the installed agent" if remove_agent else "")
            + " are removed"
        )


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def _is_service(pid: int) -> bool:
    try:
        return b"lineprobe_agent.service" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _need_root() -> None:
    if os.geteuid() != 0:
        raise SetupFailed(
            "setting up the agent installs root-owned files: run it as root (sudo lineprobe setup-agent)"
        )


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SetupFailed(
            f"{what} failed (`{' '.join(argv)}`): {(done.stderr or done.stdout).strip()[-600:]}"
        )
