"""File-system steps durability needs and Python does not offer in one call."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make the folder's entries durable: a rename or an unlink inside it survives a crash only after this."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
