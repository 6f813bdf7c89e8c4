"""Subscribe with double opt-in, confirm, unsubscribe in one click, send issues only with consent. Never commits.

Confirming records a consent "given" event for the subject "email:<address>" through the consent
service (method api, surface email, source_method double_opt_in: the contract has no method of
its own for a confirmed email link); unsubscribing records "withdrawn" (surface email). Issues go
to confirmed subscribers whose consent check allows the purpose at the moment of sending, so a
withdrawal made anywhere else (an app, the privacy team, a restriction) stops them too.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from urllib.parse import quote

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from privacydesk.audit import service as audit
from privacydesk.config import get_settings
from privacydesk.consent import checks
from privacydesk.consent import service as consent
from privacydesk.consent.published import Published, latest
from privacydesk.consent.service import Context, Decision
from privacydesk.consent.subjects import SubjectKey, email_key
from privacydesk.db.base import utcnow
from privacydesk.errors import Invalid, NotFound, PrivacydeskError
from privacydesk.i18n import LANGUAGES
from privacydesk.mail.service import queue_mail
from privacydesk.newsletter import tokens
from privacydesk.newsletter.models import NewsletterSubscription
from privacydesk.requests.verification import throttle

# The actor of what people do themselves through the links, in the audit log.
DATA_SUBJECT = "data_subject"
PATH = "/api/v1/public/newsletter"
# Confirmation mails one address may be sent, and subscriptions one client address may ask for, per hour.
MAILS_PER_ADDRESS = 3
SUBSCRIBES_PER_CLIENT = 20
MAX_SUBJECT = 200
MAX_BODY = 100_000
# One plain address and nothing else: a comma or an angle bracket could add recipients to the confirmation mail.
_ADDRESS = re.compile(r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")


class LinkInvalid(NotFound):
    """A link whose token is malformed, forged, or no longer belongs to the subscription's current state."""


class LinkExpired(PrivacydeskError):
    """A confirmation link used after its lifetime."""

    status_code = 410
    code = "expired"


@dataclass(frozen=True)
class Outcome:
    """A subscription after a link was used, and whether using it changed anything."""

    subscription: NewsletterSubscription
    changed: bool


def email_purpose(policy: Published, purpose: str) -> None:
    """Invalid unless `purpose` is a consent purpose of the published policy sent by email."""
    if policy.purpose(purpose).channel != "email":
        offered = ", ".join(name for name, found in policy.policy.consents.items() if found.channel == "email") or "none"
        raise Invalid(f"purpose {purpose!r} is not sent by email; the policy's email purposes are: {offered}")


def subscribe(session: Session, email: str, purpose: str, language: str | None, *, client: str | None, now: datetime | None = None) -> None:
    """Ask to subscribe `email` to `purpose`: a confirmation link is mailed unless the address already receives it.

    The caller learns nothing about whether the address was subscribed before, so the endpoint cannot
    be used to probe someone's subscriptions.
    """
    now = now or utcnow()
    policy = latest(session)
    email_purpose(policy, purpose)
    address = email.strip().lower()
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise Invalid(f"not an email address: {email[:80]!r} (one address, as name@example.org)")
    language = _language(policy, language)
    key = email_key(address)
    if client is not None:
        throttle(
            session,
            f"newsletter-client:{client}",
            limit=SUBSCRIBES_PER_CLIENT,
            message="too many subscriptions were asked for from your address in the last hour; try again later",
            now=now,
        )
    throttle(
        session,
        f"newsletter-address:{key}:{purpose}",
        limit=MAILS_PER_ADDRESS,
        message=f"{MAILS_PER_ADDRESS} confirmation mails were sent to this address in the last hour; use one of them or wait",
        now=now,
    )
    subscription = _locked(session, key, purpose, address, language, now)
    if subscription.status == "confirmed" and checks.check(session, _subject(subscription), purpose).allowed:
        return
    subscription.status = "pending"
    subscription.email = address
    subscription.language = language
    subscription.requested_at = now
    subscription.confirm_nonce = secrets.token_urlsafe(24)
    session.flush()
    organization, newsletter = _names(policy, purpose, language)
    queue_mail(
        session,
        to=address,
        template="newsletter_confirm",
        language=language,
        context={
            "organization": organization,
            "newsletter": newsletter,
            "confirm_url": _url("confirm", tokens.confirm_token(subscription, now)),
            "days": tokens.CONFIRM_LIFETIME.days,
        },
    )
    audit.record(
        session,
        actor=DATA_SUBJECT,
        action="newsletter.subscription_requested",
        object_type="newsletter_subscription",
        object_id=str(subscription.id),
        summary={"purpose": purpose, "language": language},
    )


def for_confirmation(session: Session, token: str, *, now: datetime | None = None, lock: bool = False) -> NewsletterSubscription:
    """The subscription a confirmation link is for; LinkInvalid or LinkExpired when it cannot be used."""
    parsed = tokens.parse(token, expiring=True)
    subscription = session.get(NewsletterSubscription, parsed.subscription_id, with_for_update=lock) if parsed else None
    if parsed is None or subscription is None or not tokens.confirm_matches(subscription, parsed):
        raise LinkInvalid("this confirmation link is not valid")
    if tokens.expired(parsed, now or utcnow()):
        raise LinkExpired("this confirmation link has expired; subscribe again for a new one")
    return subscription


def confirm(session: Session, token: str, *, context: Context, now: datetime | None = None) -> Outcome:
    """Confirm a subscription: the consent is recorded as given (double opt-in); using the link again changes nothing."""
    now = now or utcnow()
    subscription = for_confirmation(session, token, now=now, lock=True)
    if subscription.status == "confirmed":
        return Outcome(subscription, changed=False)
    evidence = Context(user_agent=context.user_agent, ip=context.ip, source_method="double_opt_in")
    decision = Decision(_subject(subscription), {subscription.purpose: True}, "api", "email", evidence, language=subscription.language)
    consent.record_decision(session, decision, actor=DATA_SUBJECT, now=now)
    subscription.status = "confirmed"
    subscription.confirmed_at = now
    audit.record(
        session,
        actor=DATA_SUBJECT,
        action="newsletter.confirmed",
        object_type="newsletter_subscription",
        object_id=str(subscription.id),
        summary={"purpose": subscription.purpose},
    )
    return Outcome(subscription, changed=True)


def for_unsubscribe(session: Session, token: str, *, lock: bool = False) -> NewsletterSubscription:
    """The subscription an unsubscribe link is for; LinkInvalid when the token is malformed or forged."""
    parsed = tokens.parse(token, expiring=False)
    subscription = session.get(NewsletterSubscription, parsed.subscription_id, with_for_update=lock) if parsed else None
    if parsed is None or subscription is None or not tokens.unsubscribe_matches(subscription, parsed):
        raise LinkInvalid("this unsubscribe link is not valid")
    return subscription


def unsubscribe(session: Session, token: str, *, context: Context, now: datetime | None = None) -> Outcome:
    """Withdraw the consent and end the subscription; the address is erased, only its keyed digest stays."""
    now = now or utcnow()
    subscription = for_unsubscribe(session, token, lock=True)
    try:
        # Whatever the subscription's state: the link's click means "stop", even after a consent given elsewhere.
        withdrawn = consent.withdraw(
            session,
            _subject(subscription),
            [subscription.purpose],
            surface="email",
            context=Context(user_agent=context.user_agent, ip=context.ip),
            actor=DATA_SUBJECT,
            now=now,
        )
    except NotFound:  # never confirmed: no consent was ever recorded
        withdrawn = None
    changed = subscription.status != "unsubscribed" or (withdrawn is not None and withdrawn.record_id is not None)
    if subscription.status != "unsubscribed":
        subscription.status = "unsubscribed"
        subscription.unsubscribed_at = now
        subscription.email = None
        subscription.confirm_nonce = None
        audit.record(
            session,
            actor=DATA_SUBJECT,
            action="newsletter.unsubscribed",
            object_type="newsletter_subscription",
            object_id=str(subscription.id),
            summary={"purpose": subscription.purpose},
        )
    return Outcome(subscription, changed=changed)


def send_newsletter(session: Session, purpose: str, subject: str, body: str, *, actor: str = "system") -> int:
    """Queue one issue per confirmed subscriber whose consent allows `purpose` now; returns how many were queued."""
    policy = latest(session)
    email_purpose(policy, purpose)
    subject = subject.strip()
    if not subject or len(subject) > MAX_SUBJECT or "\n" in subject or "\r" in subject:
        raise Invalid(f"the subject is one line of 1 to {MAX_SUBJECT} characters")
    if not body.strip() or len(body) > MAX_BODY:
        raise Invalid(f"the body is 1 to {MAX_BODY} characters of text")
    mailto = _mailto(policy)
    query = (
        select(NewsletterSubscription)
        .where(NewsletterSubscription.purpose == purpose, NewsletterSubscription.status == "confirmed")
        .order_by(NewsletterSubscription.id)
    )
    subscribers = [found for found in session.scalars(query) if found.email is not None]
    sent = 0
    for start in range(0, len(subscribers), checks.MAX_CHECKS):
        batch = subscribers[start : start + checks.MAX_CHECKS]
        answers = checks.check_many(session, [(_subject(found), purpose) for found in batch])
        for subscriber, answer in zip(batch, answers, strict=True):
            if answer.allowed:
                _queue_issue(session, policy, subscriber, subject, body, mailto)
                sent += 1
    audit.record(
        session, actor=actor, action="newsletter.issue_sent", object_type="newsletter", object_id=purpose, summary={"recipients": sent}
    )
    return sent


def purge_unconfirmed(session: Session, *, now: datetime | None = None) -> int:
    """Delete subscriptions never confirmed within the link's lifetime, with their addresses; returns how many."""
    cutoff = (now or utcnow()) - tokens.CONFIRM_LIFETIME
    result = session.execute(
        delete(NewsletterSubscription)
        .where(NewsletterSubscription.status == "pending", NewsletterSubscription.requested_at <= cutoff)
        .returning(NewsletterSubscription.id)
    )
    count = len(result.all())
    if count:
        audit.record(
            session, actor="system", action="newsletter.unconfirmed_purged", object_type="newsletter_subscription", summary={"count": count}
        )
    return count


def names(session: Session, subscription: NewsletterSubscription) -> tuple[str, str]:
    """The organisation and the newsletter's title in the subscriber's language, for pages."""
    return _names(latest(session), subscription.purpose, subscription.language)


# ---------------------------------------------------------------- internals
def _queue_issue(session: Session, policy: Published, subscriber: NewsletterSubscription, subject: str, body: str, mailto: str) -> None:
    assert subscriber.email is not None
    organization, newsletter = _names(policy, subscriber.purpose, subscriber.language)
    unsubscribe_url = _url("unsubscribe", tokens.unsubscribe_token(subscriber))
    queue_mail(
        session,
        to=subscriber.email,
        template="newsletter_issue",
        language=subscriber.language,
        subject=subject,
        context={
            "organization": organization,
            "newsletter": newsletter,
            "body": body,
            # The HTML part: paragraphs of lines, each escaped by the template.
            "paragraphs": [paragraph.splitlines() for paragraph in re.split(r"\n\s*\n", body.strip())],
            "unsubscribe_url": unsubscribe_url,
        },
        headers={
            # RFC 8058: mail clients offer the button, and POST List-Unsubscribe=One-Click to the https address.
            "List-Unsubscribe": f"<{unsubscribe_url}>, <{mailto}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _locked(session: Session, key: str, purpose: str, address: str, language: str, now: datetime) -> NewsletterSubscription:
    """The subscription of (address, purpose), created pending when absent, row-locked."""
    values = {"email_key": key, "purpose": purpose, "email": address, "language": language, "status": "pending", "requested_at": now}
    # A concurrent request for the same address inserts nothing here and waits for the lock below.
    session.execute(insert(NewsletterSubscription).values(values).on_conflict_do_nothing())
    query = select(NewsletterSubscription).where(NewsletterSubscription.email_key == key, NewsletterSubscription.purpose == purpose)
    return session.scalars(query.with_for_update().execution_options(populate_existing=True)).one()


def _subject(subscription: NewsletterSubscription) -> SubjectKey:
    # Only the stored form is needed by checks and decisions; the address itself may already be erased.
    return SubjectKey("email", subscription.email_key, subscription.email_key)


def _language(policy: Published, wanted: str | None) -> str:
    if wanted is None:
        return policy.policy.organization.languages[0]
    code = wanted.strip().lower().replace("_", "-").split("-")[0]
    if code not in LANGUAGES:
        raise Invalid(f"unsupported language {wanted[:20]!r}; supported: {', '.join(LANGUAGES)}")
    return code


def _names(policy: Published, purpose: str, language: str) -> tuple[str, str]:
    found = policy.policy.consents.get(purpose)
    title = found.title.get(language, policy.policy.text_languages()) if found else purpose
    return policy.policy.organization.name, title


def _mailto(policy: Published) -> str:
    """Where an unsubscribe by mail goes: the policy's request channel, its DPO or its contact, else the sender."""
    organization = policy.policy.organization
    candidates = (policy.policy.requests.channels.email, organization.dpo.email if organization.dpo else None, organization.contact.email)
    address = next((found for found in candidates if found), None) or _sender()
    return f"mailto:{quote(address, safe='@')}?subject=unsubscribe"


def _sender() -> str:
    return parseaddr(get_settings().mail_from)[1]


def _url(action: str, token: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}{PATH}/{action}/{token}"
