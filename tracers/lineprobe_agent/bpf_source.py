"""The agent's BPF programs: C files in ``bpf/``, and the constants Python shares with them.

Each program is ``bpf/<name>.bpf.c``; what the programs share with each other
and with their Python loaders is in one header, ``bpf/lineprobe.h``. Python
reads the header's plain constants (``#define NAME value`` and enum members
whose values are integer expressions) with ``parse_constants``, so that a
stats index, a record size or a histogram parameter is written once, in C.

The sources are code that the privileged agent hands to the kernel: like the
Python it runs (``code_trust``), they are compiled only when root alone can
change them and every directory above them.
"""

from __future__ import annotations

import ast
import ctypes
import functools
import re
from pathlib import Path
from typing import Any

from lineprobe_agent.code_trust import check_root_owned

BPF_DIR = Path(__file__).resolve().parent / "bpf"
HEADER = BPF_DIR / "lineprobe.h"


class BpfSourceMissing(FileNotFoundError):
    """A BPF source of the agent is not where the agent was installed."""


def trusted_text(path: Path) -> str:
    """The text of one of the agent's BPF sources, refused unless only root can change it."""
    if not path.is_file():
        raise BpfSourceMissing(f"BPF source {path} is missing: the agent's installation is incomplete")
    check_root_owned([str(path)], action=f"compile BPF from {path.name}")
    return path.read_text()


_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def program_text(name: str, numbers: dict[str, int] | None = None) -> str:
    """The text bcc compiles for ``bpf/<name>.bpf.c``: the shared header, then the program.

    ``numbers`` fill the program's ``@NAME@`` placeholders, where bcc needs a literal number
    in the text itself (a USDT argument's index); every placeholder must be given one, and
    only integers are written.

    bcc rewrites map calls (``map.lookup()``, ``perf_submit``) and tracepoint arguments only
    in the text it is given, not in included files, so the header's text goes in front; its
    include guard makes the program's own ``#include "lineprobe.h"`` a no-op, and ``#line``
    keeps the compiler's messages pointing at the right file and line.
    """
    source = BPF_DIR / f"{name}.bpf.c"
    header = trusted_text(HEADER)
    program = trusted_text(source)
    given = numbers or {}

    def number(match: re.Match[str]) -> str:
        value = given.get(match.group(1))
        if type(value) is not int:
            raise ValueError(f"{source.name}: no number given for @{match.group(1)}@")
        return str(value)

    program = _PLACEHOLDER.sub(number, program)
    return f'#line 1 "{HEADER.name}"\n{header}\n#line 1 "{source.name}"\n{program}'


def compile_program(name: str) -> Any:
    """Compile and load ``bpf/<name>.bpf.c`` with bcc; nothing is attached."""
    from bcc import BPF

    # -I: the program's #include "lineprobe.h" must find the file (its guard skips the text).
    return BPF(text=program_text(name).encode(), cflags=[f"-I{BPF_DIR}"])


# -- constants --------------------------------------------------------------------------------

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+(.+?)[ \t]*$", re.MULTILINE)
_ENUM = re.compile(r"\benum\s+\w*\s*\{([^}]*)\}")
_ENUM_MEMBER = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:=\s*(.+?))?\s*$", re.DOTALL)
_INT_SUFFIX = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b")
_OPERATORS: dict[type, Any] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b,
    ast.BitOr: lambda a, b: a | b,
    ast.BitAnd: lambda a, b: a & b,
}


def _evaluate(expression: str, known: dict[str, int]) -> int | None:
    """An integer C constant expression (literals, names defined earlier, + - * << >> | &), or None."""
    try:
        tree = ast.parse(_INT_SUFFIX.sub(r"\1", expression.strip()), mode="eval")
    except SyntaxError:
        return None

    def value(node: ast.AST) -> int | None:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            return known.get(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = value(node.operand)
            if operand is None:
                return None
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = value(node.left), value(node.right)
            if left is None or right is None or (isinstance(node.op, ast.LShift) and not 0 <= right < 64):
                return None
            return int(_OPERATORS[type(node.op)](left, right))
        return None

    return value(tree.body)


def parse_constants(text: str) -> dict[str, int]:
    """The integer constants a C header defines: object-like ``#define``s and enum members.

    Macros with arguments, multi-line macros and values that are not integer expressions
    (types, statements) are not constants and are left out. Names are taken in the order
    they appear, so a value may use the names defined above it.
    """
    text = _COMMENT.sub(" ", text)
    constants: dict[str, int] = {}
    items: list[tuple[int, str]] = [(m.start(), m.group(0)) for m in _DEFINE.finditer(text)]
    items += [(m.start(), m.group(0)) for m in _ENUM.finditer(text)]
    for _, item in sorted(items):
        define = _DEFINE.match(item)
        if define is not None:
            if define.group(2).endswith("\\"):
                continue  # a multi-line macro: not a constant
            result = _evaluate(define.group(2), constants)
            if result is not None:
                constants[define.group(1)] = result
            continue
        enum = _ENUM.match(item)
        assert enum is not None
        next_value = 0
        for member in enum.group(1).split(","):
            parsed = _ENUM_MEMBER.match(member)
            if parsed is None or not member.strip():
                continue
            if parsed.group(2) is not None:
                result = _evaluate(parsed.group(2), constants)
                if result is None:
                    break  # a value this parser cannot follow: the rest of the enum would be wrong
                next_value = result
            constants[parsed.group(1)] = next_value
            next_value += 1
    return constants


@functools.cache
def header_constants() -> dict[str, int]:
    """The constants of ``bpf/lineprobe.h``.

    Read as data, when the tracers' modules are imported: that is before the agent's ``main``
    has checked that its files are root's (it refuses, naming the file, if not), and the header
    is checked again as code whenever it is compiled (``program_text``)."""
    return parse_constants(HEADER.read_text())


def constant(name: str) -> int:
    """One constant of the shared header; a KeyError names a constant it does not define."""
    try:
        return header_constants()[name]
    except KeyError:
        raise KeyError(f"{HEADER} defines no integer constant {name}") from None


# -- records --------------------------------------------------------------------------------


def copied_stack(event: Any) -> bytes:
    """The user stack bytes an exemplar record carries (``LP_EXEMPLAR_STACK`` in the header).

    ``event`` is bcc's view of the record in the perf ring: the bytes are copied now."""
    length = min(int(event.size), constant("STACK_COPY_BYTES"))
    return ctypes.string_at(ctypes.addressof(event.data), max(length, 0))
