"""Recovery: a worker claims a batch under a lease it renews with each heartbeat, and the reaper
decides which batches have no live task, queued past their claim grace or running past their
lease (docs/rules.md rule 7)."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from webapp.extensions import db
from webapp.models import BatchStatus, BillingBatch, utcnow


def _lease_cutoff() -> datetime:
    return utcnow() - timedelta(seconds=current_app.config["BATCH_LEASE_SECONDS"])


def claim_grace() -> timedelta:
    """A worker that has just taken a batch's task from the queue has not claimed the batch yet:
    for this long after a batch was queued, the reaper does not take it for lost when the queue
    no longer shows its task."""
    return timedelta(seconds=current_app.config["BATCH_CLAIM_GRACE_SECONDS"])


def claim_batch(batch_id: int) -> int | None:
    """Takes a queued batch (or a running one whose worker stopped beating) with one conditional
    update. Returns the attempt number that fences this worker's writes, or None when another
    worker holds it or it is finished: a duplicated task then does nothing."""
    now = utcnow()
    attempt = db.session.execute(
        update(BillingBatch)
        .where(
            BillingBatch.id == batch_id,
            or_(
                BillingBatch.status == BatchStatus.PENDING_PROCESSING,
                and_(
                    BillingBatch.status == BatchStatus.IN_PROCESS,
                    BillingBatch.heartbeat_at < _lease_cutoff(),
                ),
            ),
        )
        .values(
            status=BatchStatus.IN_PROCESS,
            attempts=BillingBatch.attempts + 1,
            progress=0,
            heartbeat_at=now,
            processing_started_at=now,
            processing_completed_at=None,
        )
        .returning(BillingBatch.attempts)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.commit()
    return attempt


def follow_up_delay() -> int | None:
    """Seconds until the reaper should look again, if it should: once the claim grace of a batch
    queued just now has passed, else once the lease of a running batch could have run out."""
    statuses = set(
        db.session.scalars(
            select(BillingBatch.status)
            .where(
                or_(
                    and_(
                        BillingBatch.status == BatchStatus.PENDING_PROCESSING,
                        BillingBatch.enqueued_at >= utcnow() - claim_grace(),
                    ),
                    BillingBatch.status == BatchStatus.IN_PROCESS,
                )
            )
            .distinct()
        )
    )
    db.session.commit()
    if BatchStatus.PENDING_PROCESSING in statuses:
        return current_app.config["BATCH_CLAIM_GRACE_SECONDS"] + 1
    if BatchStatus.IN_PROCESS in statuses:
        return current_app.config["BATCH_LEASE_SECONDS"] + 1
    return None


def lost_batches(queued_batch_ids: set[int]) -> list[int]:
    """Batches that should be running but have no live task: queued ones the queue does not hold
    (once the claim grace has passed), and running ones whose heartbeat is older than the lease
    (docs/rules.md rule 7)."""
    rows = db.session.scalars(
        select(BillingBatch.id).where(
            or_(
                and_(
                    BillingBatch.status == BatchStatus.PENDING_PROCESSING,
                    or_(
                        BillingBatch.enqueued_at.is_(None),
                        BillingBatch.enqueued_at < utcnow() - claim_grace(),
                    ),
                ),
                and_(
                    BillingBatch.status == BatchStatus.IN_PROCESS,
                    or_(
                        BillingBatch.heartbeat_at.is_(None),
                        BillingBatch.heartbeat_at < _lease_cutoff(),
                    ),
                ),
            )
        )
    ).all()
    db.session.commit()
    return [batch_id for batch_id in rows if batch_id not in queued_batch_ids]
