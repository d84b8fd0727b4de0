"""Source maps: compiled JavaScript's lines back to the TypeScript they were written in, with
tsc's own output as the ground truth (every statement line of hot.ts found again from its
JavaScript), and a map that cannot be used costing a message only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lineprobe.symbolization.source_maps import SourceMapError, SourceMaps, _vlq, parse_source_map

from tests.conftest import BUILD, WORKLOADS

HOT_TS = WORKLOADS / "jit_ts" / "hot.ts"
HOT_JS = BUILD / "jit_ts" / "hot.js"


def test_vlq_numbers_decode_as_the_format_says() -> None:
    # A=0, C=1, D=-1, gB=16 (a continuation digit), 2H=123, 3H=-123.
    assert _vlq("AAAA") == [0, 0, 0, 0]
    assert _vlq("CDgB") == [1, -1, 16]
    assert _vlq("2H3H") == [123, -123]
    with pytest.raises(SourceMapError):
        _vlq("g")  # a continuation with nothing after it
    with pytest.raises(SourceMapError):
        _vlq("A!")


def test_every_line_of_tsc_s_javascript_goes_back_to_its_typescript_line() -> None:
    """For each JavaScript line whose code is a hot.ts line's with the types erased, the map gives
    that hot.ts line: 11 lines here, the hot loop's among them."""
    maps = SourceMaps()
    ts_lines = HOT_TS.read_text().splitlines()
    checked = 0
    for number, text in enumerate(HOT_JS.read_text().splitlines(), 1):
        code = text.strip()
        if not code or code.startswith("//") or code in ("}", '"use strict";'):
            continue
        column = len(text) - len(text.lstrip()) + 1
        found = maps.original(str(HOT_JS), number, column)
        assert found is not None, (number, text)
        path, line = found
        assert path == str(HOT_TS)
        # The TypeScript line holds the same statement, types aside: every word of it.
        words = [
            w for w in code.replace(";", " ").replace("(", " ").replace(")", " ").split() if w.isidentifier()
        ]
        assert all(word in ts_lines[line - 1] for word in words), (number, text, line, ts_lines[line - 1])
        checked += 1
    assert checked >= 10 and maps.problems == []
    spin_js = next(n for n, t in enumerate(HOT_JS.read_text().splitlines(), 1) if "SPIN-LINE" in t)
    spin_ts = next(n for n, t in enumerate(ts_lines, 1) if "SPIN-LINE" in t)
    assert maps.original(str(HOT_JS), spin_js, 9) == (str(HOT_TS), spin_ts)


def test_an_inline_map_reads_as_the_file_beside_it(tmp_path: Path) -> None:
    tsc = shutil.which("tsc")
    assert tsc, "tsc missing: `make setup` installs Debian's node-typescript"
    shutil.copy(HOT_TS, tmp_path / "hot.ts")
    subprocess.run(
        [tsc, "--inlineSourceMap", "--strict", "--target", "es2020", "--module", "commonjs", "hot.ts"],
        cwd=tmp_path,
        check=True,
    )
    assert "data:application/json;base64," in (tmp_path / "hot.js").read_text()
    beside, inline = SourceMaps(), SourceMaps()
    for number in range(1, len(HOT_JS.read_text().splitlines()) + 1):
        expected = beside.original(str(HOT_JS), number, 1)
        found = inline.original(str(tmp_path / "hot.js"), number, 1)
        assert (found[1] if found else None) == (expected[1] if expected else None), number
        assert found is None or found[0] == str(tmp_path / "hot.ts")


def test_a_map_that_cannot_be_used_costs_a_message_and_keeps_the_javascript_line(tmp_path: Path) -> None:
    script = tmp_path / "app.js"
    script.write_text("run();\n//# sourceMappingURL=app.js.map\n")
    (tmp_path / "app.js.map").write_text("{not json")
    maps = SourceMaps()
    assert maps.original(str(script), 1, 1) is None
    assert len(maps.problems) == 1 and "not JSON" in maps.problems[0], maps.problems
    assert maps.original(str(script), 1, 1) is None and len(maps.problems) == 1, "read once"

    os.mkfifo(tmp_path / "fifo.map")  # a read would never end
    script.write_text("run();\n//# sourceMappingURL=fifo.map\n")
    os.utime(script, (1, 1))
    assert maps.original(str(script), 1, 1) is None and "not a regular file" in maps.problems[-1]

    script.write_text("run();\n//# sourceMappingURL=http://example.invalid/app.js.map\n")
    os.utime(script, (2, 2))
    assert maps.original(str(script), 1, 1) is None and "not a local file" in maps.problems[-1]


def test_an_index_map_s_sections_are_placed_at_their_offsets(tmp_path: Path) -> None:
    """Two sections: a.ts's map from the start, b.ts's from line 3 column 10 (on its first line
    only); each section's source indexes are its own."""
    index = {
        "version": 3,
        "sections": [
            {
                "offset": {"line": 0, "column": 0},
                "map": {"version": 3, "sources": ["a.ts"], "mappings": "AAAA;AACA"},
            },
            {
                "offset": {"line": 2, "column": 10},
                "map": {"version": 3, "sources": ["b.ts"], "mappings": "AAEA;AACA"},
            },
        ],
    }
    joined = parse_source_map(json.dumps(index), str(tmp_path / "bundle.js.map"))
    a, b = str(tmp_path / "a.ts"), str(tmp_path / "b.ts")
    assert joined.original(1, 1) == (a, 1) and joined.original(2, 1) == (a, 2)
    assert joined.original(3, 5) == (b, 3)  # before a line's first segment: that segment
    assert joined.original(3, 11) == (b, 3)  # b.ts's segment at column 10 (0-based) of line 3
    assert joined.original(4, 1) == (b, 4)  # its second line, no column offset
    with pytest.raises(SourceMapError, match="index map inside"):
        parse_source_map(
            json.dumps({"version": 3, "sections": [{"offset": {"line": 0, "column": 0}, "map": index}]}), "x"
        )


def test_sources_outside_the_file_system_are_not_followed(tmp_path: Path) -> None:
    bundled = parse_source_map(
        json.dumps({"version": 3, "sources": ["webpack://app/./src/a.ts", "b.ts"], "mappings": "AAAA,ECAA"}),
        str(tmp_path / "out.js.map"),
    )
    assert bundled.original(1, 1) is None  # webpack://: no file of ours
    assert bundled.original(1, 3) == (str(tmp_path / "b.ts"), 1)
    with pytest.raises(SourceMapError, match="url section"):
        parse_source_map(
            json.dumps({"version": 3, "sections": [{"offset": {"line": 0, "column": 0}, "url": "a.map"}]}),
            "x.map",
        )
    with pytest.raises(SourceMapError, match="outside its sources"):
        parse_source_map(json.dumps({"version": 3, "sources": ["a.ts"], "mappings": "ACAA"}), "x.map")
