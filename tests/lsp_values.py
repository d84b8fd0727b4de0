"""What the language server sends, made plain for assertions."""

from __future__ import annotations

from typing import Any


def as_plain(value: Any) -> Any:
    """pygls hands custom notification params over as named tuples; make them plain."""
    if hasattr(value, "_asdict"):
        return {k: as_plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [as_plain(v) for v in value]
    return value
