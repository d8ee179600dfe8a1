"""Shared fixtures: where the shared real data lives, skipping when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` beside the project; tests that need it skip in a user's fresh clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (it sits beside CI, not clones)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def solomon_dir(shared_data_dir: Path) -> Path:
    """Solomon's VRPTW instances with best-known solutions."""
    return shared_data_dir / "solomon"


@pytest.fixture(scope="session")
def olist_dir(shared_data_dir: Path) -> Path:
    """Real Olist orders with review scores."""
    return shared_data_dir / "olist"
