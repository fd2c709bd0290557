"""Log set-up of one server process: every line names the process it came from."""

from __future__ import annotations

import logging


def configure(process: str) -> None:
    """INFO and above to stderr, prefixed with `process`; replaces what a forked child inherited."""
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s {process} %(levelname)s %(name)s: %(message)s", force=True
    )
