"""Shared fixtures: built workloads, running targets, and the privileged-test gate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ROOT / "workloads"
BUILD = WORKLOADS / "build"
LINEPROBE = [sys.executable, "-m", "lineprobe.cli"]


def privilege_problems() -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append("not root: run `sudo make test` (or the test as root)")
    try:
        import bcc  # noqa: F401
    except ImportError:
        problems.append(
            "bcc not importable: run `make setup` (installs python3-bpfcc and links it into .venv)"
        )
    if (
        not Path("/sys/kernel/tracing/events").is_dir()
        and not Path("/sys/kernel/debug/tracing/events").is_dir()
    ):
        problems.append(
            "tracefs not mounted: `mount -t tracefs nodev /sys/kernel/tracing` (make setup does it)"
        )
    return problems


def pytest_configure(config: pytest.Config) -> None:
    # Every test run decodes DWARF afresh, into its own cache: a cache left by an
    # older build of lineprobe must not answer for the code under test.
    if "LINEPROBE_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["LINEPROBE_CACHE_DIR"] = tempfile.mkdtemp(prefix="lineprobe-test-cache-")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("privileged") is None:
        return
    problems = privilege_problems()
    if problems:
        message = "privileged test cannot run: " + "; ".join(problems)
        if os.environ.get("LINEPROBE_REQUIRE_PRIVILEGED") == "1":
            pytest.fail(message + " (LINEPROBE_REQUIRE_PRIVILEGED=1: a skip here is a failure)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def workloads() -> Path:
    """The built workloads (built here if `make` has not run yet)."""
    subprocess.run(["make", "-s", "-C", str(WORKLOADS)], check=True)
    return BUILD


def node() -> str:
    """The Node.js that runs the JIT workloads (`make setup` installs Debian's nodejs)."""
    found = shutil.which("node") or shutil.which("nodejs")
    assert found, "Node.js missing: `make setup` installs Debian's nodejs"
    return found


def marked_line(source: Path, marker: str) -> int:
    """1-based number of the first code line of ``source`` that is or carries ``marker``.

    A marker of the form ``HOT-LINE`` sits in a trailing comment; any other
    marker is the whole statement (so the header comment that quotes it does
    not count).
    """
    for number, text in enumerate(source.read_text().splitlines(), start=1):
        code = text.split("/*")[0].split("//")[0].strip()
        tagged = bool(code) and (f"/* {marker} */" in text or f"// {marker}" in text)
        if text.strip() == marker or (marker.isupper() and tagged):
            return number
    raise AssertionError(f"{marker!r} not found in {source}")


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start workload processes; every one started is ended after the test, by its PID."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        *argv: str | Path, wait_s: float = 0.2, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        environment = {**os.environ, **env} if env else None
        argv_text = [str(a) for a in argv]
        process = subprocess.Popen(argv_text, stdout=subprocess.DEVNULL, cwd=cwd, env=environment)
        started.append(process)
        time.sleep(wait_s)
        assert process.poll() is None, f"{argv[0]} exited at once with {process.returncode}"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


@pytest.fixture(params=["accelerated", "pyelftools"])
def dwarf_decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once with the C accelerator for DWARF decoding and once with pyelftools alone."""
    from lineprobe.symbolization.dwarf_accel import LIBRARY, Library

    if request.param == "accelerated":
        monkeypatch.setenv("LINEPROBE_DWARF_ACCEL", "1")
        assert Library.load() is not None, f"{LIBRARY} missing or stale: run `make accel`"
    else:
        monkeypatch.setenv("LINEPROBE_DWARF_ACCEL", "0")
    return str(request.param)


MULTI_UNIT_SOURCES = {
    "main.c": "int twice(int);\nint square(int);\nint main(int argc, char **argv) {\n"
    "    (void)argv;\n    return twice(argc) + square(argc);\n}\n",
    "twice.c": "static inline int add(int a, int b) { return a + b; }\n"
    "int twice(int x) { return add(x, x); }\n",
    "square.c": "static inline int mul(int a, int b) { return a * b; }\n"
    "int square(int x) { return mul(x, x); }\n",
}


@pytest.fixture
def multi_unit(tmp_path: Path) -> Path:
    """A program of three compilation units (the workloads have one each)."""
    sources = tmp_path / "src"
    sources.mkdir()
    for name, text in MULTI_UNIT_SOURCES.items():
        (sources / name).write_text(text)
    binary = tmp_path / "multi"
    subprocess.run(
        ["gcc", "-g", "-O2", "-o", str(binary), *sorted(str(sources / n) for n in MULTI_UNIT_SOURCES)],
        check=True,
    )
    return binary
