"""Which frame of a stack is the user's own code: the *site* of a finding."""

from __future__ import annotations

from collections.abc import Sequence

from lineprobe.symbolization.frame import INTERPRETED, JIT, KERNEL, SourceFrame

SYSTEM_PREFIXES = ("/usr/lib/", "/lib/", "/lib64/", "/usr/lib64/", "/usr/libexec/", "/usr/lib32/")
"""Where shared libraries of the system (libc, libstdc++, the JVM, ...) live."""
SYSTEM_HEADERS = ("/usr/include/", "/usr/lib/gcc/", "/usr/lib/llvm")
"""Library code inlined into the user's binary (std::vector, std::make_shared...) is not the site."""
RUNTIME_CODE = ("Builtin:", "BytecodeHandler:", "Stub:", "Handler:")
"""JIT code of the runtime itself (V8's builtins, stubs and interpreter; the JVM's own code, as
lineprobe's JVMTI agent names it), never the user's program."""
RUNTIME_NAMES = ("Interpreter",)
"""The same, as a runtime's perf map names it: HotSpot's interpreter, whose frames were not named."""
JDK_PACKAGES = ("java/", "javax/", "jdk/", "sun/", "com/sun/", "org/ietf/", "org/w3c/", "org/xml/")
"""The JDK's own classes, by the package path lineprobe's JVMTI agent names a Java source with."""


def is_user_frame(frame: SourceFrame) -> bool:
    """Whether a frame is in the user's own code and can be shown as a finding's site.

    Native and inlined frames: in a binary outside the system's library folders, with a
    source line (debug information) in a file outside the system's headers. JIT and
    interpreted frames: the program the runtime runs, so the user's, when they are named
    and no source path puts them in the system's libraries or the runtime's own scripts
    (``node:internal/...``) or the JDK's packages (a Java source is named by its package path,
    ``jconfig/Config.java``), and they are not the runtime's builtins; a perf map gives a JIT
    frame a name but no line, and the name is then the site. Kernel frames never are.
    """
    kind = frame.kind
    path = frame.path
    if kind is JIT or kind is INTERPRETED:
        function = frame.function
        return (
            function is not None
            and function != ""
            and not function.startswith(RUNTIME_CODE)
            and function not in RUNTIME_NAMES
            and (
                path is None
                or (path.startswith("/") and not path.startswith(SYSTEM_PREFIXES + SYSTEM_HEADERS))
                or _is_application_java(path)
            )
        )
    return (
        kind is not KERNEL
        and not frame.binary.startswith(SYSTEM_PREFIXES)
        and path is not None
        and path.startswith("/")
        and not path.startswith(SYSTEM_HEADERS)
        and bool(frame.line)
    )


def _is_application_java(path: str) -> bool:
    """A Java source named by its package path (``jconfig/Config.java``), outside the JDK's."""
    return path.endswith(".java") and not path.startswith(("/", *JDK_PACKAGES))


def user_site(frames: Sequence[SourceFrame]) -> SourceFrame | None:
    """The innermost frame in user code (frames are innermost first)."""
    return next((f for f in frames if is_user_frame(f)), None)
