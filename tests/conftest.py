"""Shared fixtures: where the real JamendoLyrics copy lives (beside the checkout, never skipped)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def jamendo_src() -> Path:
    """The shared JamendoLyrics copy (79 songs, 10 mp3s); tests using it fail if it is missing."""
    return ROOT.parent / "shared" / "data" / "jamendolyrics"
