"""Which frame of a stack is the user's own code: the *site* of a finding."""

from __future__ import annotations

from collections.abc import Sequence

from lineprobe.symbolization.frame import KERNEL, SourceFrame

SYSTEM_PREFIXES = ("/usr/lib/", "/lib/", "/lib64/", "/usr/lib64/", "/usr/libexec/", "/usr/lib32/")
"""Where shared libraries of the system (libc, libstdc++, the JVM, ...) live."""
SYSTEM_HEADERS = ("/usr/include/", "/usr/lib/gcc/", "/usr/lib/llvm")
"""Library code inlined into the user's binary (std::vector, std::make_shared...) is not the site."""


def is_user_frame(frame: SourceFrame) -> bool:
    return (
        frame.kind is not KERNEL
        and not frame.binary.startswith(SYSTEM_PREFIXES)
        and not frame.binary.startswith("[")
        and frame.path is not None
        and frame.path.startswith("/")
        and not frame.path.startswith(SYSTEM_HEADERS)
        and bool(frame.line)
    )


def user_site(frames: Sequence[SourceFrame]) -> SourceFrame | None:
    """The innermost frame in user code (frames are innermost first)."""
    return next((f for f in frames if is_user_frame(f)), None)
