"""Mail templates: `templates/<name>.txt.j2` and `<name>.html.j2`, translated through the gettext catalogs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from privacydesk.errors import Invalid
from privacydesk.i18n import gettext, translations


def _(message: str) -> str:
    """Mark a msgid for extraction; translated later with gettext(lang, ...)."""
    return message


# The subject of each template, an English msgid.
SUBJECTS = {
    "test": _("privacydesk test message"),
    "verification_code": _("Your verification code"),
    "request_extended": _("More time is needed to answer your request"),
    "request_reminder": _("A data-subject request is due soon"),
    "request_completed": _("Your request has been carried out"),
    "request_refused": _("Your request has been refused"),
    "manual_task": _("A data-subject request needs your hand"),
    "newsletter_confirm": _("Please confirm your subscription"),
    "retention_notice": _("Your account will be deleted for inactivity"),
    "restriction_lifted": _("The restriction of the processing of your data is lifted"),
    # Used only when an issue is queued without its own subject.
    "newsletter_issue": _("Newsletter"),
}


@dataclass(frozen=True)
class RenderedMail:
    """A message in one language, ready to store."""

    subject: str
    text: str
    html: str


@cache
def _environment(lang: str) -> Environment:
    # One environment per language: installed translations are environment-wide.
    environment = Environment(
        loader=PackageLoader("privacydesk.mail", "templates"),
        autoescape=select_autoescape(["html.j2"], default_for_string=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        keep_trailing_newline=True,
    )
    # Extraction trims whitespace inside {% trans %} (babel.cfg); rendering must look up the same msgids.
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return environment


def render(template: str, lang: str, context: dict[str, Any], *, subject: str | None = None) -> RenderedMail:
    """Render the subject, text and HTML bodies of `template` in `lang`; `subject` replaces the template's own (an issue's)."""
    if template not in SUBJECTS:
        raise Invalid(f"unknown mail template {template!r}; known: {', '.join(sorted(SUBJECTS))}")
    environment = _environment(lang)
    subject = subject or gettext(lang, SUBJECTS[template])
    values = {**context, "language": lang, "subject": subject}
    return RenderedMail(
        subject=subject,
        text=environment.get_template(f"{template}.txt.j2").render(values),
        html=environment.get_template(f"{template}.html.j2").render(values),
    )
