"""Newsletter: double opt-in through real mail (aiosmtpd and a worker), issues only with consent, RFC 8058 one-click unsubscribe."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from privacydesk.auth.permissions import Permission
from privacydesk.cli.main import app as cli
from privacydesk.config import get_settings
from privacydesk.db.base import utcnow
from privacydesk.db.engine import transaction
from privacydesk.errors import Invalid
from privacydesk.mail.models import OutboundMail
from privacydesk.mail.render import render
from privacydesk.newsletter import service, tokens
from privacydesk.newsletter.models import NewsletterSubscription
from tests.auth_support import OWNER, add_user, audit_entries, client, configure, issue_token
from tests.consent_support import publish
from tests.jobs_support import rows, work_until
from tests.test_mail import SmtpServer

from .conftest import ROOT

pytestmark = pytest.mark.postgres

CARLAB = ROOT / "examples" / "carlab" / "policy.yaml"
BASE_URL = "https://privacy.seestems.example"
SITE = "https://www.seestems.com"
ANIA, JAN, ZOFIA = "ania.nowak@example.org", "jan.kos@example.org", "zofia.lis@example.org"
CONFIRM_SUBJECTS = {
    "en": "Please confirm your subscription",
    "pl": "Potwierdź subskrypcję",
    "ro": "Vă rugăm să confirmați abonarea",
    "fr": "Merci de confirmer votre abonnement",
    "cs": "Potvrďte prosím odběr",
}


class Desk:
    """The platform with carlab's policy published: a public client, a consent token, the SMTP server."""

    def __init__(self, smtp: SmtpServer, headers: dict[str, str]) -> None:
        self.browser: TestClient = client()
        self.smtp = smtp
        self.headers = headers

    def subscribe(self, email: str, language: str = "pl", purpose: str = "newsletter", expected: int = 202) -> dict[str, Any]:
        answer = self.browser.post("/api/v1/public/newsletter/subscribe", json={"email": email, "purpose": purpose, "language": language})
        assert answer.status_code == expected, answer.text
        return dict(answer.json())

    def check(self, email: str, purpose: str = "newsletter") -> dict[str, Any]:
        answer = self.browser.get("/api/v1/consent/check", params={"subject": f"email:{email}", "purpose": purpose}, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def deliver_all(self) -> None:
        """Run a worker until every queued mail is sent."""
        work_until(lambda: not rows("SELECT 1 FROM outbound_mail WHERE status <> 'sent'"))

    def received(self, to: str, subject: str | None = None) -> list[EmailMessage]:
        return [m for m in self.smtp.inbox.messages if m["To"] == to and (subject is None or m["Subject"] == subject)]

    def issue(self, subject: str, body: str = "Nowe kamery SEESTEMS już są.\n\nZapraszamy <na stronę> & do salonu.") -> int:
        with transaction() as session:
            return service.send_newsletter(session, "newsletter", subject, body, actor="test")


@pytest.fixture
def desk(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Desk]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure(monkeypatch, tmp_path, base_url=BASE_URL, smtp_port=str(port), worker_poll_seconds="0.1", consent_origins=SITE)
    add_user()
    _, secret = issue_token(OWNER, {Permission.CONSENT_READ, Permission.CONSENT_WRITE})
    publish(CARLAB)
    server = SmtpServer(port)
    server.start()
    yield Desk(server, {"Authorization": f"Bearer {secret}"})
    server.stop()
    get_settings.cache_clear()


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _link(text: str, action: str) -> str:
    """The path of the `action` link in a mail (the base URL is the configured public address)."""
    found = re.search(rf"{re.escape(BASE_URL)}(/api/v1/public/newsletter/{action}/[0-9]+\.[0-9.a-f]+)", text)
    assert found is not None, text
    return found.group(1)


def _subscriptions() -> list[tuple[str | None, str]]:
    with transaction() as session:
        return [(s.email, s.status) for s in session.scalars(select(NewsletterSubscription).order_by(NewsletterSubscription.id))]


def _confirm(desk: Desk, email: str) -> None:
    (mail,) = desk.received(email, CONFIRM_SUBJECTS["pl"])[-1:]
    answer = desk.browser.post(_link(_text(mail), "confirm"))
    assert answer.status_code == 200, answer.text


def test_double_opt_in_issues_only_with_consent_and_one_click_unsubscribe(desk: Desk) -> None:
    accepted = {desk.subscribe(email)["message"] for email in (ANIA, JAN, ZOFIA)}
    desk.deliver_all()
    # The same answer for everyone: the endpoint tells nobody whether an address was known.
    assert len(accepted) == 1
    (mail,) = desk.received(ANIA)
    assert mail["Subject"] == CONFIRM_SUBJECTS["pl"]
    assert "„Biuletyn CARLAB” od SEESTEMS SAS" in _text(mail)
    assert "Link jest ważny przez 3 dni." in _text(mail)
    confirm = _link(_text(mail), "confirm")
    assert f'href="{BASE_URL}{confirm}"' in _html(mail)
    assert desk.check(ANIA) == {"allowed": False, "reason": "no_record", "record_id": None, "expires_at": None}

    # Opening the link (as a mail scanner does) only shows the button.
    page = desk.browser.get(confirm)
    assert page.status_code == 200
    assert '<html lang="pl">' in page.text
    assert "Potwierdzam subskrypcję</button>" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert desk.check(ANIA)["reason"] == "no_record"

    done = desk.browser.post(confirm)
    assert done.status_code == 200
    assert "Subskrypcja potwierdzona" in done.text
    answer = desk.check(ANIA)
    assert answer["allowed"] is True
    assert answer["reason"] == "given"
    history = desk.browser.get(f"/api/v1/consent/subjects/email:{ANIA}/history", headers=desk.headers).json()
    assert [(e["event_state"], e["collection_method"], e["surface"], e["source_method"]) for e in history] == [
        ("given", "api", "email", "double_opt_in")
    ]
    # Using the link again changes nothing.
    assert "była już potwierdzona" in desk.browser.post(confirm).text
    assert len(desk.browser.get(f"/api/v1/consent/subjects/email:{ANIA}/history", headers=desk.headers).json()) == 1
    _confirm(desk, JAN)

    # Subscribing a confirmed address again sends nothing, and says the same as ever.
    assert desk.subscribe(ANIA)["message"] in accepted
    assert desk.issue("Nowości CARLAB: wrzesień") == 2
    desk.deliver_all()
    assert len(desk.received(ANIA, CONFIRM_SUBJECTS["pl"])) == 1
    assert desk.received(ZOFIA, "Nowości CARLAB: wrzesień") == []
    unsubscribe_paths = {}
    for email in (ANIA, JAN):
        (issue,) = desk.received(email, "Nowości CARLAB: wrzesień")
        assert issue["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = (part.strip().strip("<>") for part in str(issue["List-Unsubscribe"]).split(","))
        assert mailto == "mailto:contact@seestems.com?subject=unsubscribe"
        assert https.startswith(f"{BASE_URL}/api/v1/public/newsletter/unsubscribe/")
        path = urlsplit(https).path
        # The same link in both parts of the mail; the body's text is escaped in HTML.
        assert _link(_text(issue), "unsubscribe") == path
        assert f'href="{https}"' in _html(issue)
        assert "Zapraszamy &lt;na stronę&gt; &amp; do salonu." in _html(issue)
        assert "Zapraszamy <na stronę> & do salonu." in _text(issue)
        unsubscribe_paths[email] = path
    assert unsubscribe_paths[ANIA] != unsubscribe_paths[JAN]

    # The page the link opens changes nothing; the RFC 8058 POST does, with no login and no cookie.
    page = desk.browser.get(unsubscribe_paths[ANIA])
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert desk.check(ANIA)["allowed"] is True
    one_click = TestClient(desk.browser.app, base_url="https://testserver")
    answer = one_click.post(unsubscribe_paths[ANIA], data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert "Subskrypcja anulowana" in answer.text
    assert desk.check(ANIA)["reason"] == "withdrawn"
    assert [e["event_state"] for e in desk.browser.get(f"/api/v1/consent/subjects/email:{ANIA}/history", headers=desk.headers).json()] == [
        "given",
        "withdrawn",
    ]
    # The address is erased with the subscription; only its keyed digest stays, to honour the unsubscribe.
    assert _subscriptions() == [(None, "unsubscribed"), (JAN, "confirmed"), (ZOFIA, "pending")]
    # A second click is harmless.
    assert one_click.post(unsubscribe_paths[ANIA], data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(desk.browser.get(f"/api/v1/consent/subjects/email:{ANIA}/history", headers=desk.headers).json()) == 2

    assert desk.issue("Nowości CARLAB: październik") == 1
    desk.deliver_all()
    assert desk.received(ANIA, "Nowości CARLAB: październik") == []
    assert len(desk.received(JAN, "Nowości CARLAB: październik")) == 1
    assert desk.received(ZOFIA, "Nowości CARLAB: październik") == []
    actions = [entry.action for entry in audit_entries() if entry.action.startswith("newsletter.")]
    assert actions.count("newsletter.subscription_requested") == 3
    assert actions.count("newsletter.confirmed") == 2
    assert actions.count("newsletter.unsubscribed") == 1
    assert actions.count("newsletter.issue_sent") == 2


def test_a_consent_withdrawn_elsewhere_stops_the_issues(desk: Desk) -> None:
    desk.subscribe(JAN, language="en")
    desk.deliver_all()
    (mail,) = desk.received(JAN, CONFIRM_SUBJECTS["en"])
    assert desk.browser.post(_link(_text(mail), "confirm")).status_code == 200
    # The company's app records a withdrawal through the server API: the subscription alone does not send.
    answer = desk.browser.post(
        "/api/v1/consent/decisions", json={"subject": f"email:{JAN}", "choices": {"newsletter": False}}, headers=desk.headers
    )
    assert answer.status_code == 201, answer.text
    assert desk.issue("News") == 0
    # Subscribing again asks for a new confirmation, and confirming gives the consent again.
    desk.subscribe(JAN, language="en")
    desk.deliver_all()
    confirmations = desk.received(JAN, CONFIRM_SUBJECTS["en"])
    assert len(confirmations) == 2
    assert desk.browser.post(_link(_text(confirmations[-1]), "confirm")).status_code == 200
    assert desk.check(JAN)["reason"] == "given"
    assert desk.issue("News") == 1


def test_forged_expired_and_spent_links_are_refused_and_change_nothing(desk: Desk) -> None:
    desk.subscribe(ANIA)
    desk.subscribe(JAN)
    confirm = _link(render_confirmation(ANIA), "confirm")
    subscription_id, expires, signature = confirm.rsplit("/", 1)[1].split(".")
    forged = [
        f"/api/v1/public/newsletter/confirm/{subscription_id}.{expires}.{'0' * len(signature)}",
        f"/api/v1/public/newsletter/confirm/{subscription_id}.{int(expires) + 86400}.{signature}",
        f"/api/v1/public/newsletter/confirm/{int(subscription_id) + 1}.{expires}.{signature}",
        "/api/v1/public/newsletter/confirm/not-a-token",
    ]
    for path in forged:
        for method in ("GET", "POST"):
            answer = desk.browser.request(method, path, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
            assert answer.status_code == 404, (path, answer.text)
            assert "Ce lien n&#39;est pas valide" in answer.text
    with transaction() as session:
        stored = session.get_one(NewsletterSubscription, int(subscription_id))
        expired = tokens.confirm_token(stored, utcnow() - tokens.CONFIRM_LIFETIME - timedelta(minutes=1))
    answer = desk.browser.post(f"/api/v1/public/newsletter/confirm/{expired}")
    assert answer.status_code == 410
    assert "This link has expired" in answer.text
    assert desk.check(ANIA)["reason"] == "no_record"
    assert _subscriptions() == [(ANIA, "pending"), (JAN, "pending")]

    # A newer request voids the earlier link.
    desk.subscribe(ANIA)
    assert desk.browser.post(confirm).status_code == 404
    assert desk.browser.post(_link(render_confirmation(ANIA), "confirm")).status_code == 200
    assert desk.check(ANIA)["reason"] == "given"

    with transaction() as session:
        ania = session.scalars(select(NewsletterSubscription).where(NewsletterSubscription.email == ANIA)).one()
        jan = session.scalars(select(NewsletterSubscription).where(NewsletterSubscription.email == JAN)).one()
        ania_token, jan_token = tokens.unsubscribe_token(ania), tokens.unsubscribe_token(jan)
    # Ania's signature under Jan's id, a bare id, a wrong signature: refused, Ania still subscribed.
    for token in (f"{jan.id}.{ania_token.split('.')[1]}", str(ania.id), f"{ania.id}.{'f' * 64}", f"{ania.id}.{jan_token.split('.')[1]}"):
        answer = desk.browser.post(f"/api/v1/public/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 404, token
    # A POST without the RFC 8058 field is not an unsubscribe.
    assert desk.browser.post(f"/api/v1/public/newsletter/unsubscribe/{ania_token}").status_code == 422
    assert desk.browser.post(f"/api/v1/public/newsletter/unsubscribe/{ania_token}", data={"List-Unsubscribe": "yes"}).status_code == 422
    assert desk.check(ANIA)["reason"] == "given"

    answer = desk.browser.post(f"/api/v1/public/newsletter/unsubscribe/{ania_token}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert desk.check(ANIA)["reason"] == "withdrawn"
    # The confirmation link of before cannot subscribe her again behind her back.
    assert desk.browser.post(_link(render_confirmation(ANIA, index=-1), "confirm")).status_code == 404
    assert desk.check(ANIA)["reason"] == "withdrawn"


def render_confirmation(email: str, index: int = -1) -> str:
    """The text of a queued confirmation mail to `email` (the stored message, before delivery)."""
    with transaction() as session:
        mails = list(
            session.scalars(
                select(OutboundMail)
                .where(OutboundMail.to == email, OutboundMail.template == "newsletter_confirm")
                .order_by(OutboundMail.id)
            )
        )
    return mails[index].text_body


def test_bad_subscriptions_are_refused_and_store_nothing(desk: Desk) -> None:
    cases = {
        "unknown purpose 'sms_offers'": {"email": ANIA, "purpose": "sms_offers"},
        "purpose 'analytics_cookies' is not sent by email; the policy's email purposes are: newsletter": {
            "email": ANIA,
            "purpose": "analytics_cookies",
        },
        "not an email address": {"email": f"{ANIA},attacker@example.net", "purpose": "newsletter"},
        "unsupported language 'de'": {"email": ANIA, "purpose": "newsletter", "language": "de"},
    }
    for message, payload in cases.items():
        answer = desk.browser.post("/api/v1/public/newsletter/subscribe", json=payload)
        assert answer.status_code == 422, answer.text
        assert message in answer.json()["error"]["message"]
    for payload in ({"email": ANIA}, {"email": ANIA, "purpose": "newsletter", "extra": 1}):
        assert desk.browser.post("/api/v1/public/newsletter/subscribe", json=payload).status_code == 422
    assert _subscriptions() == []
    assert rows("SELECT 1 FROM outbound_mail") == []


def test_subscriptions_are_rate_limited_per_address_and_per_client(desk: Desk) -> None:
    for _ in range(service.MAILS_PER_ADDRESS):
        desk.subscribe(ANIA)
    refused = desk.subscribe(ANIA.upper(), expected=429)
    assert "confirmation mails were sent to this address" in refused["error"]["message"]
    assert len(rows('SELECT 1 FROM outbound_mail WHERE "to" = :to', to=ANIA)) == service.MAILS_PER_ADDRESS
    for number in range(service.SUBSCRIBES_PER_CLIENT - service.MAILS_PER_ADDRESS):
        desk.subscribe(f"reader{number}@example.org")
    refused = desk.subscribe("one-more@example.org", expected=429)
    assert "from your address" in refused["error"]["message"]
    assert rows("SELECT 1 FROM newsletter_subscriptions WHERE email = 'one-more@example.org'") == []


def test_unconfirmed_requests_are_purged_after_the_link_expires(desk: Desk) -> None:
    desk.subscribe(ANIA)
    desk.subscribe(JAN)
    with transaction() as session:
        jan = session.scalars(select(NewsletterSubscription).where(NewsletterSubscription.email == JAN)).one()
        token = tokens.confirm_token(jan, utcnow())
    assert desk.browser.post(f"/api/v1/public/newsletter/confirm/{token}").status_code == 200
    with transaction() as session:
        assert service.purge_unconfirmed(session) == 0
        assert service.purge_unconfirmed(session, now=utcnow() + tokens.CONFIRM_LIFETIME + timedelta(minutes=1)) == 1
    assert _subscriptions() == [(JAN, "confirmed")]


def test_an_issue_needs_an_email_purpose_and_a_one_line_subject(desk: Desk) -> None:
    with transaction() as session:
        for purpose, subject, body in (
            ("analytics_cookies", "News", "text"),
            ("newsletter", "News\nBcc: x@example.org", "text"),
            ("newsletter", "", "x"),
        ):
            with pytest.raises(Invalid):
                service.send_newsletter(session, purpose, subject, body)


@pytest.mark.parametrize("lang", sorted(CONFIRM_SUBJECTS))
def test_the_newsletter_mails_are_translated(lang: str) -> None:
    context = {"organization": "SEESTEMS SAS", "newsletter": "CARLAB", "confirm_url": "https://x.example/c/1.2.ab", "days": 3}
    confirmation = render("newsletter_confirm", lang, context)
    assert confirmation.subject == CONFIRM_SUBJECTS[lang]
    assert "https://x.example/c/1.2.ab" in confirmation.text
    issue = render(
        "newsletter_issue",
        lang,
        {**context, "body": "Hello", "paragraphs": [["Hello"]], "unsubscribe_url": "https://x.example/u/1.ab"},
        subject="CARLAB 9/2024",
    )
    assert issue.subject == "CARLAB 9/2024"
    assert "https://x.example/u/1.ab" in issue.text
    assert '<a href="https://x.example/u/1.ab">' in issue.html


def test_the_command_line_sends_an_issue_to_subscribers_with_consent(desk: Desk, tmp_path: Path) -> None:
    desk.subscribe(JAN, language="en")
    desk.subscribe(ZOFIA)
    with transaction() as session:
        jan = session.scalars(select(NewsletterSubscription).where(NewsletterSubscription.email == JAN)).one()
        token = tokens.confirm_token(jan, utcnow())
    assert desk.browser.post(f"/api/v1/public/newsletter/confirm/{token}").status_code == 200
    body = tmp_path / "issue.txt"
    body.write_text("New cameras are in.\n", encoding="utf-8")

    sent = CliRunner().invoke(cli, ["newsletter", "send", "--purpose", "newsletter", "--subject", "CARLAB news", "--body", str(body)])
    assert sent.exit_code == 0, sent.output
    assert "queued 1 mail(s) for newsletter" in sent.output
    assert rows("SELECT \"to\", subject FROM outbound_mail WHERE template = 'newsletter_issue'") == [(JAN, "CARLAB news")]

    refused = CliRunner().invoke(cli, ["newsletter", "send", "--purpose", "analytics_cookies", "--subject", "x", "--body", str(body)])
    assert refused.exit_code == 1
    assert "is not sent by email" in refused.output


def test_a_site_listed_in_the_consent_origins_may_post_its_sign_up_form(desk: Desk) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = desk.browser.options("/api/v1/public/newsletter/subscribe", headers={"Origin": SITE, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SITE
    other = desk.browser.options("/api/v1/public/newsletter/subscribe", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    answer = desk.browser.post(
        "/api/v1/public/newsletter/subscribe", json={"email": ANIA, "purpose": "newsletter"}, headers={"Origin": SITE}
    )
    assert answer.status_code == 202
    assert answer.headers["access-control-allow-origin"] == SITE
