"""Starting the agent: the launcher path, and failures explained."""

from __future__ import annotations

import sys

import pytest
from lineprobe import agent_client
from lineprobe.agent_client import AgentConnection, AgentError, agent_command


def test_privileged_callers_start_the_agent_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: True)
    assert agent_command("sudo -n") == [sys.executable, "-m", "lineprobe_agent"]


def test_unprivileged_callers_go_through_the_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: False)
    assert agent_command("env -i") == ["env", "-i", sys.executable, "-m", "lineprobe_agent"]
    monkeypatch.setenv("LINEPROBE_LAUNCHER", "env")
    assert agent_command()[0] == "env"


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
        AgentConnection("sh -c 'echo \"sudo: a password is required\" >&2; exit 1' launcher")
    assert "asked for a password" in caught.value.message


def test_an_unprivileged_agent_refuses_to_profile_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Started as `nobody`-like (capabilities dropped), the agent answers no-privileges."""
    import shutil

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed: apt-get install util-linux")
    monkeypatch.setattr(agent_client, "has_tracing_privileges", lambda: False)
    with (
        AgentConnection("setpriv --inh-caps=-all --bounding-set=-all --") as agent,
        pytest.raises(AgentError) as caught,
    ):
        agent.profile(1, 0.5)
    assert caught.value.code == "no-privileges"
    assert "without CAP_BPF/CAP_PERFMON" in caught.value.message
