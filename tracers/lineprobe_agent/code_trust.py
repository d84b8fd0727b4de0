"""The agent runs as root only from files that only root can change.

With privileges, every file the interpreter has loaded (the interpreter
itself, each imported module, the ``.pth`` files that set up ``sys.path``)
must be owned by root and writable by no one else, and so must every
directory above it: otherwise whoever could write it could run code as root
through the agent. A directory that others may write is accepted only with
the sticky bit (like ``/tmp``), where no one can replace an entry that root
owns.

This is a guard against an installation that would give root away (a sudoers
rule naming a user's own virtualenv, root starting lineprobe from a user's
checkout); what keeps a caller's code out in the first place is the isolated
start: ``python -I``, working directory ``/``, an empty environment.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path


class UntrustedCode(Exception):
    """A file the privileged agent would run can be changed by someone other than root."""


def _problem(path: str, info: os.stat_result) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return None  # a link's own mode means nothing; its directory and its target are checked
    if info.st_uid != 0:
        return f"owned by uid {info.st_uid}, not root"
    mode = info.st_mode
    sticky_dir = stat.S_ISDIR(mode) and mode & stat.S_ISVTX
    if mode & stat.S_IWOTH and not sticky_dir:
        return "writable by everyone"
    if mode & stat.S_IWGRP and info.st_gid != 0 and not sticky_dir:
        return f"writable by group {info.st_gid}"
    return None


def loaded_files() -> list[str]:
    """What the interpreter has run so far: itself, its modules, and the .pth files of its site dirs."""
    files = [sys.executable]
    for module in list(sys.modules.values()):
        # The source, and the byte code that is what actually ran when it was cached.
        for attribute in ("__file__", "__cached__"):
            path = getattr(module, attribute, None)
            if isinstance(path, str):
                files.append(path)
    for directory in sys.path:
        try:
            files += [str(p) for p in Path(directory).glob("*.pth")]
        except OSError:
            continue
    return files


def check_root_owned(paths: Iterable[str], action: str = "run with privileges") -> None:
    """Raise UntrustedCode naming the first file (or directory above it) that is not root's alone.

    ``action`` is what is refused, for the message (the agent's BPF sources say which program)."""
    checked: dict[str, str | None] = {}
    for raw in paths:
        if not raw:
            continue
        chain = []
        path = os.path.abspath(raw)
        # The link and what it names: a root-owned link to a user's file is the user's file.
        for candidate in (path, os.path.realpath(path)):
            current = candidate
            while True:
                chain.append(current)
                parent = os.path.dirname(current)
                if parent == current:
                    break
                current = parent
        for entry in chain:
            if entry not in checked:
                try:
                    checked[entry] = _problem(entry, os.lstat(entry))
                except FileNotFoundError:
                    checked[entry] = None  # a frozen or zipped module's notional path
                except OSError as exc:
                    checked[entry] = f"cannot be checked ({exc.strerror})"
            reason = checked[entry]
            if reason is not None:
                shown = raw if entry == path else f"{raw} (through {entry})"
                raise UntrustedCode(
                    f"refusing to {action}: {shown} is {reason}; the agent runs as root "
                    "only from files that only root can change (install it with `sudo make install-agent`)"
                )


def check_running_code() -> None:
    """Check everything loaded so far; call once the agent's own modules are imported."""
    check_root_owned(loaded_files())
