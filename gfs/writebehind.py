"""A bounded write-behind queue: writes run on a thread of their own, so the caller goes on
receiving (or reading) the next data while the last piece is stored."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class WriteBehind:
    """Calls `write` for each piece put, in order, on a thread of its own. The queue is
    bounded (memory stays bounded); a write error comes back from the next put() or from
    close(). `release`, if given, gets every piece once it is done with (written, or
    skipped after an error): a buffer goes back where it came from."""

    def __init__(
        self,
        write: Callable[[Any], object],
        depth: int,
        name: str,
        release: Callable[[Any], object] | None = None,
    ) -> None:
        self._write = write
        self._release = release
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after an error keep draining so put() never blocks
                try:
                    self._write(item)
                except BaseException as exc:
                    self._error = exc
            if self._release is not None:
                self._release(item)

    @property
    def error(self) -> BaseException | None:
        """The first write error, if any."""
        return self._error

    def put(self, data: Any) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def drain(self) -> None:
        """Wait until everything queued has been handled (written, or skipped after an
        error) and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def close(self) -> None:
        """Wait until everything queued is written; re-raise a write error."""
        self.drain()
        if self._error is not None:
            raise self._error
