"""Interpreted Java methods named from the interpreter's frames: the agent's methods file (a real
JVM writes it, no privileges needed) and a frame's slots read from a copied stack."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.runtimes.jvmti_agent import built_agent
from lineprobe.symbolization.frame import INTERPRETED
from lineprobe.symbolization.frame_archive import FrameArchive, FrameArchiveUnreadable
from lineprobe.symbolization.jvm_methods import JvmMethod, JvmMethods, load_jvm_methods, methods_path
from lineprobe.symbolization.resolver import AddressSpace, ImageCache
from lineprobe.unwinding.stack_unwinder import StackCopy

from tests.conftest import WORKLOADS, marked_line

APP_JAVA = WORKLOADS / "slowy" / "slowy" / "App.java"


def _java_and_agent() -> tuple[str, Path]:
    """The machine's java and lineprobe's JVMTI agent built for it."""
    java = shutil.which("java")
    assert java, "java missing: `make setup` installs openjdk-17-jdk-headless"
    agent = built_agent(java)
    assert agent.library is not None, agent.problem
    return java, agent.library


def test_the_agent_lists_every_loaded_method_with_its_bytecodes_and_line_table(tmp_path: Path) -> None:
    java, library = _java_and_agent()
    dump = tmp_path / "jit-1.dump"
    classes = WORKLOADS / "build" / "slowy"
    assert classes.is_dir(), "the workloads are built by `make setup`"
    subprocess.run(
        [java, f"-agentpath:{library}={dump}", "-Xint", "-cp", str(classes), "slowy.App", "1"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    methods = load_jvm_methods(methods_path(str(dump)), os.getuid())
    assert methods is not None and methods.problems == [], methods and methods.problems
    assert (methods.method_slot, methods.bcp_slot) == (-24, -64), "JDK 17's x86-64 interpreter frame"
    by_name = {m.name: m for m in methods.by_pointer.values()}
    divisible = by_name["slowy.App.isDivisible"]
    assert divisible.source == "slowy/App.java" and divisible.bytecodes != 0, divisible
    assert divisible.line_at(0) == marked_line(APP_JAVA, "IS-DIVISIBLE")
    is_prime = by_name["slowy.App.isPrime"]
    calls = marked_line(APP_JAVA, "CALLS-IS-DIVISIBLE")
    assert calls in is_prime.lines and is_prime.length > max(is_prime.line_starts), is_prime
    # The JDK's own classes too: a frame in any of them can be interpreted.
    assert "java.lang.String.hashCode" in by_name and len(methods.by_pointer) > 1000


METHOD = 0x7F00_0000_1000
BYTECODES = 0x7F00_0000_0F00
FP = 0x7FFC_0000_0100


def _methods() -> JvmMethods:
    methods = JvmMethods("jit-1.methods")
    methods.by_pointer[METHOD] = JvmMethod(
        "slowy.App.isPrime", "slowy/App.java", BYTECODES, 34, (0, 5, 7, 16), (18, 19, 21, 22)
    )
    return methods


def _stack(method: int, bcp: int) -> StackCopy:
    base = FP - 0x80
    data = bytearray(0x100)
    struct.pack_into("<Q", data, FP - 24 - base, method)
    struct.pack_into("<Q", data, FP - 64 - base, bcp)
    return StackCopy(base, bytes(data))


def test_a_frame_s_method_and_saved_bytecode_pointer_give_its_line() -> None:
    frame = _methods().frame(FP, _stack(METHOD, BYTECODES + 17).read_u64)
    assert frame is not None
    assert (frame.function, frame.path, frame.line, frame.kind) == (
        "slowy.App.isPrime",
        "slowy/App.java",
        22,
        INTERPRETED,
    )


def test_the_running_frame_s_line_comes_from_the_live_register_not_the_stale_slot() -> None:
    stack = _stack(METHOD, BYTECODES)  # the slot still says the method's start (bci 0: line 18)
    frame = _methods().frame(FP, stack.read_u64, running_bcp=BYTECODES + 8)
    assert frame is not None and frame.line == 21
    unread = _methods().frame(FP, stack.read_u64, running_bcp=0)
    assert unread is not None and (unread.function, unread.line) == ("slowy.App.isPrime", None)


@pytest.mark.parametrize("bcp", [BYTECODES - 1, BYTECODES + 34, 0])
def test_a_bytecode_pointer_outside_the_method_names_it_without_a_line(bcp: int) -> None:
    frame = _methods().frame(FP, _stack(METHOD, bcp).read_u64)
    assert frame is not None and frame.function == "slowy.App.isPrime" and frame.line is None


def test_a_running_frame_whose_live_pointer_is_not_its_method_s_is_not_named() -> None:
    """Between the interpreter's entry to a method and the push of its Method*, the slot below
    rbp still holds an earlier frame's: the live bytecode pointer tells."""
    stack = _stack(METHOD, BYTECODES)
    assert _methods().frame(FP, stack.read_u64, running_bcp=0x7F00_0000_5000) is None
    native = _methods()
    native.by_pointer[METHOD] = JvmMethod("java.lang.Thread.sleep", "java/lang/Thread.java", BYTECODES, 0)
    frame = native.frame(FP, stack.read_u64, running_bcp=0x7F00_0000_5000)
    assert frame is not None and frame.line is None, "a native method has no bytecodes to be within"


def test_a_slot_that_names_no_listed_method_leaves_the_frame_to_the_interpreter() -> None:
    assert _methods().frame(FP, _stack(METHOD + 8, BYTECODES).read_u64) is None
    assert _methods().frame(FP + 0x1000, _stack(METHOD, BYTECODES).read_u64) is None, "outside the copy"


def test_a_damaged_or_foreign_methods_file_is_said_so_and_read_no_further(tmp_path: Path) -> None:
    path = tmp_path / "jit-1.methods"
    path.write_text("lineprobe-jvm-methods 2\n")
    read = load_jvm_methods(str(path), os.getuid())
    assert read is not None and read.by_pointer == {} and "version 1" in read.problems[0]
    path.write_text(
        "lineprobe-jvm-methods 1 method_slot=-24 bcp_slot=-56 bcp_register=r13\n"
        "1000\tf00\t34\tslowy/App.java\tslowy.App.isPrime\t0:18,5:19\n"
        "zz\tf00\t34\tslowy/App.java\tbroken\t0:1\n"
        "2000\t0\t0\tFoo.java\tFoo.bar\t0:5,7:1"  # the JVM is still writing it: 7:1 may be 7:12
    )
    read = load_jvm_methods(str(path), os.getuid())
    assert read is not None and list(read.by_pointer) == [0x1000] and read.bcp_slot == -56
    assert read.problems == [f"{path}: 1 malformed lines skipped"], "a line not ended yet is no problem"
    assert load_jvm_methods(str(tmp_path / "none.methods"), os.getuid()) is None
    if os.getuid() == 0:
        os.chown(path, 65534, 65534)  # root's own files are trusted, as perf trusts them
    other = load_jvm_methods(str(path), 65533 if os.getuid() == 0 else os.getuid() + 1)
    assert other is not None and other.by_pointer == {} and "not by the target's user" in other.problems[0]


def test_the_methods_frames_were_named_with_are_kept_in_the_capture_s_archive() -> None:
    archive = FrameArchive()
    methods = _methods()
    methods.kept = archive.jvm_methods["[memory of 1]"] = JvmMethods("jit-1.methods")
    methods.by_pointer[METHOD + 8] = JvmMethod("slowy.App.main", "slowy/App.java", BYTECODES + 64, 89)
    assert methods.frame(FP, _stack(METHOD, BYTECODES + 17).read_u64) is not None
    assert list(methods.kept.by_pointer) == [METHOD], "only the methods a frame ran"
    reread = FrameArchive.from_json(json.loads(json.dumps(archive.to_json())))
    kept = reread.jvm_methods["[memory of 1]"]
    assert kept.by_pointer == {METHOD: methods.by_pointer[METHOD]}
    assert (kept.method_slot, kept.bcp_slot) == (-24, -64)
    # The kept methods name the same frames, the agent's file gone.
    named = kept.frame(FP, _stack(METHOD, BYTECODES + 17).read_u64)
    assert named is not None and (named.function, named.line) == ("slowy.App.isPrime", 22)


def test_a_damaged_archive_of_methods_is_refused_whole() -> None:
    damaged = {
        "frames": {},
        "jvm_methods": {"[memory of 1]": {"method_slot": -24, "bcp_slot": -64, "methods": {"1": [7]}}},
    }
    with pytest.raises(FrameArchiveUnreadable):
        FrameArchive.from_json(damaged)


def test_the_agent_empties_no_file_through_a_hard_link(tmp_path: Path) -> None:
    """A name planted in /tmp as a hard link to another of the user's files: refused, not emptied."""
    java, library = _java_and_agent()
    precious = tmp_path / "precious"
    precious.write_text("the user's own data\n")
    dump = tmp_path / "jit-2.dump"
    os.link(precious, dump)
    ran = subprocess.run(
        [java, f"-agentpath:{library}={dump}", "-version"], capture_output=True, text=True, timeout=120
    )
    assert "is not this user's regular file of one name: not written" in ran.stderr, ran.stderr
    assert precious.read_text() == "the user's own data\n"
    assert not Path(methods_path(str(dump))).exists()


def _jitdump_header(pid: int) -> bytes:
    return struct.pack("<IIIIIIQQ", 0x4A695444, 1, 40, 62, 0, pid, 0, 0)


@pytest.mark.parametrize("replayed", [False, True], ids=["ended", "replayed"])
def test_a_replay_names_interpreter_frames_from_what_its_capture_kept_only(
    tmp_path: Path, replayed: bool
) -> None:
    """A capture of a process that has ended reads the agent's files it left; a replay's PID is
    another machine's or a past process's, and a file of that number here is some other JVM's."""
    pid = 999_999_999
    (tmp_path / f"jit-{pid}.dump").write_bytes(_jitdump_header(pid))
    (tmp_path / f"jit-{pid}.methods").write_text(
        "lineprobe-jvm-methods 1 method_slot=-24 bcp_slot=-64 bcp_register=r13\n"
        "1000\tf00\t34\tother/Jvm.java\tother.Jvm.run\t0:1\n"
    )
    header = CaptureHeader(
        pid, "/usr/bin/java", "java", 1.0, 1.0, 0.0, False, True, 1.0, (), Timings(), replayed=replayed
    )
    cache = ImageCache(index_cache=None).for_capture(FrameArchive(), jit_directories=(str(tmp_path),))
    space = AddressSpace.of_capture(header, cache)
    if replayed:
        assert space.jvm_methods is None
    else:
        assert space.jvm_methods is not None and list(space.jvm_methods.by_pointer) == [0x1000]
