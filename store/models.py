"""The tables of tapdesk.

SQLModel classes are the schema; hot paths run SQLAlchemy Core statements on their
``__table__`` (see PERFORMANCE.md: the ORM costs 3-10x per call on the station laptops).
Nothing here is handed to a screen: operations return frozen dataclasses.

Every limit two stations could race on is a constraint or a guarded UPDATE here, not a check
in Python before the write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from store.types import UTCDateTime

__all__ = [
    "Account",
    "Activity",
    "Attendee",
    "Audit",
    "Band",
    "CheckIn",
    "Coat",
    "ColourGroup",
    "CreditPlan",
    "Drop",
    "EarnLimit",
    "Event",
    "Hold",
    "Hub",
    "Instalment",
    "Operation",
    "PendingPoints",
    "Prize",
    "QuizQuestion",
    "Rack",
    "Redemption",
    "SearchKey",
    "StaffBudget",
    "StaffMember",
    "StaffRate",
    "Stage",
    "Station",
    "Talk",
    "Transfer",
    "metadata",
]

metadata = SQLModel.metadata

#: Naming convention so that migrations name constraints the same way on every engine.
metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Attendee(SQLModel, table=True):
    """A person registered for the event."""

    __tablename__ = "attendee"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(
        max_length=32, unique=True, description="Invitation code (the QR carries TD:code)."
    )
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254, unique=True)
    company: str = Field(default="", max_length=200)
    field: str = Field(default="other", max_length=40)
    tags: str = Field(default="", max_length=500, description="Interest tags joined by ';'.")
    registered_via: str = Field(default="", max_length=40)
    colour: str | None = Field(default=None, max_length=40)
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checked_in_station: str | None = Field(default=None, max_length=64)
    checked_in_staff: str | None = Field(default=None, max_length=120)
    active: bool = Field(default=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Band(SQLModel, table=True):
    """An NFC wristband, known by its UID (upper-case hex in anticollision order)."""

    __tablename__ = "band"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'blocked', 'lost', 'returned')", name="state"),
        # One active band per attendee: a replacement blocks the old one in the same operation.
        Index(
            "uq_band_active_attendee",
            "attendee_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    uid: str = Field(primary_key=True, max_length=32)
    attendee_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("attendee.id"), nullable=True, index=True),
    )
    state: str = Field(default="active", max_length=16)
    state_reason: str = Field(default="", max_length=200)
    state_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    state_station: str | None = Field(default=None, max_length=64)
    state_staff: str | None = Field(default=None, max_length=120)
    bound_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Account(SQLModel, table=True):
    """A points account: one per attendee, and system accounts split per station.

    The balance is kept here and changed by a guarded UPDATE in the same transaction as the
    transfer; the CHECK constraint is the last line of defence behind the guard.
    """

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("kind IN ('attendee', 'issuer', 'counter', 'credit')", name="kind"),
        CheckConstraint("floor IS NULL OR balance >= floor", name="balance_floor"),
        UniqueConstraint("kind", "station", name="uq_account_kind_station"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    attendee_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("attendee.id"), nullable=True, unique=True),
    )
    station: str | None = Field(default=None, max_length=64)
    balance: int = Field(default=0)
    floor: int | None = Field(default=0, description="Lowest allowed balance; NULL: no floor.")
    next_due_at: datetime | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description=(
            "When the attendee's earliest unpaid pay-in-four instalment falls due; NULL: nothing"
            " to collect. Every operation on the account reads it with the balance, so the common"
            " case (no plan) costs nothing."
        ),
    )


class Operation(SQLModel, table=True):
    """One user action, applied at most once: its id is generated once per action."""

    __tablename__ = "operation"

    op_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=40)
    station: str = Field(max_length=64)
    staff: str | None = Field(default=None, max_length=120)
    correlation_id: str = Field(max_length=64, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    result: str = Field(default="", description="The JSON result returned again on a retry.")


class Transfer(SQLModel, table=True):
    """An immutable movement of points from one account to another."""

    __tablename__ = "transfer"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        UniqueConstraint("op_id", "seq", name="uq_transfer_op_seq"),
        Index("ix_transfer_debit_amount", "debit_account_id", "amount"),
        Index("ix_transfer_credit_amount", "credit_account_id", "amount"),
    )

    id: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(
        sa_column=Column(ForeignKey("operation.op_id"), nullable=False),
        max_length=64,
    )
    seq: int = Field(default=0)
    debit_account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id"), nullable=False)
    )
    credit_account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id"), nullable=False)
    )
    amount: int
    code: str = Field(max_length=32)
    reference: str = Field(default="", max_length=200)
    station: str = Field(max_length=64)
    staff: str | None = Field(default=None, max_length=120)
    correlation_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    corrects_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("transfer.id"), nullable=True, unique=True),
        description="The transfer this one undoes (unique: a transfer is corrected once).",
    )


class Station(SQLModel, table=True):
    """A laptop running tapdesk, and its own change counter.

    Every committed operation advances its station's ``change_seq``; other stations poll the sum
    to learn that something changed. Splitting the counter per station keeps a hot shared row
    out of every write.
    """

    __tablename__ = "station"

    name: str = Field(primary_key=True, max_length=64)
    role: str | None = Field(default=None, max_length=16)
    staff: str | None = Field(default=None, max_length=120)
    reader_state: str = Field(default="", max_length=200)
    last_seen: datetime | None = Field(default=None, sa_type=UTCDateTime)
    change_seq: int = Field(default=0)
    preferences: str = Field(
        default="", description="What the station remembers (its hub, its chosen award) as JSON."
    )


class Audit(SQLModel, table=True):
    """What happened, who did it, where, and under which correlation id."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    station: str = Field(max_length=64)
    staff: str | None = Field(default=None, max_length=120)
    correlation_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=40)
    subject: str = Field(default="", max_length=200)
    detail: str = Field(default="", description="JSON with what else is worth keeping.")


class PendingPoints(SQLModel, table=True):
    """Points earned before the event (on the site), waiting for the attendee's band.

    Posted as one transfer when the band is bound; ``external_id`` makes each import idempotent.
    """

    __tablename__ = "pending_points"
    __table_args__ = (CheckConstraint("points > 0", name="points_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    attendee_id: int = Field(
        sa_column=Column(Integer, ForeignKey("attendee.id"), nullable=False, index=True)
    )
    external_id: str = Field(max_length=120, unique=True)
    reason: str = Field(default="", max_length=200)
    points: int
    posted_op_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Event(SQLModel, table=True):
    """The event this database belongs to (loaded from the event file)."""

    __tablename__ = "event"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    settings: str = Field(default="{}", description="Budgets, limits and rules as JSON.")
    loaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# -- the event file's entries ----------------------------------------------------------------
#
# Loaded idempotently from the event's TOML file by ``store.eventfile``. Each row is keyed by the
# file's own stable id, so a reload updates in place. An entry that disappears from the file is
# marked inactive, never deleted: transfers, redemptions and coats keep pointing at it.


class Stage(SQLModel, table=True):
    """A stage where talks run."""

    __tablename__ = "stage"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Hub(SQLModel, table=True):
    """A themed hub, kept by a hubman, where attendees earn points for activities."""

    __tablename__ = "hub"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    tags: str = Field(default="", max_length=500, description="Interest tags joined by ';'.")
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Activity(SQLModel, table=True):
    """Something an attendee does at a hub for points."""

    __tablename__ = "activity"
    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint(
            "max_per_attendee IS NULL OR max_per_attendee >= 1", name="max_per_attendee_positive"
        ),
        CheckConstraint("cooldown_minutes >= 0", name="cooldown_not_negative"),
    )

    id: str = Field(primary_key=True, max_length=64)
    hub_id: str = Field(
        sa_column=Column(ForeignKey("hub.id"), nullable=False, index=True), max_length=64
    )
    name: str = Field(max_length=200)
    points: int
    max_per_attendee: int | None = Field(default=None, description="NULL: no limit.")
    cooldown_minutes: int = Field(default=0)
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Talk(SQLModel, table=True):
    """A talk on a stage."""

    __tablename__ = "talk"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: str = Field(primary_key=True, max_length=64)
    stage_id: str = Field(
        sa_column=Column(ForeignKey("stage.id"), nullable=False, index=True), max_length=64
    )
    title: str = Field(max_length=300)
    speaker: str = Field(max_length=200)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    tags: str = Field(default="", max_length=500, description="Interest tags joined by ';'.")
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class QuizQuestion(SQLModel, table=True):
    """A question on a talk's content: a right answer earns points."""

    __tablename__ = "quiz_question"
    __table_args__ = (CheckConstraint("points > 0", name="points_positive"),)

    id: str = Field(primary_key=True, max_length=64)
    talk_id: str = Field(
        sa_column=Column(ForeignKey("talk.id"), nullable=False, index=True), max_length=64
    )
    text: str = Field(max_length=1000)
    answer: str = Field(default="", max_length=1000, description="Shown to staff only.")
    points: int
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Prize(SQLModel, table=True):
    """A prize at the counter.

    Only ``supplied`` comes from the event file: what is still available is derived from the
    redemptions, so reloading the file never resets sales.
    """

    __tablename__ = "prize"
    __table_args__ = (
        CheckConstraint("tier >= 1", name="tier_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("supplied >= 0", name="supplied_not_negative"),
        CheckConstraint("per_person >= 1", name="per_person_positive"),
        CheckConstraint("taken >= 0", name="taken_not_negative"),
    )

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    tier: int
    price: int
    supplied: int
    per_person: int = Field(default=1)
    pay_in_four: bool = Field(default=False)
    taken: int = Field(
        default=0,
        description=(
            "Units of the regular stock out with attendees: moved by a guarded UPDATE"
            " (taken < supplied) in the redemption's transaction; `verify` checks it against the"
            " redemptions. Drops keep their own count."
        ),
    )
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ColourGroup(SQLModel, table=True):
    """One of the four wristband colours and the attendee fields it stands for."""

    __tablename__ = "colour_group"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_ru: str | None = Field(default=None, max_length=200)
    hex: str = Field(max_length=7, description="#RRGGBB")
    fields: str = Field(default="", max_length=500, description="Attendee fields joined by ';'.")
    position: int = Field(default=0, description="Order in the event file.")
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Rack(SQLModel, table=True):
    """A coat rack and how many hangers it holds."""

    __tablename__ = "rack"
    __table_args__ = (CheckConstraint("capacity > 0", name="capacity_positive"),)

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    capacity: int
    position: int = Field(default=0, description="Order in the event file: the next rack to fill.")
    out_of_service_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="Set when the rack fails; NULL: in use."
    )
    out_of_service_reason: str = Field(default="", max_length=200)
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class StaffMember(SQLModel, table=True):
    """A member of staff who signs in with a PIN or a staff band."""

    __tablename__ = "staff_member"
    __table_args__ = (
        CheckConstraint("pin_hash IS NOT NULL OR band_uid IS NOT NULL", name="can_sign_in"),
        # A staff band belongs to one active staff member; an inactive one keeps its history and
        # frees the band for someone else.
        Index(
            "uq_staff_member_active_band_uid",
            "band_uid",
            unique=True,
            sqlite_where=text("active AND band_uid IS NOT NULL"),
            postgresql_where=text("active AND band_uid IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    roles: str = Field(max_length=200, description="Roles joined by ';'.")
    hubs: str = Field(default="", max_length=500, description="Hub ids joined by ';' (hubmen).")
    pin_hash: str | None = Field(default=None, max_length=200)
    band_uid: str | None = Field(default=None, max_length=32)
    attendee_code: str | None = Field(
        default=None, max_length=32, description="The attendee this staff member also is."
    )
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Redemption(SQLModel, table=True):
    """A prize handed over for points; available stock is derived from these rows.

    ``returned_op_id`` is set when the prize comes back (its points are refunded by a correcting
    transfer). Available = supplied - redeemed + returned, never stored, so reloading the event
    file never resets a sale.
    """

    __tablename__ = "redemption"

    id: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(sa_column=Column(ForeignKey("operation.op_id"), nullable=False, unique=True))
    prize_id: str = Field(sa_column=Column(ForeignKey("prize.id"), nullable=False, index=True))
    attendee_id: int = Field(
        sa_column=Column(Integer, ForeignKey("attendee.id"), nullable=False, index=True)
    )
    transfer_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("transfer.id"), nullable=True)
    )
    returned_op_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    price: int = Field(default=0, description="Points charged (a drop may sell below the tier).")
    drop_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("prize_drop.id"), nullable=True, index=True),
        description="The drop this unit came from; NULL: the prize's regular stock.",
    )
    station: str = Field(default="", max_length=64)
    staff: str | None = Field(default=None, max_length=120)
    returned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Drop(SQLModel, table=True):
    """A live drop: a batch of a prize on sale for a limited time, with its own count.

    ``taken`` moves by a guarded UPDATE in the redemption's transaction; units on hold are
    counted on read from ``hold`` (an expired hold frees its unit with no job running).
    """

    __tablename__ = "prize_drop"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("taken >= 0 AND taken <= quantity", name="taken_within_quantity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(sa_column=Column(ForeignKey("operation.op_id"), nullable=False, unique=True))
    prize_id: str = Field(sa_column=Column(ForeignKey("prize.id"), nullable=False, index=True))
    price: int
    quantity: int
    taken: int = Field(default=0)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="Closed early by staff; NULL: runs to end."
    )
    station: str = Field(max_length=64)
    staff: str | None = Field(default=None, max_length=120)


class Hold(SQLModel, table=True):
    """One unit of a drop reserved for an attendee while the counter confirms (no transfer yet).

    Live while ``consumed_op_id`` and ``released_at`` are NULL and ``expires_at`` is in the future
    (database clock); nothing needs to run for an expired hold to free its unit.
    """

    __tablename__ = "hold"
    __table_args__ = (Index("ix_hold_drop_id_expires_at", "drop_id", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(sa_column=Column(ForeignKey("operation.op_id"), nullable=False, unique=True))
    drop_id: int = Field(sa_column=Column(Integer, ForeignKey("prize_drop.id"), nullable=False))
    attendee_id: int = Field(
        sa_column=Column(Integer, ForeignKey("attendee.id"), nullable=False, index=True)
    )
    station: str = Field(max_length=64)
    staff: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    consumed_op_id: str | None = Field(default=None, max_length=64)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CreditPlan(SQLModel, table=True):
    """Pay in four: a prize taken now and paid in four instalments of points."""

    __tablename__ = "credit_plan"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'paid', 'closed')", name="state"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("instalments >= 1", name="instalments_positive"),
        CheckConstraint("interval_minutes > 0", name="interval_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(sa_column=Column(ForeignKey("operation.op_id"), nullable=False, unique=True))
    attendee_id: int = Field(
        sa_column=Column(Integer, ForeignKey("attendee.id"), nullable=False, index=True)
    )
    redemption_id: int = Field(
        sa_column=Column(Integer, ForeignKey("redemption.id"), nullable=False, unique=True)
    )
    price: int
    instalments: int = Field(default=4)
    interval_minutes: int
    state: str = Field(default="open", max_length=16)
    score_detail: str = Field(default="{}", description="The eligibility score, part by part.")
    created_at: datetime = Field(sa_type=UTCDateTime)
    station: str = Field(max_length=64)
    staff: str | None = Field(default=None, max_length=120)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_op_id: str | None = Field(default=None, max_length=64)


class Instalment(SQLModel, table=True):
    """One of a plan's instalments; paid by a transfer from the attendee to the credit account.

    ``overdue_since`` is set when a collection after the due time found the balance short; it
    stays set (history) after a later payment.
    """

    __tablename__ = "instalment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("number >= 1", name="number_positive"),
        Index("ix_instalment_due_at", "due_at"),
    )

    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("credit_plan.id"), primary_key=True))
    number: int = Field(primary_key=True)
    amount: int
    due_at: datetime = Field(sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    transfer_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("transfer.id"), nullable=True)
    )
    overdue_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    written_off_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# -- the coat check ------------------------------------------------------------------------------


class Coat(SQLModel, table=True):
    """A coat handed in, keyed by the attendee (a replaced band still finds it).

    The partial unique indexes are the hanger guard: two stations can never hold the same hanger
    (or paper tag) for two coats, and a person has one coat in at a time. A paper-mode coat has a
    paper tag and no hanger until it is reconciled onto one.
    """

    __tablename__ = "coat"
    __table_args__ = (
        CheckConstraint("state IN ('in', 'collected')", name="state"),
        CheckConstraint("hanger IS NULL OR hanger >= 1", name="hanger_positive"),
        CheckConstraint(
            "(rack_id IS NULL AND hanger IS NULL) OR (rack_id IS NOT NULL AND hanger IS NOT NULL)",
            name="rack_with_hanger",
        ),
        CheckConstraint("hanger IS NOT NULL OR paper_tag IS NOT NULL", name="tagged"),
        Index(
            "uq_coat_held_hanger",
            "rack_id",
            "hanger",
            unique=True,
            sqlite_where=text("state = 'in' AND hanger IS NOT NULL"),
            postgresql_where=text("state = 'in' AND hanger IS NOT NULL"),
        ),
        Index(
            "uq_coat_held_paper_tag",
            "paper_tag",
            unique=True,
            sqlite_where=text("state = 'in' AND paper_tag IS NOT NULL"),
            postgresql_where=text("state = 'in' AND paper_tag IS NOT NULL"),
        ),
        Index(
            "uq_coat_held_attendee",
            "attendee_id",
            unique=True,
            sqlite_where=text("state = 'in'"),
            postgresql_where=text("state = 'in'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(sa_column=Column(ForeignKey("operation.op_id"), nullable=False, unique=True))
    attendee_id: int = Field(
        sa_column=Column(Integer, ForeignKey("attendee.id"), nullable=False, index=True)
    )
    rack_id: str | None = Field(
        default=None, sa_column=Column(ForeignKey("rack.id"), nullable=True, index=True)
    )
    hanger: int | None = Field(default=None)
    paper_tag: str | None = Field(default=None, max_length=32)
    state: str = Field(default="in", max_length=16)
    in_at: datetime = Field(sa_type=UTCDateTime)
    in_station: str = Field(max_length=64)
    in_staff: str | None = Field(default=None, max_length=120)
    out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    out_op_id: str | None = Field(default=None, max_length=64)
    out_station: str | None = Field(default=None, max_length=64)
    out_staff: str | None = Field(default=None, max_length=120)
    out_id_checked: bool = Field(
        default=False, description="Handed over without the band, after an ID check."
    )


# -- the registration desk ---------------------------------------------------------------------


class SearchKey(SQLModel, table=True):
    """One word an attendee can be found by, folded and transliterated by ``store.search``.

    Built in Python (casefold, ё→е, Cyrillic and Kazakh letters to Latin, a few common spelling
    variants per word) and searched with B-tree prefix ranges (``key >= :p AND key < :p_next``),
    the same SQL on both engines. The primary key is the ``(key, attendee_id)`` index the search
    scans; the second index serves "the other words of this candidate" and re-indexing one
    person. PostgreSQL compares the keys byte-wise (collation "C") so that a prefix range means
    what it means on SQLite.
    """

    __tablename__ = "search_key"
    __table_args__ = (
        Index("ix_search_key_attendee_id_key", "attendee_id", "key"),
        {"sqlite_with_rowid": False},
    )

    key: str = Field(
        primary_key=True,
        sa_type=String(100).with_variant(String(100, collation="C"), "postgresql"),
    )
    attendee_id: int = Field(
        sa_column=Column(Integer, ForeignKey("attendee.id"), primary_key=True, nullable=False)
    )


class CheckIn(SQLModel, table=True):
    """One check-in at a desk: who, when, where, the colour handed out and the band bound.

    The attendee row carries the current check-in (set by a guarded UPDATE, so two desks cannot
    both check the same person in); this row keeps what the desk needs to undo it: the band, the
    operation that bound it and the pre-event transfer it posted. An undone check-in is kept
    (``undone_at``); the partial unique index allows one current check-in per attendee.
    """

    __tablename__ = "check_in"
    __table_args__ = (
        Index(
            "uq_check_in_current_attendee",
            "attendee_id",
            unique=True,
            sqlite_where=text("undone_at IS NULL"),
            postgresql_where=text("undone_at IS NULL"),
        ),
        Index("ix_check_in_station_at", "station", "at"),
        CheckConstraint("pre_event_points >= 0", name="pre_event_points_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(sa_column=Column(ForeignKey("operation.op_id"), nullable=False))
    attendee_id: int = Field(sa_column=Column(Integer, ForeignKey("attendee.id"), nullable=False))
    at: datetime = Field(sa_type=UTCDateTime)
    station: str = Field(max_length=64)
    staff: str | None = Field(default=None, max_length=120)
    rule_colour: str | None = Field(
        default=None, max_length=64, description="The colour the event's rule chose."
    )
    colour: str | None = Field(default=None, max_length=64, description="The colour handed out.")
    colour_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    colour_changed_station: str | None = Field(default=None, max_length=64)
    colour_changed_staff: str | None = Field(default=None, max_length=120)
    band_uid: str | None = Field(default=None, max_length=32)
    bind_op_id: str | None = Field(default=None, max_length=64)
    pre_event_transfer_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("transfer.id"), nullable=True)
    )
    pre_event_points: int = Field(default=0)
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    undone_op_id: str | None = Field(default=None, max_length=64)
    undone_station: str | None = Field(default=None, max_length=64)
    undone_staff: str | None = Field(default=None, max_length=120)


class EarnLimit(SQLModel, table=True):
    """How often an attendee earned under one rule, and when last: the guard of every limit.

    ``rule`` is "activity:<id>" (once / at most N), "quiz:<question id>" (once), "social", or
    "hub:<id>" (the hub's cool-down). One guarded upsert per award counts it, so two hubs tapping
    the same attendee at the same moment cannot both pass a limit.
    """

    __tablename__ = "earn_limit"

    rule: str = Field(primary_key=True, max_length=140)
    attendee_id: int = Field(sa_column=Column(Integer, ForeignKey("attendee.id"), primary_key=True))
    count: int = Field(default=0)
    last_at: datetime = Field(sa_type=UTCDateTime)


class StaffBudget(SQLModel, table=True):
    """Points a hubman awarded "for being cool" on one event day (guarded by the daily budget)."""

    __tablename__ = "staff_budget"
    __table_args__ = (CheckConstraint("spent >= 0", name="spent_not_negative"),)

    staff_id: str = Field(primary_key=True, max_length=64)
    day: str = Field(primary_key=True, max_length=10, description="YYYY-MM-DD, event time zone.")
    spent: int = Field(default=0)


class StaffRate(SQLModel, table=True):
    """ "Cool" awards one staff member made in one minute (guarded by the rate limit)."""

    __tablename__ = "staff_rate"

    staff_id: str = Field(primary_key=True, max_length=64)
    minute: int = Field(primary_key=True, description="Minutes since the Unix epoch.")
    count: int = Field(default=0)
