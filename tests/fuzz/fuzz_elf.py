"""Fuzz lineprobe's ELF, DWARF and CFI entry points with atheris (libFuzzer).

Each input is a whole file, opened the way a profile opens a mapped binary:
``ElfImage`` (segments, build-id, symbols), the DWARF index and its
``frames()`` (and ``frames_many()``, which must agree with it),
``resolve_in_image``, the CFI table and ``rule_for``, and ``unwind`` through
an ``AddressSpace`` with a garbage stack copy. An exception
escaping a public entry point is a bug, and so is a run over a second or
runaway memory (``RLIMIT_AS`` turns that into a ``MemoryError``).

    make fuzz FUZZ_RUNS=100000                                  # from the repository root
    .venv/bin/python tests/fuzz/fuzz_elf.py -runs=1000 tests/fuzz/corpus
    .venv/bin/python tests/fuzz/fuzz_elf.py --replay FILE_OR_DIR ...   # uninstrumented, timed

Environment: ``FUZZ_KEEP_GOING=1`` logs each new failure (input saved under
``FUZZ_FINDINGS``, default /tmp/lineprobe-fuzz-findings) and goes on instead
of stopping at the first one; inputs slower than ``FUZZ_SLOW_SECONDS`` (under
coverage instrumentation, which costs several times the plain run) are saved
there too, to be replayed uninstrumented with ``--replay``.
"""

from __future__ import annotations

import hashlib
import os
import resource
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

MEMORY_LIMIT = 2 << 30
BASE = 0x555555554000
"""Where the fuzzed file is mapped in the fake process."""
FIXED_ADDRESSES = (0x0, 0x1000, 0x1139, 0x1200, 0x2000, 0x401000, 0x401136)
FINDINGS = Path(os.environ.get("FUZZ_FINDINGS", "/tmp/lineprobe-fuzz-findings"))
SLOW_SECONDS = float(os.environ.get("FUZZ_SLOW_SECONDS", "3"))
KEEP_GOING = os.environ.get("FUZZ_KEEP_GOING") == "1"
_seen: set[str] = set()


class Finding(Exception):
    """An exception escaped an entry point that promises not to raise."""


def exercise(path: str) -> None:
    """Every public entry point on the file at ``path``; raises ``Finding`` on a contract breach."""
    from lineprobe.symbolization.elf_image import PARSE_ERRORS, ElfImage
    from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile, resolve_in_image
    from lineprobe.unwinding.call_frame_cache import load_call_frames
    from lineprobe.unwinding.stack_unwinder import StackCopy, UserRegisters, unwind

    def guarded(what: str, call: Any, allowed: tuple[type[BaseException], ...] = ()) -> Any:
        try:
            return call()
        except allowed:
            return None
        except Exception as exc:
            raise Finding(f"{what}: {type(exc).__name__}: {exc}") from exc

    image = guarded("ElfImage()", lambda: ElfImage(path))
    cache = ImageCache(index_cache=None)  # nothing of a fuzz input is worth keeping on disk
    cache.images[(path, None)] = image  # the AddressSpace below reuses this image
    try:
        _ = image.segments, image.build_id, image.readable
        addresses = list(FIXED_ADDRESSES) + list(image.symbols.starts[:6])
        addresses += [s + 5 for s in image.symbols.starts[:3]]
        addresses += [seg.vaddr + 0x40 for seg in image.segments[:3]]
        dwarf = guarded("ElfImage.dwarf", lambda: image.dwarf)
        single = []
        for address in addresses:
            image.symbols.lookup(address)
            if dwarf is not None:
                single.append(guarded("DwarfIndex.frames", lambda a=address: dwarf.frames(a, "fuzz")))
            guarded("resolve_in_image", lambda a=address: resolve_in_image(image, a, "fuzz", image))
        if dwarf is not None:
            # The batch (the accelerator's lp_frames) must answer what the Python walk answers.
            batch = guarded("DwarfIndex.frames_many", lambda: dwarf.frames_many(addresses, "fuzz"))
            if batch != single:
                raise Finding("DwarfIndex.frames_many disagrees with DwarfIndex.frames")
        if dwarf is not None:
            # Their callers (process_list) catch PARSE_ERRORS, nothing else.
            guarded("DwarfIndex.source_files", dwarf.source_files, PARSE_ERRORS)
            guarded("DwarfIndex.functions_by_file", dwarf.functions_by_file, PARSE_ERRORS)
        table = guarded("load_call_frames", lambda: load_call_frames(image))
        if table is not None:
            for address in addresses:
                # call_frame_cache.rule_at catches PARSE_ERRORS around rule_for.
                guarded("rule_for", lambda a=address: table.rule_for(a), PARSE_ERRORS)

        size = max(os.path.getsize(path), 0x1000)
        space = AddressSpace([MappedFile(BASE, BASE + size, 0, path)], cache)
        runtime = [BASE + a % size for a in addresses]
        # A garbage stack: return addresses into the mapping, stack-like and random words.
        words = runtime + [0x7FFC0000 + 8 * i for i in range(8)] + [0, 1, 0xFFFFFFFFFFFFFFFF]
        stack = StackCopy(0x7FFC0000, b"".join(struct.pack("<Q", w) for w in words * 4))
        for ip in runtime[::3]:
            regs = UserRegisters(ip, 0x7FFC0000, 0x7FFC0010)
            unwound = guarded("unwind", lambda r=regs: unwind(space, r, stack))
            guarded("AddressSpace.resolve_stack", lambda u=unwound: space.resolve_stack(u.addresses))
        guarded("AddressSpace.problems", space.problems)
        image.dwarf_problems  # noqa: B018 - reading must not raise
    finally:
        cache.close()


def _record(data: bytes, kind: str, detail: str) -> None:
    FINDINGS.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    (FINDINGS / f"{kind}-{digest}").write_bytes(data)
    print(f"\n=== {kind} ({len(data)} bytes, saved as {FINDINGS}/{kind}-{digest}): {detail}", flush=True)


def one_input(data: bytes) -> None:
    path = _scratch_path()
    with open(path, "wb") as f:
        f.write(data)
    started = time.monotonic()
    try:
        exercise(path)
    except Finding as finding:
        cause = finding.__cause__ or finding
        frame = traceback.extract_tb(cause.__traceback__)[-1]
        signature = f"{type(cause).__name__}@{Path(frame.filename).name}:{frame.lineno}"
        if signature not in _seen:
            _seen.add(signature)
            _record(data, "crash", f"{finding} [{signature}]")
            traceback.print_exception(cause)
        if not KEEP_GOING:
            raise
    elapsed = time.monotonic() - started
    if elapsed > SLOW_SECONDS:
        _record(data, "slow", f"{elapsed:.2f} s")


_scratch: str | None = None


def _scratch_path() -> str:
    global _scratch
    if _scratch is None:
        directory = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, _scratch = tempfile.mkstemp(prefix="lineprobe-fuzz-", dir=directory)
        os.close(fd)
    return _scratch


def replay(paths: list[str]) -> int:
    """Run inputs without instrumentation; report exceptions and runs over a second."""
    failures = 0
    files = [p for arg in paths for p in (sorted(Path(arg).iterdir()) if Path(arg).is_dir() else [Path(arg)])]
    for file in files:
        data = file.read_bytes()
        path = _scratch_path()
        Path(path).write_bytes(data)
        started = time.monotonic()
        try:
            exercise(path)
            status = "ok"
        except Finding as finding:
            status = f"FAIL {finding}"
        elapsed = time.monotonic() - started
        if elapsed > 1.0:
            status += f" SLOW {elapsed:.2f} s"
        failures += status != "ok"
        print(f"{file}: {status} ({elapsed * 1000:.0f} ms, {len(data)} bytes)")
    return 1 if failures else 0


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    try:
        if len(sys.argv) > 1 and sys.argv[1] == "--replay":
            sys.exit(replay(sys.argv[2:]))
        import atheris

        with atheris.instrument_imports(include=["elftools", "lineprobe"]):
            import elftools.elf.elffile  # noqa: F401
            import lineprobe.symbolization.resolver
            import lineprobe.unwinding.stack_unwinder  # noqa: F401
        atheris.Setup(sys.argv, one_input)
        atheris.Fuzz()
    finally:
        if _scratch is not None and os.path.exists(_scratch):
            os.unlink(_scratch)


if __name__ == "__main__":
    main()
