"""The consent banner in Chromium, on the Imou demo shop, against a running privacydesk with the Imou policy published."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import yaml
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from privacydesk.consent.models import ConsentEvent, ConsentRecord
from privacydesk.consent.site import PLACEHOLDER_ORIGIN, mount_site
from privacydesk.db.engine import transaction
from privacydesk.policy.loader import load_policy
from privacydesk.versions import service as versions
from privacydesk.web.app import create_app
from tests.auth_support import configure
from tests.browser_support import axe_source, chromium, free_port, serving

ROOT = Path(__file__).resolve().parents[1]
IMOU = ROOT / "examples" / "imou"
ANALYTICS = "analytics_cookies"
ANALYTICS_COOKIES = {"_ga", "_gid", "jsuid"}
LANGUAGES = ("en", "pl", "ro", "fr", "cs")

pytestmark = pytest.mark.postgres


# ---------------------------------------------------------------- the running platform and the shop
@dataclass(frozen=True)
class Shop:
    """privacydesk on 127.0.0.1 and the shop's pages on localhost: two origins, as on a real site."""

    privacy: str
    shop: str
    pages: Path

    def url(self, lang: str = "pl") -> str:
        """The shop's page with <html lang=`lang`>."""
        return f"{self.shop}/site/index.{lang}.html"

    def config(self, lang: str) -> dict[str, Any]:
        """The banner configuration privacydesk serves in `lang`."""
        response = httpx.get(f"{self.privacy}/api/v1/public/consent/config", params={"lang": lang})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def choices(self, subject: str) -> dict[str, Any]:
        """What privacydesk answers for `subject`, purpose by purpose."""
        response = httpx.get(f"{self.privacy}/api/v1/public/consent/subjects/{subject}/choices")
        response.raise_for_status()
        result: dict[str, Any] = response.json()["choices"]
        return result


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@contextmanager
def running_shop(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """privacydesk with the Imou policy published, serving the shop's pages too, on a free port."""
    port = free_port()
    privacy, origin = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
    configure(monkeypatch, directory, base_url=privacy, consent_origins=origin)
    publish(IMOU / "policy.yaml")
    # The demo page once per language, as a shop would serve its localised pages.
    pages = directory / "site"
    shutil.copytree(IMOU / "site", pages)
    html = (pages / "index.html").read_text(encoding="utf-8")
    for lang in (*LANGUAGES, "de"):
        (pages / f"index.{lang}.html").write_text(html.replace('<html lang="pl">', f'<html lang="{lang}">'), encoding="utf-8")
    app = create_app()
    app.add_api_route("/site/index.csp.html", lambda: page_with_policy(pages, privacy, origin), include_in_schema=False)
    mount_site(app, pages, privacy_origin=privacy)
    with serving(app, port):
        yield Shop(privacy, origin, pages)


def page_with_policy(pages: Path, privacy: str, origin: str) -> HTMLResponse:
    """The shop's page under a Content-Security-Policy header that allows scripts by nonce, as strict sites serve it."""
    tagged = '<script type="text/plain" data-category="analytics_cookies">'
    html = (pages / "index.html").read_text(encoding="utf-8").replace(PLACEHOLDER_ORIGIN, privacy)
    policy = f"script-src 'nonce-imou' {privacy} {origin}/site/analytics.js"
    return HTMLResponse(html.replace(tagged, tagged.replace(">", ' nonce="imou">')), headers={"Content-Security-Policy": policy})


@pytest.fixture(scope="module")
def shop(module_platform_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """One server for the module: each test's fresh browser context is a new visitor with a new consent id."""
    with pytest.MonkeyPatch.context() as monkeypatch, running_shop(tmp_path_factory.mktemp("shop"), monkeypatch) as running:
        yield running


@pytest.fixture
def own_shop(platform_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """A server and database of the test's own, for tests that publish policies."""
    with running_shop(tmp_path, monkeypatch) as running:
        yield running


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    created = browser.new_context()
    yield created
    created.close()


def publish(path: Path) -> None:
    with transaction() as session:
        versions.publish(session, load_policy(path), publisher="test")


def stored_choice(context: Any) -> dict[str, Any] | None:
    """The banner's pd_consent cookie, decoded."""
    for cookie in context.cookies():
        if cookie["name"] == "pd_consent":
            found: dict[str, Any] = json.loads(unquote(cookie["value"]))
            return found
    return None


def cookie_names(context: Any) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


def records(consent_id: str) -> list[tuple[ConsentRecord, dict[str, str]]]:
    """Every record privacydesk stored for the consent id, oldest first, with the state it gave each purpose."""
    with transaction() as session:
        rows = session.scalars(
            select(ConsentRecord).where(ConsentRecord.pii_principal_id == f"cid:{consent_id}").order_by(ConsentRecord.event_time)
        ).all()
        found = []
        for row in rows:
            events = session.scalars(select(ConsentEvent).where(ConsentEvent.record_id == row.record_id)).all()
            session.expunge(row)
            found.append((row, {event.purpose: event.event_state for event in events}))
        return found


def decided(context: Any, page: Any, count: int = 1) -> tuple[str, list[tuple[ConsentRecord, dict[str, str]]]]:
    """Wait until the page has remembered a choice recorded `count` times; the consent id and its records."""
    page.wait_for_function("n => document.cookie.includes('pd_consent=') && window.__pdRecorded >= n", arg=count)
    choice = stored_choice(context)
    assert choice is not None
    return choice["id"], records(choice["id"])


def open_shop(context: Any, url: str) -> Any:
    page = context.new_page()
    # Counts the decisions privacydesk answered, so tests wait for the record rather than for time.
    page.add_init_script(
        """
        window.__pdRecorded = 0;
        const send = window.fetch;
        window.fetch = async (...args) => {
          const response = await send(...args);
          if (String(args[0]).endsWith('/decisions') && response.ok) window.__pdRecorded++;
          return response;
        };
        """
    )
    page.goto(url)
    return page


def analytics_ran(page: Any) -> bool:
    return bool(page.evaluate("() => Boolean(window.imouAnalytics) && Boolean(window.imouClicky)"))


def button(page: Any, text: str) -> Any:
    return page.get_by_role("dialog").get_by_role("button", name=text, exact=True)


# ---------------------------------------------------------------- first layer
def test_nothing_runs_before_a_choice_and_accept_all_runs_it(shop: Shop, context: Any) -> None:
    texts = shop.config("pl")
    page = open_shop(context, shop.url("pl"))
    dialog = page.get_by_role("dialog", name=texts["texts"]["title"])
    dialog.wait_for()
    assert dialog.get_attribute("aria-modal") == "true"
    assert page.get_by_text(texts["texts"]["description"]).is_visible()
    # No cookie, no tracker, the tagged scripts still inert.
    assert context.cookies() == []
    assert not analytics_ran(page)
    assert page.locator('script[type="text/plain"][data-category="analytics_cookies"]').count() == 2

    button(page, texts["texts"]["accept_all"]).click()
    _, stored = decided(context, page)
    assert analytics_ran(page)
    assert cookie_names(context) >= ANALYTICS_COOKIES
    assert dialog.is_hidden()
    [(record, states)] = stored
    assert (record.collection_method, record.surface, record.language, record.gpc) == ("accept_all", "banner", "pl", False)
    assert record.notice_hash == texts["text_hash"]
    assert states == {purpose["id"]: "given" for purpose in texts["purposes"]}
    remembered = stored_choice(context)
    assert remembered is not None
    assert remembered["v"] == texts["policy_version"]
    assert remembered["c"] == {purpose["id"]: True for purpose in texts["purposes"]}


def test_accept_reject_and_customise_weigh_the_same(shop: Shop, context: Any) -> None:
    texts = shop.config("pl")["texts"]
    page = open_shop(context, shop.url("pl"))
    buttons = [button(page, texts[name]) for name in ("accept_all", "reject_all", "customise")]
    boxes = [b.bounding_box() for b in buttons]
    assert len({(round(box["width"]), round(box["height"])) for box in boxes}) == 1
    looks = [
        b.evaluate(
            "el => { const s = getComputedStyle(el); return [s.backgroundColor, s.color, s.fontSize, s.fontWeight, s.borderTopWidth,"
            " s.borderTopColor, s.paddingTop] }"
        )
        for b in buttons
    ]
    assert looks[0] == looks[1] == looks[2]


def test_reject_all_keeps_analytics_off_on_every_page(shop: Shop, context: Any) -> None:
    config = shop.config("pl")
    page = open_shop(context, shop.url("pl"))
    button(page, config["texts"]["reject_all"]).click()
    consent_id, [(record, states)] = decided(context, page)
    assert record.collection_method == "reject_all"
    assert record.notice_hash == config["text_hash"]
    assert set(states.values()) == {"refused"}
    assert shop.choices(f"cid:{consent_id}")[ANALYTICS]["allowed"] is False

    page.reload()
    page.get_by_role("button", name=config["texts"]["reopen"]).wait_for()
    assert page.get_by_role("dialog").count() == 0 or page.get_by_role("dialog").is_hidden()
    assert not analytics_ran(page)
    assert not ANALYTICS_COOKIES & cookie_names(context)


# ---------------------------------------------------------------- second layer
def test_customise_allows_only_what_was_switched_on(shop: Shop, context: Any) -> None:
    config = shop.config("en")
    page = open_shop(context, shop.url("en"))
    button(page, config["texts"]["customise"]).click()
    analytics = next(p for p in config["purposes"] if p["id"] == ANALYTICS)
    switch = page.get_by_role("switch", name=analytics["title"])
    # Nothing is switched on for the person; every purpose is described.
    assert not any(s.is_checked() for s in page.get_by_role("switch").all() if s.is_enabled())
    for purpose in config["purposes"]:
        assert page.get_by_role("switch", name=purpose["title"]).is_visible()
        if purpose["description"]:
            assert page.get_by_text(purpose["description"]).is_visible()
    section = page.locator("section", has=switch)
    section.locator("summary", has_text=config["texts"]["cookies"]).click()
    rows = section.locator("tbody tr")
    assert {rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())} == ANALYTICS_COOKIES
    assert page.get_by_role("columnheader", name=config["texts"]["cookie_lifetime"]).first.is_visible()
    essential = page.locator("section", has_text=config["texts"]["essential_title"])
    assert essential.get_by_role("switch").is_disabled() and essential.get_by_role("switch").is_checked()

    switch.check()
    button(page, config["texts"]["save"]).click()
    _, [(record, states)] = decided(context, page)
    assert analytics_ran(page)
    assert record.collection_method == "custom"
    assert states == {p["id"]: "given" if p["id"] == ANALYTICS else "refused" for p in config["purposes"]}


def test_withdrawing_clears_the_purposes_cookies(shop: Shop, context: Any) -> None:
    config = shop.config("en")
    texts = config["texts"]
    page = open_shop(context, shop.url("en"))
    button(page, texts["accept_all"]).click()
    consent_id, _ = decided(context, page)
    assert cookie_names(context) >= ANALYTICS_COOKIES

    page.get_by_role("link", name="Ustawienia plików cookies").click()
    button(page, texts["customise"]).click()
    switch = page.get_by_role("switch", name=next(p["title"] for p in config["purposes"] if p["id"] == ANALYTICS))
    assert switch.is_checked()
    # The analytics already ran in this page: the banner reloads it so they stop.
    with page.expect_navigation():
        switch.uncheck()
        button(page, texts["save"]).click()
    page.wait_for_load_state()
    assert not ANALYTICS_COOKIES & cookie_names(context)
    assert not analytics_ran(page)
    records_now = records(consent_id)
    assert [record.collection_method for record, _ in records_now] == ["accept_all", "custom"]
    assert records_now[1][1][ANALYTICS] in {"withdrawn", "refused"}
    answer = shop.choices(f"cid:{consent_id}")[ANALYTICS]
    assert answer["allowed"] is False
    assert answer["reason"] == "withdrawn"


# ---------------------------------------------------------------- signals, languages, scripts, reopening
def test_global_privacy_control_refuses_without_a_banner_and_an_explicit_opt_in_wins(shop: Shop, browser: Any) -> None:
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    context.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    try:
        config = shop.config("pl")
        page = open_shop(context, shop.url("pl"))
        consent_id, [(record, states)] = decided(context, page)
        assert page.get_by_role("dialog").is_hidden()
        assert (record.collection_method, record.gpc, record.notice_hash) == ("gpc", True, config["text_hash"])
        assert set(states.values()) == {"refused"}
        assert not analytics_ran(page)

        page.get_by_role("link", name="Ustawienia plików cookies").click()
        button(page, config["texts"]["accept_all"]).click()
        _, stored = decided(context, page, 2)
        assert [r.collection_method for r, _ in stored] == ["gpc", "accept_all"]
        assert analytics_ran(page)
        assert shop.choices(f"cid:{consent_id}")[ANALYTICS]["allowed"] is True
        # The explicit choice is remembered: the next page neither asks nor refuses again.
        page.reload()
        page.wait_for_function("() => window.imouAnalytics")
        assert len(records(consent_id)) == 2
    finally:
        context.close()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_banner_speaks_the_pages_language(shop: Shop, context: Any, lang: str) -> None:
    config = shop.config(lang)
    page = open_shop(context, shop.url(lang))
    dialog = page.get_by_role("dialog", name=config["texts"]["title"])
    dialog.wait_for()
    assert dialog.get_attribute("lang") == lang
    for name in ("accept_all", "reject_all", "customise"):
        assert button(page, config["texts"][name]).is_visible()
    button(page, config["texts"]["reject_all"]).click()
    _, [(record, _)] = decided(context, page)
    assert (record.language, record.notice_hash) == (lang, config["text_hash"])


def test_languages_differ_and_the_browser_language_is_the_fallback(shop: Shop, browser: Any) -> None:
    titles = {lang: shop.config(lang)["texts"]["title"] for lang in LANGUAGES}
    assert len(set(titles.values())) == len(LANGUAGES)
    # A page in a language the banner does not speak: the browser's preferred language decides.
    context = browser.new_context(locale="ro-RO")
    try:
        page = open_shop(context, shop.url("de"))
        page.get_by_role("dialog", name=titles["ro"]).wait_for()
    finally:
        context.close()


def test_tagged_scripts_run_from_the_remembered_choice_without_a_round_trip(shop: Shop, context: Any) -> None:
    texts = shop.config("pl")["texts"]
    page = open_shop(context, shop.url("pl"))
    assert not analytics_ran(page)
    button(page, texts["accept_all"]).click()
    decided(context, page)
    # privacydesk unreachable: the remembered choice alone unblocks the page's analytics.
    page.route(f"{shop.privacy}/api/**", lambda route: route.abort())
    context.clear_cookies(name="_ga")
    page.reload()
    page.wait_for_function("() => window.imouAnalytics && window.imouClicky")
    assert "_ga" in cookie_names(context)
    assert page.locator('script[type="text/plain"]').count() == 0


def test_tagged_scripts_keep_their_nonce_under_a_content_security_policy(shop: Shop, context: Any) -> None:
    page = open_shop(context, f"{shop.shop}/site/index.csp.html")
    # The browser hides the nonce from the page's scripts: the banner copies it from the element itself.
    assert page.evaluate("() => document.querySelector('script[nonce]')?.getAttribute('nonce')") == ""
    button(page, shop.config("pl")["texts"]["accept_all"]).click()
    page.wait_for_function("() => window.imouAnalytics && window.imouClicky")


def test_the_reopen_link_and_button_bring_the_choices_back(shop: Shop, context: Any) -> None:
    texts = shop.config("pl")["texts"]
    page = open_shop(context, shop.url("pl"))
    button(page, texts["reject_all"]).click()
    decided(context, page)
    dialog = page.get_by_role("dialog")
    reopen = page.get_by_role("button", name=texts["reopen"])
    reopen.click()
    dialog.wait_for()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.shadowRoot.activeElement.getAttribute('aria-label')") == texts["reopen"]

    page.get_by_role("link", name="Ustawienia plików cookies").click()
    dialog.wait_for()
    button(page, texts["customise"]).click()
    assert not any(s.is_checked() for s in page.get_by_role("switch").all() if s.is_enabled())
    button(page, texts["close"]).click()
    dialog.wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.textContent") == "Ustawienia plików cookies"


# ---------------------------------------------------------------- keyboard and screen readers
def focused(page: Any) -> str:
    """The text or accessible name of the focused element inside the banner ('' when focus is elsewhere)."""
    return str(
        page.evaluate(
            """() => {
              const host = document.getElementById('privacydesk');
              if (document.activeElement !== host) return '';
              const el = host.shadowRoot.activeElement;
              return el ? (el.getAttribute('aria-label') || el.closest('label')?.textContent || el.textContent).trim() : '';
            }"""
        )
    )


def test_keyboard_only(shop: Shop, context: Any) -> None:
    config = shop.config("en")
    texts = config["texts"]
    page = open_shop(context, shop.url("en"))
    page.get_by_role("dialog").wait_for()
    # The dialog takes the focus, so a screen reader announces its title and text.
    page.wait_for_function("() => document.getElementById('privacydesk').shadowRoot.activeElement?.getAttribute('role') === 'dialog'")
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(focused(page))
    # Tab cycles through the first layer's three buttons and stays in the dialog.
    assert order == [texts["accept_all"], texts["reject_all"], texts["customise"], texts["accept_all"]]
    page.keyboard.press("Shift+Tab")
    assert focused(page) == texts["customise"]
    outline = page.evaluate("() => getComputedStyle(document.getElementById('privacydesk').shadowRoot.activeElement).outlineStyle")
    assert outline not in {"none", ""}

    page.keyboard.press("Enter")
    first = config["purposes"][0]["title"]
    assert focused(page) == first
    page.keyboard.press("Space")
    assert page.get_by_role("switch", name=first).is_checked()
    seen = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        seen.add(focused(page))
    assert "" not in seen  # never left the dialog
    assert {texts["save"], texts["accept_all"], texts["reject_all"]} <= seen

    page.keyboard.press("Escape")
    assert focused(page) == texts["customise"]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    _, [(record, _)] = decided(context, page)
    assert record.collection_method == "reject_all"


def test_axe_finds_no_violations_in_either_layer(shop: Shop, context: Any) -> None:
    texts = shop.config("pl")["texts"]
    page = open_shop(context, shop.url("pl"))
    page.get_by_role("dialog").wait_for()
    page.add_script_tag(content=axe_source())
    run = "async () => (await axe.run(document.getElementById('privacydesk'))).violations.map(v => v.id + ': ' + v.help)"
    assert page.evaluate(run) == []
    button(page, texts["customise"]).click()
    for summary in page.locator("#privacydesk summary").all():
        summary.click()
    assert page.evaluate(run) == []
    assert page.evaluate("async () => (await axe.run(document)).violations.map(v => v.id + ': ' + v.help)") == []


# ---------------------------------------------------------------- policy revisions
def forget_cached_config(context: Any, page: Any) -> None:
    """Drop the browser's HTTP cache: privacydesk lets it keep the configuration for a minute."""
    context.new_cdp_session(page).send("Network.clearBrowserCache")


def test_a_material_change_asks_again_and_a_minor_one_does_not(own_shop: Shop, context: Any, tmp_path: Path) -> None:
    shop = own_shop
    config = shop.config("pl")
    texts = config["texts"]
    page = open_shop(context, shop.url("pl"))
    button(page, texts["accept_all"]).click()
    decided(context, page)

    policy = yaml.safe_load((IMOU / "policy.yaml").read_text(encoding="utf-8"))
    policy["organization"]["contact"]["phone"] = "+86 571-0000-0000"
    minor = tmp_path / "minor.yaml"
    minor.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    publish(minor)
    forget_cached_config(context, page)
    page.reload()
    page.get_by_role("button", name=texts["reopen"]).wait_for()
    page.wait_for_function("v => document.cookie.includes(encodeURIComponent(v))", arg=shop.config("pl")["policy_version"])
    assert page.get_by_role("dialog").is_hidden()

    policy["cookies"].append(
        {"name": "_hj", "provider": "Hotjar", "category": "analytics", "consent": ANALYTICS, "lifetime": "1 year", "purpose": "Heatmaps."}
    )
    material = tmp_path / "material.yaml"
    material.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    publish(material)
    forget_cached_config(context, page)
    page.reload()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert page.get_by_text(texts["revision_notice"]).is_visible()
    # The revised purpose is asked afresh, switched off; the others keep the person's choice.
    button(page, texts["customise"]).click()
    switches = {p["id"]: page.get_by_role("switch", name=p["title"]).is_checked() for p in config["purposes"]}
    assert switches == {purpose: purpose != ANALYTICS for purpose in switches}
    # Closed without a new choice: the old consent no longer unblocks the analytics, and the banner asks again.
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    page.reload()
    dialog.wait_for()
    assert not analytics_ran(page)
    assert page.get_by_text(texts["revision_notice"]).is_visible()
    button(page, texts["accept_all"]).click()
    consent_id, stored = decided(context, page)
    assert analytics_ran(page)
    assert stored[-1][0].notice_version == shop.config("pl")["policy_version"]
    assert shop.choices(f"cid:{consent_id}")[ANALYTICS]["allowed"] is True
