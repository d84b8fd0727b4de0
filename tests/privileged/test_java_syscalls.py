"""A Java line as the site of a failing system call, with real BPF: ``jconfig.Config`` (the
workshop's server lab in Java) opens a configuration file that never appears. The openat's ENOENT
is counted as often as the program tried, and its site is Config.java's CONFIG-OPEN line, in a
method the interpreter runs (named from its frame) as in one the JIT compiled (from the agent's
jitdump)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WORKLOADS, marked_line
from tests.privileged.test_java_lines import java
from tests.privileged.test_syscalls import syscalls_json

pytestmark = pytest.mark.privileged

CONFIG_JAVA = WORKLOADS / "jconfig" / "jconfig" / "Config.java"


@pytest.mark.parametrize("flags", [["-Xint"], []], ids=["interpreted", "jit"])
def test_a_failing_open_sits_on_its_java_line(workloads: Path, tmp_path: Path, flags: list[str]) -> None:
    attempts = 3000
    missing = str(tmp_path / "never.conf")
    command = [java(), *flags, "-cp", str(workloads / "jconfig"), "jconfig.Config", str(attempts), missing]
    report = syscalls_json("--duration", "60", "--", *command, timeout=120)
    failure = next(f for f in report["failures"] if f["path"] == missing)
    assert (failure["syscall"], failure["errno"], failure["count"]) == ("openat", "ENOENT", attempts), failure
    site = failure["site"]
    assert site is not None, failure["stack"]
    assert (site["function"], site["line"]) == (
        "jconfig.Config.load",
        marked_line(CONFIG_JAVA, "CONFIG-OPEN"),
    ), site
    assert site["path"].endswith("jconfig/Config.java"), site
    # Below it, the JDK's own frames, named too: the site is the first frame of the program's.
    java_frames = [f["function"] for f in failure["stack"] if (f.get("path") or "").endswith(".java")]
    assert any(name.startswith("java.io.FileInputStream") for name in java_frames), failure["stack"]
