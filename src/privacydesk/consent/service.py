"""Record consent decisions, keep the current state in step, link keys, read history. Never commits."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.consent import persons, revisions, texts
from privacydesk.consent.models import ConsentEvent, ConsentRecord, ConsentState
from privacydesk.consent.published import Published, expiry, latest, require_purpose
from privacydesk.consent.subjects import SubjectKey
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid, NotFound
from privacydesk.i18n import LANGUAGES
from privacydesk.policy.models import Policy

# Explicit choices; a Global Privacy Control refusal is not one, so any of these replaces it.
EXPLICIT_METHODS = frozenset({"accept_all", "reject_all", "custom", "api", "import"})
MAX_URL = 2000
MAX_USER_AGENT = 500


@dataclass(frozen=True)
class Context:
    """Where a decision was made: recorded with it as evidence."""

    page_url: str | None = None
    user_agent: str | None = None
    gpc: bool = False
    # The raw client address; kept only truncated, and only when the policy asks for it.
    ip: str | None = None
    source: str | None = None
    source_method: str | None = None


@dataclass(frozen=True)
class Decision:
    """A person's choices as sent to privacydesk."""

    subject: SubjectKey
    choices: dict[str, bool]
    method: str
    surface: str | None
    context: Context = Context()
    language: str | None = None
    text_hash: str | None = None
    policy_version: str | None = None
    # When the decision was made, if not now (imports).
    decided_at: datetime | None = None
    # The refusals withdraw a consent (a withdraw call, an imported withdrawal), whatever the state was.
    withdrawal: bool = False


@dataclass
class Recorded:
    """What a decision stored: its record (None when nothing changed), choices, expiries, events and new states."""

    record_id: uuid.UUID | None
    subject: str
    choices: dict[str, bool] = field(default_factory=dict)
    expires_at: dict[str, datetime | None] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)


def record_decision(
    session: Session,
    decision: Decision,
    *,
    actor: str,
    require_notice: bool = False,
    now: datetime | None = None,
) -> Recorded:
    """Validate and store a decision: one record, one event per purpose, the current state updated, the record queued for audit.

    `require_notice`: the caller showed privacydesk's own texts (the banner), so the language, the
    text hash and the policy version must be given and current. Records enter the audit chain in
    batches (ledger.py): one entry per decision would serialise all decisions on the chain's lock.
    """
    now = now or utcnow()
    policy = latest(session)
    choices = validated(policy.policy, policy.hash, decision, require_notice=require_notice)
    revisions.ensure_synced(session, policy.number)
    person_id = persons.lock(session, decision.subject.stored, create=True)
    assert person_id is not None
    states = _states(session, person_id)
    if decision.method == "gpc":
        # Global Privacy Control refuses what the person has not explicitly decided; explicit choices stand.
        choices = {purpose: False for purpose in choices if not _explicit(states.get(purpose), now)}
        if not choices:
            return Recorded(None, decision.subject.shown)
    return _store(session, policy, person_id, decision, choices, states, actor=actor, now=now)


def withdraw(
    session: Session,
    subject: SubjectKey,
    purposes: list[str] | None,
    *,
    surface: str | None,
    context: Context,
    actor: str,
    now: datetime | None = None,
) -> Recorded:
    """Withdraw the consents the person has given (all, or those listed); NotFound if nothing was ever recorded."""
    now = now or utcnow()
    policy = latest(session)
    for purpose in purposes or []:
        policy.purpose(purpose)
    person_id = persons.lock(session, subject.stored, create=False)
    if person_id is None:
        raise NotFound("no consent is recorded for this subject")
    given = session.scalars(select(ConsentState.purpose).where(ConsentState.person_id == person_id, ConsentState.state == "given"))
    wanted = set(purposes) if purposes is not None else set(policy.purposes)
    choices = {purpose: False for purpose in given if purpose in wanted and purpose in policy.policy.consents}
    if not choices:
        return Recorded(None, subject.shown)
    decision = Decision(subject, choices, "custom", surface, context, withdrawal=True)
    return _store(session, policy, person_id, decision, choices, _states(session, person_id), actor=actor, now=now)


def link(session: Session, subjects: list[SubjectKey], *, actor: str) -> list[str]:
    """Make the keys name one person: each check on any of them then sees the person's latest decision."""
    stored = list(dict.fromkeys(subject.stored for subject in subjects))
    if len(stored) < 2:
        raise Invalid("give at least two different subject keys to link")
    person_id, merged = persons.link(session, stored)
    audit.record(
        session,
        actor=actor,
        action="consent.linked",
        object_type="consent_person",
        object_id=str(person_id),
        summary={"keys": len(stored), "persons_merged": merged},
    )
    return persons.keys_of(session, person_id)


@dataclass(frozen=True)
class HistoryEntry:
    """One event with the record it belongs to."""

    record: ConsentRecord
    event: ConsentEvent


def history(session: Session, subject: SubjectKey) -> list[HistoryEntry]:
    """Every event of the person the key names (over all linked keys), oldest first; NotFound for an unknown key."""
    person_id = persons.find(session, subject.stored)
    if person_id is None:
        raise NotFound("no consent is recorded for this subject")
    rows = session.execute(
        select(ConsentRecord, ConsentEvent)
        .join(ConsentEvent, ConsentEvent.record_id == ConsentRecord.record_id)
        .where(ConsentRecord.pii_principal_id.in_(persons.keys_of(session, person_id)))
        .order_by(ConsentEvent.event_time, ConsentEvent.id)
    ).all()
    return [HistoryEntry(record, event) for record, event in rows]


def expire_due(session: Session, *, now: datetime | None = None) -> int:
    """Mark consents and remembered refusals past their expiry as expired, with an event each; returns how many."""
    now = now or utcnow()
    count = int(session.execute(_EXPIRE, {"now": now}).scalar_one())
    if count:
        audit.record(session, actor="system", action="consent.expired", object_type="consent_state", summary={"states": count})
    return count


# One decision: its record, its open row for the batch audit, an event per purpose, and the person's state per
# purpose. Parent and child rows in one statement are fine: the foreign keys are checked when the statement
# ends. The latest decision wins: an import of older decisions never overwrites a newer state.
_STORE = text(
    """
    WITH record AS (
        INSERT INTO consent_records (record_id, pii_principal_id, person_id, notice_version, policy_version_number, notice_hash,
            language, collection_method, surface, event_time, recorded_at, entity_id, page_url, user_agent, gpc, ip_address,
            source, source_method)
        VALUES (:record_id, :subject, :person_id, :notice_version, :version, :notice_hash, :language, :method, :surface,
            :decided_at, :recorded_at, :actor, :page_url, :user_agent, :gpc, :ip_address, :source, :source_method)
        RETURNING record_id
    ), audit AS (
        INSERT INTO consent_record_audits (record_id) SELECT record_id FROM record
    ), chosen AS (
        SELECT * FROM unnest(CAST(:purposes AS text[]), CAST(:events AS text[]), CAST(:states AS text[]), CAST(:expires AS timestamptz[]))
            WITH ORDINALITY AS chosen(purpose, event_state, state, expires_at, n)
    ), events AS (
        INSERT INTO consent_events (record_id, purpose, event_state, event_time, valid_until)
        SELECT record.record_id, chosen.purpose, chosen.event_state, :decided_at, chosen.expires_at
        FROM record CROSS JOIN chosen ORDER BY chosen.n
    )
    INSERT INTO consent_states (person_id, purpose, state, method, record_id, policy_version_number, decided_at, expires_at)
    SELECT :person_id, chosen.purpose, chosen.state, :method, record.record_id, :version, :decided_at, chosen.expires_at
    FROM record CROSS JOIN chosen
    ON CONFLICT (person_id, purpose) DO UPDATE SET
        state = EXCLUDED.state, method = EXCLUDED.method, record_id = EXCLUDED.record_id,
        policy_version_number = EXCLUDED.policy_version_number, decided_at = EXCLUDED.decided_at, expires_at = EXCLUDED.expires_at
    WHERE consent_states.decided_at <= EXCLUDED.decided_at
    """
)
_EXPIRE = text(
    """
    WITH due AS (
        UPDATE consent_states SET state = 'expired'
        WHERE state IN ('given', 'refused') AND expires_at <= :now
        RETURNING record_id, purpose
    ), logged AS (
        INSERT INTO consent_events (record_id, purpose, event_state, event_time, valid_until)
        SELECT record_id, purpose, 'expired', :now, NULL FROM due
        RETURNING 1
    )
    SELECT count(*) FROM logged
    """
)


def truncated_ip(address: str | None) -> str | None:
    """The network of an address, IPv4 /24 or IPv6 /48; None for anything that is not an address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def page_without_query(url: str | None) -> str | None:
    """The page address without query string or fragment (they may carry personal data); Invalid if not http(s)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(f"page_url must be an http(s) address, not {url[:80]!r}")
    stripped = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if len(stripped) > MAX_URL:
        raise Invalid(f"page_url is longer than {MAX_URL} characters")
    return stripped


def validated(policy: Policy, latest_hash: str, decision: Decision, *, require_notice: bool) -> dict[str, bool]:
    """The purposes a decision decides, checked against the latest published version (`policy`, `latest_hash`)."""
    choices = dict(decision.choices)
    for purpose in choices:
        require_purpose(policy, purpose)
    if decision.method == "gpc":
        if any(choices.values()):
            raise Invalid("a Global Privacy Control decision refuses every purpose: send every choice as false, or none")
        choices = dict.fromkeys(policy.consents, False)
    elif not choices:
        raise Invalid("choices is empty: give at least one purpose and whether the person allows it")
    if decision.method == "accept_all" and not all(choices.values()):
        raise Invalid("method accept_all sends every choice as true; use method custom for a mixed choice")
    if decision.method == "reject_all" and any(choices.values()):
        raise Invalid("method reject_all sends every choice as false; use method custom for a mixed choice")
    if decision.language is not None and decision.language not in LANGUAGES:
        raise Invalid(f"unsupported language {decision.language[:20]!r}; supported: {', '.join(LANGUAGES)}")
    if require_notice and (decision.language is None or decision.text_hash is None or decision.policy_version is None):
        raise Invalid("give the language, text_hash and policy_version of the configuration the choice was made on")
    if decision.policy_version is not None and decision.policy_version != latest_hash:
        raise Invalid(
            "policy_version is not the published policy: the policy changed since the choices were shown; reload the configuration",
            details={"policy_version": latest_hash},
        )
    if decision.text_hash is not None:
        if decision.language is None:
            raise Invalid("a text_hash needs the language the text was shown in")
        expected = texts.banner_config(policy, latest_hash, decision.language)["text_hash"]
        if decision.text_hash != expected:
            raise Invalid(
                f"text_hash does not match the texts privacydesk serves in {decision.language!r}: reload the configuration",
                details={"text_hash": expected},
            )
    return choices


def _explicit(state: ConsentState | None, now: datetime) -> bool:
    """Whether a standing explicit decision exists (a GPC refusal, an expired one, or none at all is not)."""
    if state is None or state.method not in EXPLICIT_METHODS or state.state == "expired":
        return False
    return state.expires_at is None or state.expires_at > now


def _store(
    session: Session,
    policy: Published,
    person_id: int,
    decision: Decision,
    choices: dict[str, bool],
    states: dict[str, ConsentState],
    *,
    actor: str,
    now: datetime,
) -> Recorded:
    result = outcome(policy.policy, decision, choices, states, revisions.latest_revisions(session), now)
    # The record, its audit row, its events and the person's new states in one statement.
    parameters = stored_parameters(policy.policy, decision, result, actor=actor, now=now)
    session.execute(_STORE, {**parameters, "person_id": person_id, "notice_version": policy.hash, "version": policy.number})
    return result


def outcome(
    policy: Policy,
    decision: Decision,
    choices: dict[str, bool],
    states: dict[str, ConsentState],
    revised: dict[str, int],
    now: datetime,
) -> Recorded:
    """What storing the choices over the person's standing `states` makes: per purpose an event, a new state, an expiry."""
    decided_at = decision.decided_at or now
    result = Recorded(uuid.uuid4(), decision.subject.shown)
    for purpose, allowed in choices.items():
        event_state, state = _transition(decision, allowed, states.get(purpose), revised.get(purpose), now)
        result.choices[purpose] = allowed
        result.events[purpose] = event_state
        result.states[purpose] = state
        result.expires_at[purpose] = expiry(policy, purpose, state, decided_at)
    return result


def stored_parameters(policy: Policy, decision: Decision, result: Recorded, *, actor: str, now: datetime) -> dict[str, Any]:
    """The parameters of the statements that store a decision: the record's columns, its events and new states."""
    context = decision.context
    purposes = list(result.states)
    return {
        "record_id": result.record_id,
        "subject": decision.subject.stored,
        "notice_hash": decision.text_hash,
        "language": decision.language,
        "method": decision.method,
        "surface": decision.surface,
        "decided_at": decision.decided_at or now,
        "recorded_at": now,
        "actor": actor,
        "page_url": page_without_query(context.page_url),
        "user_agent": (context.user_agent or "")[:MAX_USER_AGENT] or None,
        "gpc": context.gpc,
        "ip_address": truncated_ip(context.ip) if policy.consent_settings.store_ip == "truncated" else None,
        "source": context.source,
        "source_method": context.source_method,
        "purposes": purposes,
        "events": [result.events[purpose] for purpose in purposes],
        "states": [result.states[purpose] for purpose in purposes],
        "expires": [result.expires_at[purpose] for purpose in purposes],
    }


def _states(session: Session, person_id: int) -> dict[str, ConsentState]:
    # populate_existing: the states are written with plain INSERT ... ON CONFLICT, which the identity map does not see.
    query = select(ConsentState).where(ConsentState.person_id == person_id).execution_options(populate_existing=True)
    return {state.purpose: state for state in session.scalars(query)}


def _transition(decision: Decision, allowed: bool, current: ConsentState | None, revised_in: int | None, now: datetime) -> tuple[str, str]:
    """The event a choice makes and the state it leads to, given the standing state."""
    if decision.method == "import":
        # An imported row states what happened then; it is not compared with what is known now.
        event = "given" if allowed else ("withdrawn" if decision.withdrawal else "refused")
        return event, event
    standing = (
        current is not None
        and current.state == "given"
        and (current.expires_at is None or current.expires_at > now)
        and (revised_in is None or current.policy_version_number >= revised_in)
    )
    if allowed:
        return ("updated" if standing else "given"), "given"
    return ("withdrawn", "withdrawn") if standing or decision.withdrawal else ("refused", "refused")
