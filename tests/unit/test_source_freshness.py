"""Issue 3, item 1: sources that changed since the build are flagged, never silently mapped."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import LINEPROBE, WORKLOADS


def build(tmp_path: Path, compiler: str, *flags: str) -> tuple[Path, Path]:
    source = tmp_path / "inlined.c"
    shutil.copy(WORKLOADS / "inlined" / "inlined.c", source)
    binary = tmp_path / f"inlined-{compiler}"
    subprocess.run([compiler, "-g", "-O2", *flags, "-o", str(binary), str(source)], check=True)
    return source, binary


def symbolize_main(binary: Path, tmp_path: Path) -> str:
    address = subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True).stdout
    main = next(line.split()[0] for line in address.splitlines() if line.endswith(" main"))
    done = subprocess.run(
        [*LINEPROBE, "symbolize", "-e", str(binary), f"0x{int(main, 16) + 4:x}"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LINEPROBE_CACHE_DIR": str(tmp_path / "cache")},
    )
    return done.stderr


def test_a_source_with_another_md5_is_flagged_even_with_an_old_date(tmp_path: Path) -> None:
    source, binary = build(tmp_path, "clang", "-gdwarf-5")
    assert "MD5" not in symbolize_main(binary, tmp_path)
    source.write_text(source.read_text() + "\n/* edited after the build */\n")
    past = time.time() - 3600
    os.utime(source, (past, past))  # older than the binary: only the checksum can tell
    assert f"{source} is not the file {binary} was built from (its MD5 differs" in symbolize_main(
        binary, tmp_path
    )


def test_a_source_newer_than_the_binary_is_flagged_without_md5(tmp_path: Path) -> None:
    source, binary = build(tmp_path, "gcc")  # gcc writes no MD5: the date decides
    assert "modified after" not in symbolize_main(binary, tmp_path)
    future = time.time() + 60
    os.utime(source, (future, future))
    assert f"{source} was modified after {binary} was built" in symbolize_main(binary, tmp_path)
