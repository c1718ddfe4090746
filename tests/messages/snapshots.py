"""Snapshot files: the exact output of a builder, stored under tests/messages/snapshots/.

A test compares what a builder makes with its file. After an intended change to a
template or a builder, regenerate every snapshot and review the diff before committing:

    CARTBACK_UPDATE_SNAPSHOTS=1 python -m pytest tests/messages -q
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).with_name("snapshots")


def assert_snapshot(name: str, actual: str) -> None:
    """``actual`` equals the snapshot ``name`` (written instead when updating)."""
    path = SNAPSHOTS / name
    if os.environ.get("CARTBACK_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
        return
    assert path.exists(), f"no snapshot {name}: run with CARTBACK_UPDATE_SNAPSHOTS=1"
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, f"{name} differs from its snapshot"
