"""C++ symbol names as people read them, by the demangler of the C++ runtime itself.

``abi::__cxa_demangle`` in libstdc++ is what c++filt, gdb and perf rely on;
it is called through ctypes, so no Python reimplementation of the Itanium
mangling grammar can disagree with the compiler. Names that are not mangled
(C, or DWARF's own ``DW_AT_name``) pass through unchanged, and so does
anything the runtime cannot demangle.
"""

from __future__ import annotations

import ctypes
from typing import Any

MAX_NAME = 4096
"""Longer "names" are not worth the demangler's time (or its recursion): they are kept as they are."""


class Demangler:
    """Demangles Itanium C++ ABI names (``_Z...``), remembering each answer."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}
        self._loaded = False
        self._function: Any = None
        self._free: Any = None

    def _load(self) -> None:
        # On first use: a profile of C code never pays for loading the C++ runtime.
        self._loaded = True
        try:
            runtime = ctypes.CDLL("libstdc++.so.6")
            libc = ctypes.CDLL(None)
            function = runtime["__cxa_demangle"]
        except (OSError, AttributeError):
            return  # no C++ runtime here: names stay mangled
        function.restype = ctypes.c_void_p
        function.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        libc.free.argtypes = [ctypes.c_void_p]
        self._function = function
        self._free = libc.free

    @property
    def available(self) -> bool:
        if not self._loaded:
            self._load()
        return self._function is not None

    def __call__(self, name: str) -> str:
        if not name.startswith("_Z") or len(name) > MAX_NAME:
            return name
        known = self._known.get(name)
        if known is not None:
            return known
        if not self.available:
            return name
        status = ctypes.c_int(-1)
        pointer = self._function(name.encode("utf-8", errors="replace"), None, None, ctypes.byref(status))
        readable = name
        if pointer:
            try:
                if status.value == 0:
                    readable = ctypes.string_at(pointer).decode("utf-8", errors="replace")
            finally:
                self._free(pointer)
        self._known[name] = readable
        return readable
