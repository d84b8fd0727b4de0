"""Two captures compared in the editor (``lineprobe.compareCaptures``), with real BPF: two builds
of primes that differ only in is_divisible's division (``primes-wide`` divides in 64 bits, which
costs more), the cheaper one also given half the range (about a third of the divisions), each
profiled to its exit and saved, then compared by a language server session. The change is made
that large so that no drift of a shared machine hides it (test_diff.py measures the division's own
change against the CPU time).
The editor's figures must be the CLI's (``lineprobe diff --json`` on the same files), and the
hot line must show colder: as heat of its own, a diagnostic, an inlay hint, a hover with both
figures and a differential flame graph."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import LINEPROBE, WORKLOADS, marked_line

pytestmark = pytest.mark.privileged

PRIMES_C = WORKLOADS / "primes" / "primes.c"
HOT = marked_line(PRIMES_C, "return n % d == 0;")


def saved(program: Path, limit: int, capture: Path) -> None:
    """``program`` profiled to its exit at 499 Hz on one thread (up to 3 s), kept in ``capture``."""
    done = subprocess.run(
        [*LINEPROBE, "profile", "-F", "499", "--save", str(capture), "--", str(program), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr


async def command(client: LanguageClient, name: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(arguments))
    )


async def test_the_cheaper_build_shows_its_hot_line_colder_with_the_clis_figures(
    client: LanguageClient, workloads: Path, tmp_path: Path
) -> None:
    # What is checked here is that the editor shows the CLI's figures.
    before, after = tmp_path / "wide.lpcap", tmp_path / "narrow.lpcap"
    saved(workloads / "primes-wide", 150000, before)
    saved(workloads / "primes", 75000, after)
    cli = subprocess.run(
        [*LINEPROBE, "diff", str(before), str(after), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    hot = next(line for line in expected["lines"] if line["path"] == str(PRIMES_C) and line["line"] == HOT)
    assert hot["delta"]["self"] < 0 and not hot["within_noise"], hot

    compared = await command(
        client, "lineprobe.compareCaptures", {"before": str(before), "after": str(after)}
    )
    assert compared["ok"] is True, compared
    assert compared["lines"][0] == expected["lines"][0] and compared["before"] == expected["before"]
    uri = PRIMES_C.as_uri()
    assert uri in compared["files"]

    # Heat of its own: the hot line's change, as a share of the before capture's CPU time.
    heat = [h for h in client.heat if h["uri"] == uri][-1]  # type: ignore[attr-defined]
    assert heat["mode"] == "diff"
    line = next(entry for entry in heat["lines"] if entry["line"] == HOT - 1)
    assert line["change_percent"] == pytest.approx(
        100 * hot["delta"]["self"] / expected["before"]["cost"], abs=1e-3
    )
    assert line["change_percent"] < 0 and line["within_noise"] is False
    assert heat["scale_percent"] >= abs(line["change_percent"])

    # A diagnostic on the hot line, colder, in Information; an inlay hint with the change.
    diagnostics = {d.range.start.line: d for d in client.diagnostics[uri]}
    finding = diagnostics[HOT - 1]
    assert finding.code == "cpu-colder" and finding.severity == types.DiagnosticSeverity.Information
    assert finding.message.startswith("colder: ") and f"{before.name} → {after.name}" in finding.message
    assert finding.data["before"] == pytest.approx(hot["before"]["self"], abs=1e-6)
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(200, 0)),
        )
    )
    assert any(h.position.line == HOT - 1 and str(h.label).startswith("-") for h in hints or [])

    # The hover gives both figures.
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(HOT - 1, 8)
        )
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    text = hover.contents.value
    assert "| self |" in text and f"{hot['before']['self_samples']:,}" in text
    assert f"{hot['after']['self_samples']:,}" in text

    # The flame graph is differential: is_divisible's frame lost time.
    graph = await command(client, "lineprobe.flameGraph")
    assert graph["ok"] is True and graph["differential"]["before"] == before.name

    def frames(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(f for child in node["children"] for f in frames(child))]

    divisible = [f for f in frames(graph["root"]) if f["function"] == "is_divisible"]
    assert divisible and sum(f["delta"] for f in divisible) < 0
    assert sum(f["before"] for f in divisible) > sum(f["after"] for f in divisible)

    # What works on one profile says why it does not here; Clear Results takes the heat off.
    refused = await command(client, "lineprobe.sliceProfile", {"startS": 0, "endS": 1})
    assert refused["ok"] is False and "comparison" in refused["error"]["message"]
    assert (await command(client, "lineprobe.clearResults"))["ok"] is True
    assert [h for h in client.heat if h["uri"] == uri][-1]["lines"] == []  # type: ignore[attr-defined]
