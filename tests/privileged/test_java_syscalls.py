"""A Java line as the site of a failing system call, with real BPF: ``jconfig.Config`` (the
workshop's server lab in Java) opens a configuration file that never appears. The openat's ENOENT
is counted as often as the program tried, and its site is Config.java's CONFIG-OPEN line, in a
method the interpreter runs (named from its frame) as in one the JIT compiled (from the agent's
jitdump)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

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


async def test_the_failing_open_is_a_diagnostic_in_config_java(
    client: LanguageClient, workloads: Path, tmp_path: Path
) -> None:
    """In the editor: the workspace's jconfig/Config.java is found by its package path."""
    missing = str(tmp_path / "never.conf")
    command = [java(), "-Xint", "-cp", str(workloads / "jconfig"), "jconfig.Config", "2000", missing]
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="lineprobe.traceSyscalls", arguments=[{"command": command, "durationMs": 30000}]
        )
    )
    assert result["ok"] is True, result
    diagnostics = client.diagnostics.get(CONFIG_JAVA.as_uri(), [])
    failure = next((d for d in diagnostics if d.code == "syscall-failure"), None)
    assert failure is not None, client.diagnostics.keys()
    assert failure.range.start.line + 1 == marked_line(CONFIG_JAVA, "CONFIG-OPEN")
    assert failure.message.startswith(f'openat("{missing}") failed with ENOENT 2,000 times'), failure.message
