"""The install a user makes, not a checkout: the wheel built from this tree, installed with pip into
a fresh virtualenv that sees the system's packages (Debian's python3-bpfcc: bcc is not on PyPI), as
``pipx install --system-site-packages`` does (README, "Install"), and run from another folder. The
wheel carries the DWARF accelerator compiled at its build and the agent's installer; the installed
lineprobe profiles primes to its hot line with its own agent and its own accelerator.

Building and installing take a minute or two: pip fetches hatchling and lineprobe's dependencies
from the package index, as a user's install does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, WORKLOADS, marked_line

pytestmark = pytest.mark.privileged

SYSTEM_PYTHON = "/usr/bin/python3"
"""Debian's: the Python its python3-bpfcc is built for."""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        check=True,
        timeout=900,
    )
    return next(folder.glob("lineprobe-*.whl"))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user-install") / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(folder)], check=True)
    subprocess.run(
        [
            str(folder / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        timeout=900,
    )
    return folder


def outside_the_checkout(venv: Path) -> dict[str, str]:
    """The environment of a user's shell: the install's bin on PATH, nothing of the checkout's."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    paths = [p for p in env.get("PATH", "").split(":") if p and not p.startswith(str(ROOT))]
    env["PATH"] = ":".join([str(venv / "bin"), *paths])
    return env


def test_the_wheel_carries_the_accelerator_and_the_agent_installer(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "lineprobe/symbolization/liblineprobe_dwarf.so" in names
    assert "lineprobe_agent/install-agent.sh" in names and "lineprobe_agent/bpf/lineprobe.h" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), sorted(names)[:5]
    assert wheel.name.endswith("-py3-none-linux_x86_64.whl"), wheel.name  # ctypes, not the C API


def test_an_installed_lineprobe_profiles_a_workload_to_its_hot_line(
    venv: Path, workloads: Path, tmp_path: Path
) -> None:
    env = outside_the_checkout(venv)
    python = str(venv / "bin" / "python")
    where = subprocess.run(
        [
            python,
            "-c",
            "import lineprobe, lineprobe_agent, bcc; print(lineprobe.__file__, lineprobe_agent.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert all(path.startswith(str(venv)) for path in where), where  # the installed code, not ROOT's

    capabilities = subprocess.run(
        ["lineprobe", "capabilities", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert capabilities.returncode == 0, capabilities.stderr
    decoding = json.loads(capabilities.stdout)["dwarf_decoding"]
    assert decoding.startswith("the C accelerator") and str(venv) in decoding, decoding

    done = subprocess.run(
        ["lineprobe", "profile", "--json", "-F", "499", "--", str(workloads / "primes"), "60000"],
        capture_output=True,
        text=True,
        env={**env, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    source = WORKLOADS / "primes" / "primes.c"
    hottest = report["lines"][0]
    assert (hottest["path"], hottest["line"], hottest["function"]) == (
        str(source),
        marked_line(source, "return n % d == 0;"),
        "is_divisible",
    ), report["lines"][:3]


def test_the_installed_agent_installer_installs_the_installed_agent(venv: Path, tmp_path: Path) -> None:
    """``lineprobe setup-agent`` from a user install runs the installer the wheel carries: it copies
    the agent's package it sits in (root-owned, without itself) into the agent's own virtualenv."""
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import lineprobe_agent; print(lineprobe_agent.__file__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    ).parent
    prefix, entry = tmp_path / "agent", tmp_path / "libexec" / "lineprobe-agent"
    done = subprocess.run(
        ["bash", str(site / "install-agent.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "LINEPROBE_AGENT_PREFIX": str(prefix), "LINEPROBE_AGENT_ENTRY": str(entry)},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    copied = next(prefix.glob("venv/lib/python3*/site-packages/lineprobe_agent"))
    assert (copied / "__main__.py").is_file() and (copied / "bpf" / "lineprobe.h").is_file()
    assert not (copied / "install-agent.sh").exists()
    assert entry.is_file() and f"{prefix}/venv/bin/python" in entry.read_text()
    assert copied.stat().st_uid == 0 and not copied.stat().st_mode & 0o022  # root's, not writable by others
