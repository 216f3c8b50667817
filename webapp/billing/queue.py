"""The queue as the domain sees it: a port the task queue implements (``webapp.tasks``),
registered on the app by the factory as ``app.extensions["lote.queue"]``, the way the tax
authority and the ERP are. The domain reaches the queue through it alone."""

from typing import Protocol

from flask import current_app


class BatchQueue(Protocol):
    def enqueue_batch(self, batch_id: int) -> str | None:
        """Queues a batch after the commit that made it visible; returns the task id, or None
        when the queue cannot be reached (the batch is stored, and the reaper queues it once the
        queue is back)."""

    def seconds_until_retry(self, batch_id: int) -> int | None:
        """Seconds until the automatic retry scheduled for a batch runs, if one is scheduled."""

    def waiting_count(self) -> int:
        """Tasks waiting in the queue."""

    def delayed_count(self) -> int:
        """Tasks scheduled for later (retries and follow-up looks)."""


def queue() -> BatchQueue:
    """The app's queue."""
    return current_app.extensions["lote.queue"]
