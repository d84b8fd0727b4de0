"""What HotSpot's USDT probes pass, as data: each argument's meaning, which are texts and where
their lengths are, and what a probe costs the JVM to enable.

HotSpot (libjvm.so, provider ``hotspot``) passes names as a pointer and a length, never
terminated; its method, object-allocation and monitor probes fire only when the JVM runs
with ``-XX:+ExtendedDTraceProbes``. The argument counts and types here are the notes'
(checked against libjvm.so by tests/unit/test_usdt_hotspot.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from lineprobe.usdt.counts import ArgumentChoice

PROVIDER = "hotspot"
EXTENDED_FLAG = "-XX:+ExtendedDTraceProbes"
EXTENDED_COST = (
    "it costs a call-heavy program about 8 times its CPU with nothing attached (measured here), "
    "and every method call then passes through the probe"
)
INLINING_NOTE = (
    "C2 inlines small hot methods into their callers, whose probes then fire for the caller only: "
    "-XX:-Inline keeps every method its own (about 2% slower)"
)


@dataclass(frozen=True)
class Argument:
    name: str
    length_argument: int = 0
    """For a text: the argument holding its length (HotSpot's texts are not terminated)."""

    @property
    def text(self) -> bool:
        return self.length_argument > 0


@dataclass(frozen=True)
class KnownProbe:
    name: str
    about: str
    arguments: tuple[Argument, ...]
    extended: bool = False
    """Fires only with -XX:+ExtendedDTraceProbes."""
    groupings: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """Named ways to group hits (``--by``): a name and the arguments it groups by."""

    def choices(self, grouping: str) -> list[ArgumentChoice]:
        for name, numbers in self.groupings:
            if name == grouping:
                return [self.choice(number) for number in numbers]
        known = ", ".join(name for name, _ in self.groupings) or "none"
        raise KeyError(f"{PROVIDER}:{self.name} has no grouping {grouping!r} (known: {known})")

    def choice(self, number: int) -> ArgumentChoice:
        argument = self.arguments[number - 1]
        return ArgumentChoice(number, argument.text, argument.length_argument)


_THREAD = Argument("Java thread id")
_METHOD = (
    _THREAD,
    Argument("class name", 3),
    Argument("class name length"),
    Argument("method name", 5),
    Argument("method name length"),
    Argument("signature", 7),
    Argument("signature length"),
)
_METHOD_GROUPINGS = (("method", (2, 4)), ("class", (2,)), ("thread", (1,)))
_THREAD_LIFE = (
    Argument("thread name", 2),
    Argument("thread name length"),
    Argument("Java thread id"),
    Argument("native thread id"),
    Argument("is daemon"),
)
_CLASS_LIFE = (
    Argument("class name", 2),
    Argument("class name length"),
    Argument("class loader id"),
    Argument("is shared"),
)
_MONITOR = (_THREAD, Argument("monitor id"), Argument("class name", 4), Argument("class name length"))

PROBES: dict[str, KnownProbe] = {
    probe.name: probe
    for probe in (
        KnownProbe("method__entry", "a Java method is entered", _METHOD, True, _METHOD_GROUPINGS),
        KnownProbe("method__return", "a Java method returns", _METHOD, True, _METHOD_GROUPINGS),
        KnownProbe("class__loaded", "a class is loaded", _CLASS_LIFE, groupings=(("class", (1,)),)),
        KnownProbe("class__unloaded", "a class is unloaded", _CLASS_LIFE, groupings=(("class", (1,)),)),
        KnownProbe(
            "gc__begin", "a collection begins", (Argument("is full GC"),), groupings=(("kind", (1,)),)
        ),
        KnownProbe("gc__end", "a collection ends", ()),
        KnownProbe(
            "object__alloc",
            "an object is allocated",
            (_THREAD, Argument("class name", 3), Argument("class name length"), Argument("size in bytes")),
            True,
            (("class", (2,)), ("size", (4,))),
        ),
        KnownProbe(
            "monitor__contended__enter",
            "a thread blocks on a contended monitor",
            _MONITOR,
            True,
            (("class", (3,)), ("thread", (1,))),
        ),
        KnownProbe(
            "monitor__contended__entered",
            "a thread enters a monitor it waited for",
            _MONITOR,
            True,
            (("class", (3,)), ("thread", (1,))),
        ),
        KnownProbe("thread__start", "a Java thread starts", _THREAD_LIFE, groupings=(("thread", (1,)),)),
        KnownProbe("thread__stop", "a Java thread ends", _THREAD_LIFE, groupings=(("thread", (1,)),)),
    )
}


def known(probe: str) -> KnownProbe | None:
    """The table's entry for ``hotspot:NAME`` (or ``/path:hotspot:NAME``), None for any other."""
    parts = probe.split(":")
    if len(parts) < 2 or parts[-2] != PROVIDER:
        return None
    return PROBES.get(parts[-1])


def argument_meaning(provider: str, name: str, number: int) -> str | None:
    """What argument ``number`` (1-based) of a HotSpot probe is, for listings."""
    if provider != PROVIDER or name not in PROBES:
        return None
    arguments = PROBES[name].arguments
    if not 0 < number <= len(arguments):
        return None
    argument = arguments[number - 1]
    return (
        f"{argument.name} (text, length in arg{argument.length_argument})" if argument.text else argument.name
    )


def extended_probes_problem(pid: int, probe: str) -> str | None:
    """Why ``probe`` will not fire in JVM ``pid`` (started without the flag it needs), or None.

    The command line is where the flag is given (``JAVA_TOOL_OPTIONS`` too, which this reads
    from the process's environment when its owner may); a flag set later with
    ``jcmd PID VM.set_flag`` is not seen, so this says what to check rather than refusing."""
    entry = known(probe)
    if entry is None or not entry.extended:
        return None
    words: list[str] = []
    for source in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{source}", "rb") as stream:
                words += stream.read().decode(errors="replace").split("\0")
        except OSError:
            continue
    if any(EXTENDED_FLAG in word for word in words):
        return None
    return (
        f"{PROVIDER}:{entry.name} fires only in a JVM started with {EXTENDED_FLAG}, which process {pid}'s "
        f"command line does not give: restart it with that flag ({EXTENDED_COST}); {INLINING_NOTE}"
    )
