"""Leak traces in the editor, replayed: workloads/build/wordcount's shared_ptr cycle keeps the blocks
of both make_shared calls (MAKE-SHARED-READER, MAKE-SHARED-COUNTER) and of word_count's copy of the
words (WORDS-COPY) outstanding, more every round."""

from __future__ import annotations

import re

from lsprotocol import types

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import Replay

WORDCOUNT_CC = WORKLOADS / "wordcount" / "wordcount.cc"
URI = WORDCOUNT_CC.as_uri()
SUSPECTS = ("MAKE-SHARED-READER", "MAKE-SHARED-COUNTER", "WORDS-COPY")


async def test_leak_suspects_are_warnings_on_the_allocating_lines(replay: Replay) -> None:
    session = await replay("leaks-wordcount")
    result = await session.command("lineprobe.findLeaks", {"pid": 4242, "durationMs": 2000})
    assert result["ok"] is True, result
    assert result["files"] == [URI]
    diagnostics = session.client.diagnostics[URI]
    # Held allocations are shown on hover and as hints, never as warnings.
    assert {d.code for d in diagnostics} == {"leak-suspect"}
    assert all(d.severity == types.DiagnosticSeverity.Warning for d in diagnostics)
    warnings = {d.range.start.line: d for d in diagnostics}
    for marker in SUSPECTS:
        line = marked_line(WORDCOUNT_CC, marker) - 1
        assert line in warnings, (marker, sorted(warnings))
        assert re.fullmatch(
            r"[\d.]+ [KMG]?i?B in [\d,]+ allocations still outstanding, growing .+/s, oldest \d+ s",
            warnings[line].message,
        ), warnings[line].message
        assert warnings[line].data["growth_bytes_per_s"] > 0

    copy_line = marked_line(WORDCOUNT_CC, "WORDS-COPY") - 1
    copy = warnings[copy_line]
    related = [(r.location.uri, r.message) for r in copy.related_information or []]
    assert (URI, "allocated through main") in related, related  # word_count is called from main's round
    text = await session.hover(URI, copy_line, 8)
    assert text is not None
    assert "Outstanding bytes over time:" in text and "word_count" in text and "Stack:" in text
    # A light allocator: the governor tracked every allocation, nothing is estimated.
    assert "allocations were tracked" in text and "scaled up" not in text
    assert result["sampling"]["estimated"] is False

    if session.supports("text_document.inlay_hint"):
        hints = await session.inlay_hints(URI)
        assert any(h.position.line == copy_line and "outstanding" in str(h.label) for h in hints), [
            (h.position.line, h.label) for h in hints
        ]
