"""Shared fixtures: where the real JamendoLyrics copy lives (beside the checkout, never skipped).

``tools/`` (developer tools, not in the package) is importable as it is to its own scripts: ``import bench``.
"""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))


@pytest.fixture(scope="session")
def jamendo_src() -> Path:
    """The shared JamendoLyrics copy (79 songs, 10 mp3s), or a local folder named by $JAMENDO_SRC.

    Tests using it fail if it is missing: they are never skipped.
    """
    src = os.environ.get("JAMENDO_SRC")
    if src and Path(src).is_dir():
        return Path(src)
    return ROOT.parent / "shared" / "data" / "jamendolyrics"
