"""A source line's hits in the editor, replayed (tests/recordings, ``hits-primes``): primes.c's
``++count;`` counted for a second in the running primes, by a uprobe at its site; the count is
said, and the line and its callers are shown as stack counts are. A profiled line offers to
count its hits in the profiled process."""

from __future__ import annotations

from lsprotocol import types

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import RECORDED_ROOT, Replay

PRIMES_C = WORKLOADS / "primes" / "primes.c"
URI = PRIMES_C.as_uri()
COUNT_LINE = marked_line(PRIMES_C, "++count;")
ANY_PID = 4242


async def test_a_line_s_hits_are_counted_and_shown_on_it(replay: Replay) -> None:
    session = await replay("hits-primes")
    spec = f"primes.c:{COUNT_LINE}"
    result = await session.command(
        "lineprobe.countLineHits", {"pid": ANY_PID, "lines": [spec], "durationMs": 1000}
    )
    assert result["ok"] is True, result
    (counted,) = result["line_hits"]
    assert counted["line"] == spec and counted["hits"] == result["samples"] > 100, counted
    assert result["event"] == spec and result["unit"] == "hits"
    assert URI in result["files"]
    said = [m.message for m in session.client.messages if m.type == types.MessageType.Info]
    assert f"lineprobe: {spec}: {counted['hits']:,} hits" in " ".join(said), said

    text = await session.hover(URI, COUNT_LINE - 1)
    assert text is not None and f"**lineprobe: {spec}**" in text and " hits of pid " in text, text
    assert "CPU" not in text, text
    if session.supports("text_document.inlay_hint"):  # the count itself: every hit is counted
        hint = next(h for h in await session.inlay_hints(URI) if h.position.line == COUNT_LINE - 1)
        assert str(hint.label) == f"{counted['hits']:,} hits", hint
    heat = [h for h in session.heat if h["uri"] == URI]
    assert heat and heat[-1]["samples"] == counted["hits"], heat[-1:]

    # The counted process is the one shown: any line of its file offers a count of its own.
    divisible = marked_line(PRIMES_C, "return n % d == 0;")
    actions = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(types.Position(divisible - 1, 0), types.Position(divisible - 1, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    (count,) = [a for a in actions or [] if isinstance(a, types.Command)]
    pid = result["target"]["pid"]
    assert count.title == f"Count hits of line {divisible} in pid {pid}"
    assert count.command == "lineprobe.countLineHits"
    # The line by the path the line tables give (the recording's checkout), not the editor's.
    built_from = f"{RECORDED_ROOT}/workloads/primes/primes.c"
    assert list(count.arguments or []) == [{"pid": pid, "lines": [f"{built_from}:{divisible}"]}]


async def test_a_line_given_by_its_whole_path_is_counted(replay: Replay) -> None:
    """As an editor sends it (Count Hits of This Line): the workspace's file, which the session's
    path mapping says was built in the recording's checkout, named as the line tables name it."""
    session = await replay("hits-primes")
    whole = f"{PRIMES_C}:{COUNT_LINE}"
    result = await session.command("lineprobe.countLineHits", {"pid": ANY_PID, "lines": [whole]})
    assert result["ok"] is True, result
    (counted,) = result["line_hits"]
    assert counted["line"] == f"{RECORDED_ROOT}/workloads/primes/primes.c:{COUNT_LINE}", counted
    assert counted["hits"] == result["samples"] > 100, counted
    assert counted["uris"] == [] and counted["sources"] == [], "a replay keeps no sites"


async def test_a_count_without_lines_or_of_a_command_is_a_bad_request(replay: Replay) -> None:
    session = await replay("hits-primes")
    for arguments, said in (
        ({"pid": ANY_PID}, '"lines"'),
        ({"pid": ANY_PID, "lines": ["primes.c"]}, "is not FILE:LINE"),
        ({"command": ["./primes"], "lines": ["primes.c:41"]}, "running process"),
    ):
        result = await session.command("lineprobe.countLineHits", arguments)
        assert result["ok"] is False and result["error"]["code"] == "bad-request", result
        assert said in result["error"]["message"], result
