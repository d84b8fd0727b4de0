"""x86-64 system call numbers to names, as complete as this machine can say.

bcc's table stops at 334 (``clone3``, 435, showed as ``[unknown: 435]``). The
C library's headers (``asm/unistd_64.h``, from linux-libc-dev) list every call
of the kernel they were made for; calls added since come from the kernel's own
table (``arch/x86/entry/syscalls/syscall_64.tbl``), written out below up to
Linux 6.18. A number none of these knows is shown as ``[unknown: N]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HEADERS = (
    "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
    "/usr/include/asm/unistd_64.h",
)

NEWER_THAN_HEADERS = {
    435: "clone3",
    436: "close_range",
    437: "openat2",
    438: "pidfd_getfd",
    439: "faccessat2",
    440: "process_madvise",
    441: "epoll_pwait2",
    442: "mount_setattr",
    443: "quotactl_fd",
    444: "landlock_create_ruleset",
    445: "landlock_add_rule",
    446: "landlock_restrict_self",
    447: "memfd_secret",
    448: "process_mrelease",
    449: "futex_waitv",
    450: "set_mempolicy_home_node",
    451: "cachestat",
    452: "fchmodat2",
    453: "map_shadow_stack",
    454: "futex_wake",
    455: "futex_wait",
    456: "futex_requeue",
    457: "statmount",
    458: "listmount",
    459: "lsm_get_self_attr",
    460: "lsm_set_self_attr",
    461: "lsm_list_modules",
    462: "mseal",
    463: "setxattrat",
    464: "getxattrat",
    465: "listxattrat",
    466: "removexattrat",
    467: "open_tree_attr",
    468: "file_getattr",
    469: "file_setattr",
}
"""From syscall_64.tbl: the calls that headers older than the running kernel may lack."""

_DEFINE = re.compile(r"^#define\s+__NR_(\w+)\s+(\d+)\s*$", re.MULTILINE)


def from_header(text: str) -> dict[int, str]:
    return {int(number): name for name, number in _DEFINE.findall(text)}


@dataclass
class SyscallNames:
    names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, headers: Iterable[str] = HEADERS) -> SyscallNames:
        names: dict[int, str] = {}
        try:
            from bcc.syscall import syscalls

            names.update(
                {int(n): (v.decode() if isinstance(v, bytes) else str(v)) for n, v in syscalls.items()}
            )
        except ImportError:
            pass
        for header in headers:
            try:
                names.update(from_header(Path(header).read_text()))
            except OSError:
                continue
        for number, name in NEWER_THAN_HEADERS.items():
            names.setdefault(number, name)
        return cls(names)

    def name(self, number: int) -> str:
        return self.names.get(number, f"[unknown: {number}]")
