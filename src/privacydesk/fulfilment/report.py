"""The readable report of an access export, in the person's language: their data, and what Art. 15(1) says they must be told.

The facts come from the published policy through the privacy notice's own view: the purposes and
legal bases of the activities that use the categories found in the export, the recipients and
transfers, how long each is kept, where the data comes from, automated decisions, the rights and
the supervisory authority.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TypeVar

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from privacydesk.engine.results import AccessResult, CollectionAccess
from privacydesk.i18n import format_day, translations
from privacydesk.policy import labels
from privacydesk.policy.models import Policy
from privacydesk.policy.render.notice import ActivityView, NoticeView, RecipientView, notice_view

_TEMPLATES = Path(__file__).parent / "templates"
K = TypeVar("K")
V = TypeVar("V")
_KEPT = 50
_notices: dict[tuple[str, str], NoticeView] = {}
_policy_parts: dict[tuple[str, str, tuple[str, ...]], Markup] = {}


@dataclass(frozen=True)
class CollectionLine:
    """One collection of the export, as the report lists it."""

    system: str
    collection: str
    rows: int
    files: int
    categories: list[str]
    data_file: str


def render(policy: Policy, version_hash: str, lang: str, result: AccessResult, *, reference: str, received: datetime) -> str:
    """The report as a standalone HTML page."""
    notice = _notice(policy, version_hash, lang)
    found = {cell.category for item in result.collections for row in item.rows for cell in row.values() if cell.category}
    found |= {attachment.category for item in result.collections for attachment in item.files if attachment.category}
    activities = _relevant(policy, notice, found)
    context = {
        "lang": lang,
        "notice": notice,
        "reference": reference,
        "received": format_day(received.date(), lang),
        "collections": [_line(policy, item, lang) for item in result.collections],
        "policy_part": _policy_part(notice, version_hash, lang, activities),
    }
    return _environment(lang).get_template("report.html.j2").render(context)


def _policy_part(notice: NoticeView, version_hash: str, lang: str, activities: list[ActivityView]) -> Markup:
    """What the policy says about these activities: the same for everyone they concern, so rendered once per process."""
    titles = tuple(activity.title for activity in activities)

    def rendered() -> Markup:
        context = {
            "lang": lang,
            "notice": notice,
            "activities": activities,
            "recipients": [recipient for recipient in notice.recipients if _serves(recipient, set(titles))],
        }
        return Markup(_environment(lang).get_template("report_policy.html.j2").render(context))

    return _kept(_policy_parts, (version_hash, lang, titles), rendered)


def _relevant(policy: Policy, notice: NoticeView, found: set[str]) -> list[ActivityView]:
    """The activities that use a category found about the person; all of them when none is recognised."""
    own = [activity for activity in policy.activities.values() if not activity.on_behalf_of]
    chosen = [view for activity, view in zip(own, notice.activities, strict=True) if found & set(activity.data.all())]
    return chosen or notice.activities


def _serves(recipient: RecipientView, titles: set[str]) -> bool:
    return not recipient.activities or bool(titles & set(recipient.activities))


def _line(policy: Policy, item: CollectionAccess, lang: str) -> CollectionLine:
    categories = {cell.category for row in item.rows for cell in row.values() if cell.category}
    categories |= {attachment.category for attachment in item.files if attachment.category}
    names = sorted({labels.category(policy, category, lang) for category in categories if category in policy.data})
    return CollectionLine(item.system, item.collection, len(item.rows), len(item.files), names, f"{item.system}/{item.collection}.json")


def _notice(policy: Policy, version_hash: str, lang: str) -> NoticeView:
    # A version never changes: its notice in one language is built once per process.
    return _kept(_notices, (version_hash, lang), lambda: notice_view(policy, lang, version_hash))


def _kept(cache: dict[K, V], key: K, build: Callable[[], V]) -> V:
    """The value kept under `key`, built on first use; the cache starts over once it holds _KEPT values."""
    if key not in cache:
        if len(cache) >= _KEPT:
            cache.clear()
        cache[key] = build()
    return cache[key]


@cache
def _environment(lang: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    environment.tests["web_address"] = lambda value: str(value).startswith(("https://", "http://"))
    return environment
