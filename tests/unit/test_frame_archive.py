"""The frames and unwinding rules a saved capture keeps: recorded while it is resolved, written
as JSON, and answering for files that are gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lineprobe.symbolization.frame_archive import FrameArchive, FrameArchiveUnreadable, code_identity
from lineprobe.symbolization.frame_sources import ElfDwarfSource, UnnamedSource
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile
from lineprobe.unwinding.call_frame_cache import rule_at

from tests.unit.test_resolver_prefetch import runtime_address

BASE = 0x5555_5555_4000


def _space(path: Path, cache: ImageCache, build_id: str | None) -> AddressSpace:
    return AddressSpace([MappedFile(BASE, BASE + path.stat().st_size, 0, str(path), build_id)], cache)


@pytest.mark.parametrize("keyed_by", ["build-id", "file name"])
def test_a_capture_resolved_with_an_archive_resolves_again_from_it_alone(
    workloads: Path, tmp_path: Path, keyed_by: str
) -> None:
    program = tmp_path / "wordcount-O2"
    shutil.copy(workloads / "wordcount-O2", program)
    cache = ImageCache(index_cache=None)
    image = cache.image(str(program), None)
    build_id = image.build_id if keyed_by == "build-id" else None
    addresses = [a for start in image.symbols.starts if (a := runtime_address(image, start + 1)) is not None]
    stacks = [addresses[i : i + 3] for i in range(0, len(addresses), 3)]

    kept = FrameArchive()
    recording = _space(program, cache.for_capture(kept), build_id)
    recording.prefetch(stacks)
    resolved = [recording.resolve_stack(stack) for stack in stacks]
    rules = [rule_at(recording, address) for address in addresses]
    assert any(frame.path for frames in resolved for frame in frames), "the binary has DWARF lines"
    assert sum(rule is not None for rule in rules) > len(rules) // 2, "and CFI"
    identity = code_identity(recording.mappings[0], 0)
    assert identity.startswith("build-id:" if build_id else "file:wordcount-O2")
    assert len(kept.places(identity)) == len({(a, d > 0) for s in stacks for d, a in enumerate(s)})
    cache.close()

    program.unlink()  # another machine: no file, only the capture's own JSON line
    archive = FrameArchive.from_json(json.loads(json.dumps(kept.to_json())))
    elsewhere = ImageCache(index_cache=None)
    copy = tmp_path / "copies" / "wordcount-O2"
    again = _space_of_missing(copy, elsewhere.for_capture(archive), build_id)
    # The same frames, naming the file as this process maps it (a replay's copy: its build-id is
    # the one the capture's header gives for that path).
    assert [again.resolve_stack(stack) for stack in stacks] == [
        [frame._replace(binary=str(copy)) for frame in frames] for frames in resolved
    ]
    assert [rule_at(again, address) for address in addresses] == rules
    assert elsewhere.images == {}, "no file was looked for: the archive named everything asked"

    # An address the capture never asked about is named by the file, which is gone: unnamed.
    outside = max(addresses) + 0x10
    assert again.resolve(outside, False)[0].function is None
    assert isinstance(again.source_for(0)._otherwise, UnnamedSource)  # type: ignore[attr-defined]
    elsewhere.close()


def _space_of_missing(path: Path, cache: ImageCache, build_id: str | None) -> AddressSpace:
    return AddressSpace([MappedFile(BASE, BASE + (1 << 20), 0, str(path), build_id)], cache)


def test_without_an_archive_the_file_is_the_source(workloads: Path) -> None:
    cache = ImageCache(index_cache=None)
    space = _space(workloads / "primes", cache, None)
    assert isinstance(space.source_for(0), ElfDwarfSource)
    cache.close()


@pytest.mark.parametrize(
    "value",
    [
        [],
        {"rules": {}},
        {"frames": {"build-id:ab": {"12": [["f", None, "seven", None, "native", "/bin/x", None, None]]}}},
        {"frames": {"build-id:ab": {"12": [["f", None, 7, None, "quantum", "/bin/x", None, None]]}}},
        {"frames": {"build-id:ab": {"twelve": []}}},
        {"frames": {}, "rules": {"build-id:ab": {"12": [1, "rsp", 8, -8, None, 0]}}},
    ],
)
def test_frames_in_another_shape_are_refused_in_words(value: object) -> None:
    with pytest.raises(FrameArchiveUnreadable, match=r"^frames: "):
        FrameArchive.from_json(value)
