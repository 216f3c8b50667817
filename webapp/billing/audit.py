"""The audit trail: who created, sent, batched, cancelled, retried and synced what, and when."""

from sqlalchemy import insert, select

from webapp.billing.messages import Message, stored
from webapp.extensions import db
from webapp.models import AuditEvent, utcnow


def record(
    actor: str, action: str, entity_type: str, entity_id: int, detail: Message | str = ""
) -> None:
    """Adds an event to the caller's transaction, so it commits or rolls back with the change.
    A detail with words is a ``Message``, kept as its code and parameters; one without (a sync
    id, a customer's name) is text."""
    db.session.add(
        AuditEvent(
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            detail=stored(detail),
        )
    )


def events_for(entity_type: str, entity_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.id)
        )
    )


def latest_events(entity_type: str, limit: int) -> list[AuditEvent]:
    """The last ``limit`` events of every record of a type, oldest first."""
    latest = list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )
    return latest[::-1]


def record_many(
    actor: str, action: str, entity_type: str, entity_ids: list[int], detail: Message | str = ""
) -> None:
    """One event per record, inserted set-based."""
    if entity_ids:
        now = utcnow()
        db.session.execute(
            insert(AuditEvent),
            [
                {
                    "occurred_at": now,
                    "actor": actor,
                    "action": action,
                    "entity_type": entity_type,
                    "entity_id": entity_id,
                    "detail": stored(detail),
                }
                for entity_id in entity_ids
            ],
        )
