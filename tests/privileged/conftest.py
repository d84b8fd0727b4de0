"""Callers who are not root: throwaway users, made for a test module and removed after it.

A throwaway user runs lineprobe as a user would: Debian's python3 (``-P``: the
working directory is not on sys.path), this checkout's packages on
PYTHONPATH, and the launcher ``sudo -n`` with a sudoers rule that names only
the installed, root-owned agent (``make install-agent``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import ROOT
from tests.lsp_values import as_plain

INSTALLED_AGENT = Path("/usr/local/libexec/lineprobe-agent")
SYSTEM_PYTHON = "/usr/bin/python3"
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


@dataclass(frozen=True)
class ThrowawayUser:
    name: str
    uid: int
    gid: int
    home: Path
    pythonpath: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "HOME": str(self.home),
            "PATH": SAFE_PATH,
            "PYTHONPATH": self.pythonpath,
            "LINEPROBE_CACHE_DIR": str(self.home / ".cache" / "lineprobe"),
        }
        env.update(extra)
        return env

    def argv(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        environment = env if env is not None else self.env()
        return [
            "runuser",
            "-u",
            self.name,
            "--",
            "env",
            "-i",
            *(f"{k}={v}" for k, v in environment.items()),
            *argv,
        ]

    def lineprobe(self, *args: str) -> list[str]:
        return [SYSTEM_PYTHON, "-P", "-m", "lineprobe.cli", *args]

    def run(
        self,
        argv: list[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv, env), capture_output=True, text=True, timeout=timeout, cwd=cwd or self.home
        )

    def popen(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(argv), cwd=self.home, **kwargs)  # type: ignore[call-overload]


def _readable_packages(user: str, scratch: Path) -> str:
    """PYTHONPATH under which ``user`` imports this checkout's server and its dependencies:
    the checkout itself when the user can read it, else a world-readable copy."""
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    direct = f"{ROOT / 'server'}:{ROOT / 'tracers'}:{site}"
    probe = ["runuser", "-u", user, "--", "env", "-i", f"PYTHONPATH={direct}", SYSTEM_PYTHON, "-P", "-c"]
    if (
        subprocess.run(
            [*probe, "import lineprobe.cli, lineprobe_agent.protocol"], capture_output=True
        ).returncode
        == 0
    ):
        return direct
    copy = scratch / "packages"
    skip = shutil.ignore_patterns("mypy", "mypyc", "_pytest", "pip", "__pycache__", "*.dist-info")
    for source in (ROOT / "server", ROOT / "tracers"):
        shutil.copytree(source, copy / source.name, ignore=skip)
    shutil.copytree(site, copy / "site", ignore=skip, symlinks=True)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    copy.parent.chmod(0o755)
    return f"{copy / 'server'}:{copy / 'tracers'}:{copy / 'site'}"


@pytest.fixture(scope="module")
def throwaway_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayUser]:
    """A user with a home, allowed only the installed agent through sudo; removed afterwards."""
    missing = [tool for tool in ("sudo", "runuser", "useradd", "userdel") if shutil.which(tool) is None]
    if missing or not INSTALLED_AGENT.exists() or not Path(SYSTEM_PYTHON).exists():
        pytest.fail(
            f"callers who are not root cannot be tested: missing {missing or ''} "
            f"{'' if INSTALLED_AGENT.exists() else INSTALLED_AGENT} — run `make test` as root "
            "(it installs sudo and python3 and runs `make install-agent`)"
        )
    name = f"lp-test-{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    rule = Path(f"/etc/sudoers.d/{name}")
    try:
        # SETENV lets the caller put variables on sudo's command line: the agent must ignore them.
        rule.write_text(f'{name} ALL=(root) NOPASSWD:SETENV: {INSTALLED_AGENT} ""\n')
        rule.chmod(0o440)
        entry = pwd.getpwnam(name)
        scratch = tmp_path_factory.mktemp("user-packages")
        yield ThrowawayUser(
            name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), _readable_packages(name, scratch)
        )
    finally:
        rule.unlink(missing_ok=True)
        remove_user(name)


def remove_user(name: str) -> None:
    """A throwaway user gone, with their home: their processes first, every one of them started
    by these tests, by PID."""
    for _ in range(50):
        listed = subprocess.run(["pgrep", "-u", name], capture_output=True, text=True).stdout.split()
        if not listed:
            break
        for pid in listed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.05)
    subprocess.run(["userdel", "--remove", name], capture_output=True)


@pytest.fixture
def shared_dir(throwaway_user: ThrowawayUser) -> Iterator[Path]:
    """A folder in /tmp that the throwaway user owns, as on a shared machine."""
    path = Path(tempfile.mkdtemp(prefix="lineprobe-shared-", dir="/tmp"))
    try:
        path.chmod(0o755)
        os.chown(path, throwaway_user.uid, throwaway_user.gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "lineprobe.cli", "serve"]),
)
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """``lineprobe serve`` with the real agent, initialized as VS Code initializes it with this
    checkout as its workspace; the ``lineprobe/heat`` notifications it sends kept in
    ``client.heat``, in order."""
    lsp_client.heat: list[dict[str, Any]] = []  # type: ignore[misc]

    @lsp_client.feature("lineprobe/heat")
    def on_heat(client: LanguageClient, params: Any) -> None:
        client.heat.append(as_plain(params))  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_code_lens_refresh(client: LanguageClient, params: None) -> None:
        return None

    @lsp_client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_inlay_hint_refresh(client: LanguageClient, params: None) -> None:
        return None

    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        workspace_folders=[types.WorkspaceFolder(uri=ROOT.as_uri(), name="lineprobe")],
        root_uri=ROOT.as_uri(),
        initialization_options={"diagnosticThreshold": 1.0},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()
