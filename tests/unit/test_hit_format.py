"""``lineprobe usdt trace PROBE FORMAT``: the hit's values written into the user's format."""

from __future__ import annotations

import pytest
from lineprobe.usdt.hit_format import BadFormat, HitFormat


def test_conversions_are_filled_in_order() -> None:
    write = HitFormat("round %d size %5u at %x: %s (100%%)", [False, False, False, True])
    assert write((7, 64, 255, "slowy/App")) == "round 7 size    64 at ff: slowy/App (100%)"


def test_unsigned_and_hex_take_the_value_as_64_bits() -> None:
    assert HitFormat("%u %x %d", [False, False, False])((-1, -1, -1)) == (
        "18446744073709551615 ffffffffffffffff -1"
    )


@pytest.mark.parametrize(
    ("text", "texts", "words"),
    [
        ("%d %d", [False], "2 conversion(s) for 1 argument(s)"),
        ("%s", [False], "wants %d, %u or %x, not %s"),
        ("%d", [True], "wants %s, not %d"),
        ("%f", [False], "only %d, %u, %x, %X, %s and %% are understood"),
        ("50%", [], "only %d"),
    ],
)
def test_a_format_that_cannot_be_filled_is_refused_in_words(text: str, texts: list[bool], words: str) -> None:
    with pytest.raises(BadFormat, match=None) as refused:
        HitFormat(text, texts)
    assert words in str(refused.value)


def test_the_cli_refuses_a_format_before_tracing() -> None:
    import subprocess

    from tests.conftest import LINEPROBE

    done = subprocess.run(
        [*LINEPROBE, "usdt", "trace", "--pid", "1", "--arg", "1", "p:n", "%s"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Invalid value for FORMAT" in done.stderr and "wants %d, %u or %x" in done.stderr, done.stderr
