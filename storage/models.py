"""Typed ORM models. Times are aware UTC; the display time zone is a setting."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.domain.clock import utcnow
from bot.domain.facts import Place, ReportFacts
from bot.domain.grading import Casualties
from storage.types import JSONType, UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSONType}
    __table__: ClassVar[Table]  # every model here maps one table (SQLAlchemy types it as any FROM clause)


class Unit(Base):
    """An office or organisation; units form a tree (county under city under province)."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], lazy="raise")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="raise")  # load it with UnitRepo.get where needed
    role_rows: Mapped[list[UserRole]] = relationship(lazy="joined", cascade="all, delete-orphan", back_populates="user")

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r.role for r in self.role_rows)


class PeopleVersion(Base):
    """One counter that every change to users, user_roles, units or duty_groups advances (database triggers,
    migrations 0010 and 0011): a process's cache of people and of units with their duty groups (storage.people) is
    valid while the counter is the one it was filled at."""

    __tablename__ = "people_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_rows", lazy="raise")


class DutyGroup(Base):
    """A Telegram group chat bound to a unit's duty desk (one group per unit)."""

    __tablename__ = "duty_groups"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str | None] = mapped_column(String(255))
    bound_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    """A one-time, expiring registration code used in a /start deep link."""

    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    used_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)  # an incident's timeline


class InboxUpdate(Base):
    """An update fetched from Telegram, stored before Telegram is told it arrived (the next getUpdates
    offset). handled_at is set in the transaction of the update's own effects, so an update a crash cut
    off is handled at the next start, and one already handled is never handled twice."""

    __tablename__ = "update_inbox"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[str] = mapped_column(Text)  # the update as JSON, as Telegram sent it
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None] = mapped_column(index=True)
    # runs that started and never finished (a crash mid-update counts at the next start); past the limit the update is
    # set aside (quarantined, with the error) instead of being run again: one poison update cannot take the bot down
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quarantined_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
    released_at: Mapped[datetime | None]  # an operator released it from quarantine: the bot that is up runs it
    # webhook workers: whose update it is (one person's updates are taken in order), and which worker holds it until
    sender_id: Mapped[int | None] = mapped_column(BigInteger)
    leased_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index(
            "ix_update_inbox_waiting",
            "bot_id",
            "sender_id",
            "update_id",
            postgresql_where=text("handled_at IS NULL"),
            sqlite_where=text("handled_at IS NULL"),
        ),
    )


class OutboxMessage(Base):
    """A message an update decided to send, stored in that update's transaction and deleted once sent:
    a crash between the commit and the send delivers it at the next start instead of losing it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[str] = mapped_column(Text)  # {"method": …, "kwargs": …} as JSON
    created_at: Mapped[datetime]
    # the retry job takes a row only once this has passed (the sending process, or a retry that took it, holds it)
    leased_until: Mapped[datetime | None]


class FsmRecord(Base):
    """aiogram conversation state and data, one row per storage key."""

    __tablename__ = "fsm_state"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    bot_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_fsm_state_state_updated", "state", "updated_at"),)


class DailyCounter(Base):
    """Per-day sequence for human-friendly incident numbers (KB-YYYYMMDD-NNNN)."""

    __tablename__ = "daily_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Incident(Base):
    """One event; its reports (initial, follow-ups, final) hang below it."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    subtype: Mapped[str | None] = mapped_column(String(32))
    suggested_grade: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str] = mapped_column(String(16), index=True)
    grade_reason: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    place_text: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    deaths: Mapped[int | None]
    missing: Mapped[int | None]
    serious_injuries: Mapped[int | None]
    injuries: Mapped[int | None]
    trapped: Mapped[int | None]
    loss_cny: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="open")
    initial_due_at: Mapped[datetime]
    next_due_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]  # duty staff marked it handled: the final report is due
    closed_at: Mapped[datetime | None]  # the final report closed it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_incidents_status_unit", "status", "unit_id"),)  # the open incidents of a tree

    # the one place the incident's columns meet a report's facts (bot.domain.facts)
    def facts(self) -> ReportFacts:
        """The incident's facts as its reports left them."""
        return ReportFacts(
            category=self.category,
            subtype=self.subtype,
            occurred_at=self.occurred_at,
            place=Place(self.place_text, self.latitude, self.longitude),
            casualties=Casualties(self.deaths, self.missing, self.serious_injuries, self.injuries, self.trapped),
            loss_cny=self.loss_cny,
        )

    def take_facts(self, facts: ReportFacts) -> None:
        """Record a report's facts on the incident (what the report left unknown becomes unknown here too)."""
        if facts.category is not None:
            self.category, self.subtype = facts.category, facts.subtype
        if facts.occurred_at is not None:
            self.occurred_at = facts.occurred_at
        self.place_text, self.latitude, self.longitude = facts.place.text, facts.place.lat, facts.place.lon
        self.take_figures(facts.known_casualties, facts.loss_cny)

    def take_figures(self, casualties: Casualties, loss_cny: int | None) -> None:
        c = casualties
        self.deaths, self.missing, self.serious_injuries, self.injuries = c.deaths, c.missing, c.serious, c.injured
        self.trapped, self.loss_cny = c.trapped, loss_cny


class Report(Base):
    """A filed report; `fields` keeps every answer as the reporter gave it."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # initial | flash | followup | final
    seq: Mapped[int] = mapped_column(Integer, default=0)
    draft_token: Mapped[str] = mapped_column(String(32))  # idempotency key, unique per reporter
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    fields: Mapped[dict[str, Any]]
    started_at: Mapped[datetime]
    submitted_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # timeliness (what inspections count): the deadline this report answered, and the key elements
    # (time, place, category, casualties, loss) it left unknown; `incomplete` when there is any
    due_at: Mapped[datetime | None]
    unknown: Mapped[list[str] | None] = mapped_column(JSONType)
    incomplete: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # where the reporter's receipt is (when the review message became it), so it can tell what became of
    # the alerts, in the reporter's language
    receipt_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    receipt_message_id: Mapped[int | None] = mapped_column(BigInteger)
    receipt_locale: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        UniqueConstraint("reporter_id", "draft_token", name="uq_report_reporter_draft"),
        Index("ix_reports_received_at", "received_at"),  # the ledger, statistics and exports read by day
    )


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str] = mapped_column(String(255))
    file_unique_id: Mapped[str] = mapped_column(String(128))


class Alert(Base):
    """A report alert posted to a duty group; message_id is filled once Telegram accepted it.

    Until then the alert is due for another attempt at next_attempt_at (the first try is right after
    the commit; a crash, an outage or a bot removed from the group leaves it here for the retry loop).
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(16))  # unit | parent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # retries, not the first try
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)  # None: delivered or given up
    last_error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None]
    undelivered_notice_at: Mapped[datetime | None]  # when administrators were told it could not be delivered
    # an alert of a grade that asks for acknowledgement: when the next escalation step is due while nobody
    # has acknowledged it (None: acknowledged, not asked, or every step taken), and how many steps were taken
    ack_due_at: Mapped[datetime | None] = mapped_column(index=True)
    ack_steps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AlertPart(Base):
    """One message of an alert's delivery: the text (position 0), then each attachment message or album.
    message_id is filled once Telegram accepted it, so a retry sends only what was not accepted, in order,
    and nothing of an alert goes out before its text."""

    __tablename__ = "alert_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # text | media
    payload: Mapped[dict[str, Any]]  # media: {"items": [[kind, file_id], …], "first": i, "total": n}
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("alert_id", "position", name="uq_alert_part_position"),)


class Acknowledgement(Base):
    __tablename__ = "acknowledgements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("alert_id", "user_id", name="uq_ack_alert_user"),)


class Deadline(Base):
    """A report due (domain rules §4): by which rule of the clock table, from whom, by when, and what became
    of it. Business data (the status and statistics commands read it) and the scheduler's timer at once:
    `next_at` is when its next reminder, escalation or 漏报 mark is due (None when nothing more will happen);
    `done_until` the last moment already acted on, so a step is never taken twice."""

    __tablename__ = "deadlines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    rule: Mapped[str] = mapped_column(String(64))  # the clock table's rule code
    due: Mapped[str] = mapped_column(String(16))  # initial | written | followup | final | supplementary | evaluation
    seq: Mapped[int] = mapped_column(Integer, default=0)  # the follow-up's number
    start_at: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | met | missed | cancelled
    late: Mapped[bool] = mapped_column(Boolean, default=False)  # 迟报: the deadline passed while it was open
    met_at: Mapped[datetime | None]
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"))
    next_at: Mapped[datetime | None] = mapped_column(index=True)
    done_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # open deadlines by incident (the next deadline of every open incident) and by due time (overdue lists)
    __table_args__ = (
        Index("ix_deadlines_state_incident", "state", "incident_id", "due_at"),
        Index("ix_deadlines_state_due", "state", "due_at"),
    )


class Warning(Base):
    """One early-warning message (domain rules §5): an issue, an adjustment (msg_type update) or a lift
    (cancel). Adjustments and lifts point at the message they change (`refers_id`) and at the first one
    (`root_id`); a warning's current state is its latest published message. `fields` holds the bulletin as
    the publisher gave it; level, expiry and drill are columns too, for the lists and the sender's order."""

    __tablename__ = "warnings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    root_id: Mapped[int | None] = mapped_column(ForeignKey("warnings.id", ondelete="RESTRICT"), index=True)
    refers_id: Mapped[int | None] = mapped_column(ForeignKey("warnings.id", ondelete="RESTRICT"))
    msg_type: Mapped[str] = mapped_column(String(16))  # alert | update | cancel
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | rejected | published | superseded
    level: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer)  # 0 red … 3 blue: the sender's order
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    onset_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    fields: Mapped[dict[str, Any]]
    targets: Mapped[dict[str, Any]]  # {"units": [...], "subunits": bool, "roles": [...], "groups": bool}
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # the issuing unit (its first author's): who may approve, adjust, lift and see it follows from it
    unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("units.id", ondelete="RESTRICT", name="fk_warnings_unit_id"), index=True
    )
    draft_token: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="form")  # form | cap
    cap_ref: Mapped[str | None] = mapped_column(String(500))  # an imported file's "sender,identifier,sent"
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None]
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None]  # every delivery answered (sent, failed or unreachable)
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("author_id", "draft_token", name="uq_warning_author_draft"),)


class WarningDelivery(Base):
    """One recipient of one warning message, written in the transaction that published it; the sender
    moves it from queued to sent, unreachable (403, chat gone) or failed (after capped retries)."""

    __tablename__ = "warning_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    locale: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent | unreachable | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None]  # a retry's earliest moment
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime | None]
    received_by: Mapped[int | None] = mapped_column(BigInteger)  # who tapped 收到 (in a group: anyone)
    remind_at: Mapped[datetime | None] = mapped_column(index=True)  # the next receipt step (reminder, leader)
    remind_steps: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_warning_deliveries_queue", "state", "rank", "warning_id", "id"),
        Index("ix_warning_deliveries_warning_state", "warning_id", "state"),
    )


class Lease(Base):
    """A named lease: one holder at a time (the early-warning sender), taken over once it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class Shift(Base):
    """One duty shift of a unit (domain rules §6), from the imported roster: who leads (带班领导) and who is on
    duty (值班员), primary or secondary; each person as {name, phone, user_id} (user_id when they are a user
    of the unit, so they can be mentioned). `notify_at`: when the duty group is to be told who takes over."""

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # primary | secondary
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    leaders: Mapped[list[Any]] = mapped_column(JSONType)
    officers: Mapped[list[Any]] = mapped_column(JSONType)
    notify_at: Mapped[datetime | None] = mapped_column(index=True)
    check_at: Mapped[datetime | None] = mapped_column(index=True)  # after its end: was it handed over?
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("unit_id", "kind", "starts_at", name="uq_shift_unit_kind_start"),
        Index("ix_shifts_unit_time", "unit_id", "starts_at", "ends_at"),
    )


class Handover(Base):
    """A shift handover (交接班): composed from the data by the outgoing officer (with an optional note), posted
    to the duty group and to the incoming officers, acknowledged by one of them."""

    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shifts.id", ondelete="SET NULL"), index=True)
    from_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    note: Mapped[str | None] = mapped_column(String(1000))
    summary: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime | None]


class DailySummary(Base):
    """A local day whose duty summary (值班日报) was posted: written in the transaction that put the messages in
    the outbox, so each day's summary goes out once, whichever process's scheduler gets there first."""

    __tablename__ = "daily_summaries"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, local
    groups: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime]


class LinkedUnit(Base):
    """A linked unit (联动成员单位: police station, fire brigade, traffic squad, health centre, power supplier…): a unit
    of the tree, or an outside agency given a unit of its own, that duty offices order out (bot.domain.dispatch). Its
    liaisons (联络员) are its people with the liaison role; its duty group is the unit's bound group; at night its
    duty staff are the roster's."""

    __tablename__ = "linked_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # police | fire | traffic | health | power | water | … (data)
    tier: Mapped[str] = mapped_column(String(16))  # first (30 min) | other (40 min) (data/dispatch.toml)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DispatchOrder(Base):
    """A dispatch order (派单, `LD-20261207-0001`): a duty office orders linked units out to an incident, with an
    instruction and an optional meeting point. Each unit's part is a DispatchPart; the order's live board is one
    message in the dispatching duty group, edited as the parts move."""

    __tablename__ = "dispatch_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))  # the dispatching office
    dispatcher_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    instruction: Mapped[str] = mapped_column(Text)
    meeting_point: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    board_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    board_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # when the board is next drawn (a move marks it, a few seconds on: moves close together make one edit; held a
    # while by the process drawing it); None: drawn as it stands
    board_due_at: Mapped[datetime | None] = mapped_column(index=True)
    draft_token: Mapped[str | None] = mapped_column(String(32))  # the form's: a repeated submit makes no new order

    __table_args__ = (UniqueConstraint("dispatcher_id", "draft_token"),)


class DispatchPart(Base):
    """One linked unit's part in an order, through its states (bot.domain.dispatch.State), each with its time. Its
    clock: `next_at` is when the scheduler next acts on it (acceptance re-sent or escalated, a reminder before the
    arrival deadline, 迟到 at it, the scene report owed), `done_until` the last moment acted on — the same claim as
    the deadlines' and the alerts' acknowledgement, so it is restart-safe the same way."""

    __tablename__ = "dispatch_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("dispatch_orders.id", ondelete="CASCADE"), index=True)
    linked_unit_id: Mapped[int] = mapped_column(ForeignKey("linked_units.id", ondelete="RESTRICT"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="dispatched")
    tier: Mapped[str] = mapped_column(String(16))  # as it was at the order (the unit's tier may change later)
    dispatched_at: Mapped[datetime]
    due_at: Mapped[datetime]  # arrival on scene
    accepted_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    departed_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    arrival_latitude: Mapped[float | None]
    arrival_longitude: Mapped[float | None]
    distance_m: Mapped[float | None]
    late: Mapped[bool] = mapped_column(Boolean, default=False)  # 迟到: the arrival deadline passed before arrival
    scene_report: Mapped[dict[str, Any] | None]
    scene_reported_at: Mapped[datetime | None]
    feedback: Mapped[dict[str, Any] | None]
    done_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    last_actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the order sent again unanswered
    next_at: Mapped[datetime | None] = mapped_column(index=True)
    done_until: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("order_id", "linked_unit_id"),)
