"""HotSpot's probe table against libjvm.so's own notes, and what it is used for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from lineprobe.cli import main
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.usdt import hotspot
from lineprobe.usdt.listing import probes_of_binary

LIBJVM = Path("/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so")


@pytest.mark.skipif(not LIBJVM.exists(), reason="needs OpenJDK 17's libjvm.so: sudo make setup installs it")
def test_the_table_says_what_libjvm_passes() -> None:
    probes = {
        p.name: p for p in probes_of_binary(str(LIBJVM), ImageCache()).probes if p.provider == "hotspot"
    }
    for name, entry in hotspot.PROBES.items():
        notes = probes[name]
        assert len(entry.arguments) == len(notes.arguments), name
        for number, argument in enumerate(entry.arguments, 1):
            if argument.text:  # a pointer, and an integer length where the table says
                assert notes.arguments[number - 1].size == 8, (name, number)
                length = notes.arguments[argument.length_argument - 1]
                assert length.size in (4, 8) and entry.arguments[argument.length_argument - 1].name.endswith(
                    "length"
                ), (name, number)


def test_groupings_are_argument_choices_with_their_lengths() -> None:
    method = hotspot.known("hotspot:method__entry")
    assert method is not None and method.extended
    assert [(c.number, c.text, c.length_argument) for c in method.choices("method")] == [
        (2, True, 3),
        (4, True, 5),
    ]
    with pytest.raises(KeyError, match="known: method, class, thread"):
        method.choices("nothing")
    assert hotspot.known("/opt/jdk/libjvm.so:hotspot:object__alloc") is hotspot.PROBES["object__alloc"]
    assert hotspot.known("myapp:method__entry") is None
    assert hotspot.argument_meaning("hotspot", "method__entry", 4) == "method name (text, length in arg5)"
    assert hotspot.argument_meaning("hotspot", "method__entry", 8) is None


def test_a_jvm_without_the_flag_is_told_what_to_restart_with() -> None:
    with_flag = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "-XX:+ExtendedDTraceProbes"]
    )
    without = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert hotspot.extended_probes_problem(with_flag.pid, "hotspot:method__entry") is None
        problem = hotspot.extended_probes_problem(without.pid, "hotspot:method__entry")
        assert problem is not None and "-XX:+ExtendedDTraceProbes" in problem and "-XX:-Inline" in problem
        assert hotspot.extended_probes_problem(without.pid, "hotspot:class__loaded") is None  # always on
    finally:
        for process in (with_flag, without):
            process.kill()
            process.wait()


def test_by_needs_a_known_probe_and_a_known_grouping() -> None:
    result = CliRunner().invoke(main, ["usdt", "count", "--pid", "1", "--by", "method", "myapp:request"])
    assert result.exit_code == 2 and "needs a probe lineprobe knows" in result.output
    result = CliRunner().invoke(
        main, ["usdt", "count", "--pid", "1", "--by", "colour", "hotspot:method__entry"]
    )
    assert result.exit_code == 2 and "no grouping 'colour'" in result.output
    both = ["--by", "method", "--arg", "2", "hotspot:method__entry"]
    result = CliRunner().invoke(main, ["usdt", "count", "--pid", "1", *both])
    assert result.exit_code == 2 and "not both" in result.output
