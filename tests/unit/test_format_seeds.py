"""The seeds of tests/fuzz/fuzz_formats.py, replayed: each input that once found a bug stays fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.fuzz_formats import one_input

CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus-formats"


@pytest.mark.parametrize("seed", sorted(p.name for p in CORPUS.iterdir()))
def test_format_seed_runs_clean(seed: str, tmp_path: Path) -> None:
    one_input((CORPUS / seed).read_bytes(), tmp_path)
