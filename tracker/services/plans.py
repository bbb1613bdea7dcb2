"""Measurement plans: create, read, retire, and give one to a series.

A plan is never edited once stored: a series' schedule, and every reminder
and due item already computed from it, must not change under it. To change
a plan, make a new one and retire the old; series that use the old one keep it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select, update

from tracker import instruments as registry
from tracker.auth import audit
from tracker.extensions import db
from tracker.models import MeasurementPlan, User
from tracker.models.types import utcnow
from tracker.scheduling import Plan, plan_errors
from tracker.scheduling.plans import build
from tracker.services.errors import Invalid
from tracker.services.paging import Order

LIST_ORDER = Order((MeasurementPlan.id,))


def _known(code: str) -> bool:
    return code in registry.codes()


def create(actor: User | None, *, name: object, instruments: object, entries: object):
    """Store a new plan after checking every rule; Invalid names each bad field."""
    errors = plan_errors(name, instruments, entries, _known)
    if errors:
        raise Invalid(errors)
    assert isinstance(name, str) and isinstance(entries, list)
    stored_entries = [
        {
            "label": entry["label"].strip(),
            "anchor": entry["anchor"],
            "offset_days": entry["offset_days"],
            "window_days": entry["window_days"],
            "instruments": entry.get("instruments"),
            "repeat_every_days": entry.get("repeat_every_days"),
        }
        for entry in entries
    ]
    plan = MeasurementPlan(
        name=name.strip(),
        instruments=list(instruments),  # type: ignore[arg-type]
        entries=stored_entries,
        created_by=actor.id if actor is not None else None,
    )
    db.session.add(plan)
    db.session.flush()
    audit.record("create", "measurement_plan", plan.id)
    db.session.commit()
    return plan


def listing(include_retired: bool = False) -> Select:
    """The plans a series may be given (and the retired ones, on request); LIST_ORDER."""
    query = select(MeasurementPlan)
    if not include_retired:
        query = query.where(MeasurementPlan.retired.is_(False))
    return query


def retire(plan: MeasurementPlan) -> MeasurementPlan:
    """No new series may take the plan; series that have it keep it. Retiring twice is fine."""
    changed = db.session.execute(
        update(MeasurementPlan)
        .where(MeasurementPlan.id == plan.id, MeasurementPlan.retired.is_(False))
        .values(retired=True, retired_at=utcnow())
    ).rowcount
    if changed:
        audit.record("update", "measurement_plan", plan.id)
    db.session.commit()
    db.session.refresh(plan)
    return plan


def usable(plan_id: int | None, field: str = "plan_id") -> MeasurementPlan | None:
    """The plan a series is about to take; Invalid when it does not exist or is retired."""
    if plan_id is None:
        return None
    plan = db.session.get(MeasurementPlan, plan_id)
    if plan is None:
        raise Invalid({field: ["No such measurement plan."]})
    if plan.retired:
        raise Invalid({field: ["This measurement plan is retired; choose a current one."]})
    return plan


def as_plan(row: MeasurementPlan) -> Plan:
    """A stored plan as the pure scheduling core's value."""
    return build(row.id, row.name, row.instruments, row.entries)


def load(plan_ids: Iterable[int]) -> dict[int, Plan]:
    """Several plans by id, in one query."""
    ids = sorted(set(plan_ids))
    if not ids:
        return {}
    rows = db.session.scalars(select(MeasurementPlan).where(MeasurementPlan.id.in_(ids)))
    return {row.id: as_plan(row) for row in rows}
