"""Starting the agent: the launcher path, and failures explained."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lineprobe.capture import spawned as agent_client
from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.spawned import SpawnedAgent, agent_command, starts_without_asking


def test_privileged_callers_start_the_agent_directly_and_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: True)
    assert agent_command("sudo -n") == [sys.executable, "-I", "-m", "lineprobe_agent"]


def test_unprivileged_callers_start_the_installed_agent_through_the_launcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The launcher starts the root-owned entry, never this installation's interpreter."""
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: False)
    monkeypatch.setenv("LINEPROBE_AGENT", "/bin/true --x")
    assert agent_command("env -i") == ["env", "-i", "/bin/true", "--x"]
    monkeypatch.setenv("LINEPROBE_LAUNCHER", "env")
    assert agent_command()[0] == "env"
    monkeypatch.delenv("LINEPROBE_AGENT")
    if Path(agent_client.INSTALLED_AGENT).exists():
        assert agent_command("sudo -n") == ["sudo", "-n", agent_client.INSTALLED_AGENT]


def test_a_missing_installed_agent_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: False)
    monkeypatch.setenv("LINEPROBE_AGENT", "/nonexistent/lineprobe-agent")
    with pytest.raises(AgentError) as caught:
        agent_command("sudo -n")
    assert "/nonexistent/lineprobe-agent` is not installed" in caught.value.message
    assert caught.value.hint is not None and "make install-agent" in caught.value.hint


def test_a_missing_launcher_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: False)
    with pytest.raises(AgentError) as caught:
        agent_command("no-such-launcher-xyz -n")
    assert caught.value.code == "no-privileges"
    assert "no-such-launcher-xyz" in caught.value.message and caught.value.hint


def test_a_launcher_that_fails_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: False)
    # `sh -c '...'` stands in for `sudo -n` without a rule: it prints sudo's message and fails.
    with pytest.raises(AgentError) as caught:
        SpawnedAgent("sh -c 'echo \"sudo: a password is required\" >&2; exit 1' launcher")
    assert "asked for a password" in caught.value.message


def test_an_unprivileged_agent_refuses_to_profile_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Started as `nobody`-like (capabilities dropped), the agent answers no-privileges."""
    import shutil

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed: apt-get install util-linux")
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: False)
    monkeypatch.setenv("LINEPROBE_AGENT", f"{sys.executable} -I -m lineprobe_agent")
    with (
        SpawnedAgent("setpriv --inh-caps=-all --bounding-set=-all --") as agent,
        pytest.raises(AgentError) as caught,
    ):
        agent.trace("profile", 1, 0.5, {"frequency": 99})
    assert caught.value.code == "no-privileges"
    assert "without CAP_BPF/CAP_PERFMON" in caught.value.message


def test_an_agent_is_started_unasked_only_where_no_one_is_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server prepares an agent at start only with privileges, the service set up, or a
    launcher chosen; the default `sudo -n` waits for the user's first trace."""
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: False)
    monkeypatch.delenv("LINEPROBE_LAUNCHER", raising=False)
    monkeypatch.setenv("LINEPROBE_AGENT_SOCKET", str(tmp_path / "agent.sock"))
    assert not starts_without_asking()
    assert starts_without_asking("sudo -n")
    monkeypatch.setenv("LINEPROBE_LAUNCHER", "service")
    assert starts_without_asking()
    monkeypatch.delenv("LINEPROBE_LAUNCHER")
    (tmp_path / "agent.sock").touch()
    assert starts_without_asking()
    (tmp_path / "agent.sock").unlink()
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: True)
    assert starts_without_asking()
