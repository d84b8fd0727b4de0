"""What lineprobe runs and loads for a JVM it attaches to: the JVMTI agent the JVM already maps,
found by the path it was loaded from (even once that file is gone), and a ``jcmd`` beside the
target's executable run only if no one else could have put it there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lineprobe.capture.runtime_support import _mapped_agent, _trusted

MAPS_A_FILE = (
    "import mmap, sys, time\n"
    "f = open(sys.argv[1], 'rb')\n"
    "m = mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ)\n"
    "print('mapped', flush=True)\n"
    "time.sleep(60)\n"
)


def test_the_agent_a_process_maps_is_found_by_its_path_even_once_removed(tmp_path: Path) -> None:
    folder = tmp_path / "agents here"
    folder.mkdir()
    library = folder / "lineprobe_jvmti-0123456789abcdef.so"
    library.write_bytes(bytes(4096))
    process = subprocess.Popen([sys.executable, "-c", MAPS_A_FILE, str(library)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"mapped\n"
        assert _mapped_agent(process.pid) == library
        library.unlink()  # replaced or removed since: the maps say "(deleted)"
        assert "(deleted)" in Path(f"/proc/{process.pid}/maps").read_text()
        assert _mapped_agent(process.pid) == library, "the name the JVM's loader knows it by"
    finally:
        process.kill()
        process.wait()
    assert _mapped_agent(os.getpid()) is None, "a process without the agent"


def test_a_program_beside_a_target_is_run_only_if_no_one_else_could_have_put_it_there(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    jcmd = folder / "jcmd"
    jcmd.write_text("#!/bin/sh\n")
    jcmd.chmod(0o755)
    assert _trusted(str(jcmd))
    jcmd.chmod(0o775)
    assert not _trusted(str(jcmd)), "writable by its group"
    jcmd.chmod(0o755)
    folder.chmod(0o777)
    assert not _trusted(str(jcmd)), "in a folder anyone may replace it in"
    folder.chmod(0o755)
    assert not _trusted(str(folder / "missing"))
    tmp_path.chmod(0o777)
    assert not _trusted(str(jcmd)), "a folder further up anyone may write in"
    tmp_path.chmod(0o1777)
    assert _trusted(str(jcmd)), "unless it is sticky, as /tmp is: no one replaces what is ours there"
    tmp_path.chmod(0o700)
    link = folder / "linked"
    link.symlink_to(jcmd)
    assert not _trusted(str(link)), "a link: the program it names is the one checked"
