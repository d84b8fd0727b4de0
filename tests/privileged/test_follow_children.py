"""`lineprobe profile --follow-children`: the processes the target starts, with real BPF."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import LINEPROBE, WORKLOADS, marked_line

pytestmark = pytest.mark.privileged

PRIMES_C = WORKLOADS / "primes" / "primes.c"


def profile_json(*args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [*LINEPROBE, "profile", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def samples_by_thread_name(report: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for thread in report["threads"]:
        counts[thread["name"]] = counts.get(thread["name"], 0) + thread["self"]
    return counts


def test_a_shells_child_is_profiled_on_its_own_lines(workloads: Path) -> None:
    # `; true` keeps sh from exec-ing primes: primes is a child of the target.
    script = f"{workloads / 'primes'} 100000 3; true"
    report = profile_json("--follow-children", "--", "sh", "-c", script)
    hottest = report["lines"][0]
    assert (hottest["path"], hottest["line"]) == (str(PRIMES_C), marked_line(PRIMES_C, "return n % d == 0;"))
    by_name = samples_by_thread_name(report)
    assert by_name.get("primes", 0) > by_name.get("sh", 0), by_name
    # The child's stacks sit under a frame naming it.
    process = [f for f in report["functions"] if f["function"] == "primes" and f["path"] is None]
    assert process and process[0]["total"] >= by_name["primes"]
    assert report["counters"]["children_not_followed"] == 0

    # Without the flag only the shell, which waits: no primes.c line (and likely no sample at all,
    # which the CLI reports as a failure, with a hint naming the flag).
    without = subprocess.run(
        [*LINEPROBE, "profile", "--json", "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not any(line["path"] == str(PRIMES_C) for line in json.loads(without.stdout)["lines"])
    if without.returncode != 0:
        assert "--follow-children" in without.stderr


def test_a_followed_target_keeps_all_its_threads(workloads: Path) -> None:
    report = profile_json(
        "--follow-children", "--", str(workloads / "primes"), "100000", "3", env={"OMP_NUM_THREADS": "2"}
    )
    assert len({t["tid"] for t in report["threads"] if t["name"] == "primes"}) == 2, report["threads"]
    # Threads are not processes: no frame naming a process, every sample on the target's lines.
    assert not any(f["function"] == "primes" and f["path"] is None for f in report["functions"])
    hottest = report["lines"][0]
    assert (hottest["path"], hottest["line"]) == (str(PRIMES_C), marked_line(PRIMES_C, "return n % d == 0;"))


def test_a_caller_who_is_not_root_may_not_follow_children() -> None:
    from lineprobe_agent import protocol
    from lineprobe_agent.access import Caller
    from lineprobe_agent.tracer_registry import run_profile
    from lineprobe_agent.tracing import RequestFailed, Tracing, WholeSystem

    def no_program(*_: object) -> None:
        raise AssertionError("nothing is compiled for a refused request")

    session = SimpleNamespace(
        access=SimpleNamespace(caller=Caller(os.getpid(), 1000, 1000, ())), program=no_program
    )
    tracing = Tracing(session, 1, 1.0, WholeSystem(), 0.0)  # type: ignore[arg-type]
    with pytest.raises(RequestFailed) as refused:
        run_profile(tracing, protocol.ProfileRequest(id=1, pid=os.getpid(), follow_children=True))
    assert refused.value.code == "permission-denied"
    assert "following children needs root" in refused.value.message


async def test_the_editor_follows_a_launched_shells_child_when_asked(
    client: LanguageClient, workloads: Path
) -> None:
    """``lineprobe.profile`` with ``followChildren`` (the extension's ``lineprobe.followChildren``
    setting): the hot line of the shell's child is a diagnostic in primes.c; without it, none."""
    script = f"{workloads / 'primes'} 100000 3; true"
    uri = PRIMES_C.as_uri()
    hot = marked_line(PRIMES_C, "return n % d == 0;") - 1

    async def profiled(follow: bool) -> dict:
        request = {"command": ["sh", "-c", script], "durationMs": 60_000, "followChildren": follow}
        return await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="lineprobe.profile", arguments=[request])
        )

    followed = await profiled(True)
    assert followed["ok"] is True, followed
    assert followed["top_lines"][0]["line"] == hot + 1 and followed["top_lines"][0]["path"] == str(PRIMES_C)
    hottest = max(client.diagnostics[uri], key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == hot
    alone = await profiled(False)
    assert not any(line["path"] == str(PRIMES_C) for line in alone.get("top_lines", [])), alone
