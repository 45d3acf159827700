"""Logging set-up for daemons and CLIs: one line per event, with the process name."""

from __future__ import annotations

import logging
import sys


def setup(process_name: str, level: int = logging.INFO) -> None:
    """Log to stderr (the launcher points a daemon's stderr at DIR/logs/NAME.log)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s {process_name} %(levelname)s %(name)s: %(message)s",
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("kazoo", "kazoo.client", "kazoo.protocol.connection"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
