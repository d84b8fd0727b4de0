"""lineprobe's JVMTI agent built from its C source for the JDK it serves, once, and a JRE or a
missing compiler said in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lineprobe.runtimes.jvmti_agent import built_agent, java_home


def test_the_agent_is_built_once_per_source_and_jdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = shutil.which("java")
    assert java, "java missing: `make setup` installs openjdk-17-jdk-headless"
    monkeypatch.setenv("LINEPROBE_CACHE_DIR", str(tmp_path))
    first = built_agent("java")
    assert first.problem is None and first.library is not None and first.library.parent == tmp_path / "jvmti"
    assert b"Agent_OnAttach" in first.library.read_bytes() and b"Agent_OnLoad" in first.library.read_bytes()
    built_at = first.library.stat().st_mtime_ns
    assert built_agent(java).library == first.library and first.library.stat().st_mtime_ns == built_at
    assert java_home("java") == java_home(java)


def test_a_jre_without_headers_or_no_compiler_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEPROBE_CACHE_DIR", str(tmp_path / "cache"))
    jre = tmp_path / "jre" / "bin"
    jre.mkdir(parents=True)
    (jre / "java").write_text("#!/bin/sh\n")
    assert "a JRE, not a JDK" in (built_agent(str(jre / "java")).problem or "")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    failed = built_agent(shutil.which("java") or "java")
    assert failed.library is None and "did not build" in (failed.problem or "")
