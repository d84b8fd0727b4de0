"""A probe hit written with the user's format (``lineprobe usdt trace PROBE FORMAT``), as bcc's
``trace 'u:lib:probe "%d %s", arg1, arg2'`` prints it: printf conversions filled, in order, by the
arguments recorded (``--arg``).

Only the conversions that make sense for a probe's values are accepted, and their number must be
the number of arguments recorded: a format that cannot be filled is refused before tracing.
"""

from __future__ import annotations

import re

CONVERSION = re.compile(r"%(?:(%)|([-0 ]?\d*)([duxXs]))")
"""``%%``, or a conversion with an optional flag and width: d, u (decimal), x, X (hex), s (text)."""


class BadFormat(ValueError):
    """The format cannot be filled by the arguments recorded: the message says why."""


class HitFormat:
    def __init__(self, text: str, texts: list[bool]) -> None:
        """``texts``: for each argument recorded, in order, whether it is text."""
        self.text = text
        self._pieces: list[str | tuple[str, str]] = []
        position = 0
        conversions: list[str] = []
        for match in CONVERSION.finditer(text):
            self._pieces.append(text[position : match.start()])
            position = match.end()
            if match.group(1):
                self._pieces.append("%")
                continue
            flags, kind = match.group(2), match.group(3)
            conversions.append(kind)
            self._pieces.append((flags, kind))
        self._pieces.append(text[position:])
        stray = CONVERSION.sub("", text)
        if "%" in stray:
            raise BadFormat(f"format {text!r}: only %d, %u, %x, %X, %s and %% are understood")
        if len(conversions) != len(texts):
            raise BadFormat(
                f"format {text!r} has {len(conversions)} conversion(s) for {len(texts)} argument(s) "
                "recorded (give one --arg per conversion, in order)"
            )
        for number, (kind, is_text) in enumerate(zip(conversions, texts, strict=True), start=1):
            if (kind == "s") != is_text:
                wanted = "%s" if is_text else "%d, %u or %x"
                raise BadFormat(
                    f"format {text!r}: the argument recorded {number} wants {wanted}, not %{kind}"
                )

    def __call__(self, values: tuple[int | str, ...]) -> str:
        written: list[str] = []
        remaining = iter(values)
        for piece in self._pieces:
            if isinstance(piece, str):
                written.append(piece)
                continue
            flags, kind = piece
            value = next(remaining)
            if kind == "s":
                written.append(f"%{flags}s" % value)
            elif kind in "xX":
                written.append(f"%{flags}{kind}" % (int(value) & 0xFFFFFFFFFFFFFFFF))
            else:
                number = int(value) & 0xFFFFFFFFFFFFFFFF if kind == "u" else int(value)
                written.append(f"%{flags}d" % number)
        return "".join(written)
