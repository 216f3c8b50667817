"""Huey tasks: a third adapter over the batch operation, plus the reaper that re-queues batches
whose task was lost. Start a consumer with ``huey_consumer webapp.tasks.huey``."""

import logging
import math
import sqlite3
from datetime import UTC, datetime

from flask import current_app, has_app_context
from huey import crontab
from redis.exceptions import RedisError

from webapp.billing import invoicing, recovery, status_counts
from webapp.extensions import huey

log = logging.getLogger(__name__)
BATCH_TASK_NAME = "process_batch_task"
REAP_TASK_NAME = "reap_lost_batches_task"
_consumer_app = None
# What the queue raises when it cannot be reached: Redis down, or the SQLite queue file locked.
QUEUE_UNAVAILABLE = (RedisError, sqlite3.OperationalError)


def app_context():
    """The app context a task body runs in: the caller's when there is one (immediate mode in
    tests), else one app created once per consumer process. Its end rolls back what a failed
    task left uncommitted (Flask-SQLAlchemy removes the context's session), so the domain
    functions a task calls raise without rolling back."""
    global _consumer_app
    if has_app_context():
        return current_app.app_context()
    if _consumer_app is None:
        from webapp import create_app

        _consumer_app = create_app()
    return _consumer_app.app_context()


@huey.task(retries=3, retry_backoff=2, context=True, name=BATCH_TASK_NAME)
def process_batch_task(batch_id: int, task=None):
    """Invoices a batch; Huey retries a failed attempt 3 times, after BATCH_RETRY_DELAY_SECONDS
    and then twice as long each time (2 s, 4 s and 8 s by default)."""
    with app_context():
        final = task is None or not task.retries
        try:
            outcome = invoicing.process_batch(batch_id, final_attempt=final)
        except invoicing.StartAgain:
            # A fresh task, with its count of failed attempts in a row started again.
            delay = current_app.config["BATCH_RETRY_DELAY_SECONDS"]
            process_batch_task.schedule((batch_id,), delay=delay, retry_delay=delay)
            return "started again"
        if outcome is None:
            # Another worker holds the batch, or held it and stopped beating: look again once
            # its lease has run out.
            schedule_follow_up_reap()
        return str(outcome)


class HueyQueue:
    """The domain's queue port (``webapp.billing.queue.BatchQueue``) over Huey; the factory
    registers it as ``app.extensions["lote.queue"]``."""

    def enqueue_batch(self, batch_id: int) -> str | None:
        """Queues a batch after the commit that made it visible; returns the task id, or None
        when the queue cannot be reached: the batch is stored, and the reaper queues it once the
        queue is back."""
        delay = current_app.config["BATCH_RETRY_DELAY_SECONDS"]
        try:
            return process_batch_task(batch_id, retry_delay=delay).id
        except QUEUE_UNAVAILABLE as exc:
            log.warning(
                "batch %s stored but not queued (%s); the reaper will queue it", batch_id, exc
            )
            return None

    def seconds_until_retry(self, batch_id: int) -> int | None:
        """Seconds until the queue runs the automatic retry scheduled for a batch, if it holds
        one."""
        for task in huey.scheduled():
            if task.name == BATCH_TASK_NAME and task.args and task.args[0] == batch_id and task.eta:
                now = datetime.now(UTC).replace(tzinfo=None)  # Huey keeps etas as naive UTC
                return max(0, math.ceil((task.eta - now).total_seconds()))
        return None

    def waiting_count(self) -> int:
        return huey.pending_count()

    def delayed_count(self) -> int:
        return huey.scheduled_count()


batch_queue = HueyQueue()


def queued_batch_ids() -> set[int]:
    """Batches with a task waiting in the queue or scheduled for a retry."""
    ids = set()
    for task in list(huey.pending()) + list(huey.scheduled()):
        if task.name == BATCH_TASK_NAME and task.args:
            ids.add(task.args[0])
    return ids


def reap_lost_batches() -> list[int]:
    """Re-queues batches that should be running but have no live task (docs/rules.md 7). While a
    batch runs, another look is scheduled for when its lease would run out, so a worker that
    died is replaced within the lease rather than at the next periodic run; while a batch was
    queued just now, for when its claim grace has passed."""
    with app_context():
        lost = recovery.lost_batches(queued_batch_ids())
        for batch_id in lost:
            log.warning("batch %s had no live task; re-queued", batch_id)
            batch_queue.enqueue_batch(batch_id)
        schedule_follow_up_reap()
        return lost


@huey.task(name=REAP_TASK_NAME)
def reap_lost_batches_task():
    reap_lost_batches()


def schedule_follow_up_reap() -> None:
    """Another look when ``recovery.follow_up_delay`` asks for one; one pending at a time."""
    with app_context():
        delay = recovery.follow_up_delay()
    if delay and not any(task.name == REAP_TASK_NAME for task in huey.scheduled()):
        reap_lost_batches_task.schedule(delay=delay)


@huey.on_startup()
def reap_on_start():
    reap_lost_batches()


@huey.periodic_task(crontab(minute="*"))
def reap_every_minute():
    reap_lost_batches()


@huey.periodic_task(crontab(minute="*"))
def compact_status_counts():
    """Folds the status counts' delta rows, so list totals keep adding up a handful of rows."""
    with app_context():
        status_counts.compact()
