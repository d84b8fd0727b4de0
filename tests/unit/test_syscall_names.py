"""System call numbers to names: none of the calls a current program makes is left unnamed."""

from __future__ import annotations

from lineprobe_agent.syscall_names import SyscallNames, from_header


def test_calls_newer_than_bccs_table_are_named() -> None:
    names = SyscallNames.load()
    assert names.name(435) == "clone3"  # glibc's pthread_create: was `[unknown: 435]`
    assert names.name(0) == "read" and names.name(257) == "openat"
    assert names.name(462) == "mseal"
    assert names.name(4000) == "[unknown: 4000]"


def test_the_c_librarys_header_is_read() -> None:
    text = "#define __NR_read 0\n#define __NR_clone3 435\n#define __NR_foo_bar 999\n#define OTHER 5\n"
    assert from_header(text) == {0: "read", 435: "clone3", 999: "foo_bar"}
    names = SyscallNames.load(headers=["/nonexistent/unistd_64.h"])
    assert names.name(435) == "clone3"  # from the kernel's table when no header is installed
