"""`lineprobe cache`: what the on-disk DWARF index holds, and clearing it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from lineprobe.symbolization.elf_image import ElfImage

from tests.conftest import LINEPROBE


def lineprobe(cache: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*LINEPROBE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, LINEPROBE_CACHE_DIR=str(cache)),
    )
    return done.stdout


def test_cache_lists_each_build_id_and_clear_empties_it(workloads: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    older = cache / "dwarf-v1" / "ab" / "cdef"  # a layout of an older version
    older.mkdir(parents=True)
    (older / "unit-0.lpix").write_bytes(b"\0" * 1000)
    (cache / "notes.txt").parent.mkdir(exist_ok=True)
    (cache / "notes.txt").write_text("not the cache's")
    binary = workloads / "inlined-O2"
    image = ElfImage(str(binary))
    main = f"0x{image.symbols.starts[image.symbols.names.index('main')]:x}\n"
    image.close()
    lineprobe(cache, "symbolize", "-e", str(binary), stdin=main)
    shown = json.loads(lineprobe(cache, "cache", "--json"))
    assert shown["folder"] == str(cache)
    current = [b for b in shown["binaries"] if b["current"]]
    assert len(current) == 1 and current[0]["units"] == 1 and current[0]["bytes"] > 0
    assert [b["build_id"] for b in shown["binaries"] if not b["current"]] == ["abcdef"]
    text = lineprobe(cache, "cache")
    assert current[0]["build_id"] in text and "older layouts" in text
    cleared = json.loads(lineprobe(cache, "cache", "--clear", "--json"))
    assert cleared["freed_bytes"] == sum(b["bytes"] for b in shown["binaries"])
    assert sorted(p.name for p in cache.iterdir()) == ["notes.txt"], "only the cache's own folders go"
    assert json.loads(lineprobe(cache, "cache", "--json"))["binaries"] == []
    again = json.loads(lineprobe(cache, "symbolize", "-e", str(binary), "--json", stdin=main))
    assert again["frames"][-1]["function"] == "main" and again["frames"][-1]["line"]
