"""A capture keeps copies of the target's own ELF files, and only those: a process maps other
files too (node maps its jitdump, megabytes that name no code)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

from lineprobe.capture.recorded import Recorder, archive_folder
from lineprobe.model.mapping import MappedFile


def test_only_elf_files_are_copied_beside_the_capture(tmp_path: Path, workloads: Path) -> None:
    program = tmp_path / "primes"
    shutil.copy2(workloads / "primes", program)
    dump = tmp_path / "jit-1.dump"
    dump.write_bytes(b"DTiJ" + bytes(4096))
    recorder = Recorder(tmp_path / "capture.lpcap")
    mappings = (MappedFile(0x1000, 0x2000, 0, str(program)), MappedFile(0x3000, 0x4000, 0, str(dump)))
    recorder.archive(SimpleNamespace(mappings=mappings))  # type: ignore[arg-type]  # its mappings alone
    recorder.close()
    assert sorted(p.name for p in archive_folder(tmp_path / "capture.lpcap").iterdir()) == ["primes"]
