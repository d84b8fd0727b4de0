"""Frame kinds, and the user's code among them."""

from __future__ import annotations

from lineprobe.symbolization.frame import FrameKind, SourceFrame
from lineprobe.symbolization.user_code import user_site


def frame(
    kind: FrameKind, function: str | None = "f", path: str | None = None, binary: str = "/srv/app/server"
) -> SourceFrame:
    return SourceFrame(function, path, 3 if path else None, None, kind, binary)


def test_labels_by_kind() -> None:
    assert frame(FrameKind.KERNEL, "do_syscall_64", binary="[kernel]").label == "do_syscall_64_[k]"
    assert frame(FrameKind.KERNEL, None, binary="[kernel]").label == "[unknown in [kernel]]_[k]"
    assert frame(FrameKind.INLINED, "add", "/srv/app/a.c").label == "add (inlined)"
    assert frame(FrameKind.NATIVE, "main", "/srv/app/a.c").label == "main"
    assert frame(FrameKind.JIT, "LazyCompile:*hot", binary="[jit]").label == "LazyCompile:*hot"
    assert frame(FrameKind.NATIVE, None, binary="/usr/lib/libc.so.6").label == "[unknown in libc.so.6]"
    assert frame(FrameKind.INLINED, "add", "/srv/app/a.c").inlined
    assert not frame(FrameKind.NATIVE, "main", "/srv/app/a.c").inlined


def test_the_site_is_user_code_of_any_kind_but_the_kernel() -> None:
    native = frame(FrameKind.NATIVE, "handle", "/srv/app/handle.c")
    libc = frame(FrameKind.NATIVE, "write", binary="/usr/lib/x86_64-linux-gnu/libc.so.6")
    header = frame(FrameKind.INLINED, "push_back", "/usr/include/c++/12/bits/stl_vector.h")
    kernel = frame(FrameKind.KERNEL, "ksys_write", "/srv/app/handle.c", binary="[kernel]")
    jit = frame(FrameKind.JIT, "LazyCompile:*save /srv/app.js:3", binary="[jit]")
    unnamed_jit = frame(FrameKind.JIT, None, binary="[jit]")
    jdk = frame(
        FrameKind.INTERPRETED, "java.io.FileOutputStream.write", "/usr/lib/jvm/src/FileOutputStream.java"
    )
    app = frame(FrameKind.INTERPRETED, "App.save", "/srv/app/App.java")

    assert user_site([kernel, libc, header, native]) is native
    assert user_site([kernel, libc, jit, native]) is jit, "a perf map's JIT frame is the user's code"
    assert user_site([kernel, unnamed_jit, native]) is native, "an unnamed JIT frame shows nothing"
    assert user_site([libc, jdk, app, native]) is app, "the JDK's own classes are the system's"
    assert user_site([kernel, libc]) is None, "the kernel never is the site, whatever its path"
    assert (native.location, jit.location) == ("/srv/app/handle.c:3", "[jit]"), "how reports name a site"
