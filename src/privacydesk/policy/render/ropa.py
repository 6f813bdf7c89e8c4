"""The record of processing activities (GDPR Art. 30) as CSV, XLSX, JSON or HTML.

Every format is written from the same rows, built once by `build_ropa`, so they never disagree.
Activities the organisation carries out as a processor (Art. 30(2)) form a second record.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from jinja2 import Environment, PackageLoader
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from privacydesk import i18n
from privacydesk.policy import labels
from privacydesk.policy.countries import ADEQUATE, EEA, country_name
from privacydesk.policy.labels import _
from privacydesk.policy.loader import LoadedPolicy
from privacydesk.policy.models import Activity, Contact, Policy, Recipient, Text

Format = Literal["csv", "xlsx", "json", "html"]
Record = Literal["controller", "processor"]


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the record: its stable key, its English title (a msgid) and its shape."""

    key: str
    title: str
    multiple: bool = False
    terms: bool = False  # items carry DPV ids


COLUMNS = (
    Column("name", _("Processing activity")),
    Column("activity", _("Activity ID")),
    Column("description", _("Description")),
    Column("controller", _("Controller")),
    Column("processor", _("Processor")),
    Column("controllers", _("Controllers on whose behalf the processing is carried out"), multiple=True),
    Column("joint_controllers", _("Joint controllers"), multiple=True),
    Column("representative", _("Representative")),
    Column("dpo", _("Data protection officer")),
    Column("purposes", _("Purposes of the processing"), multiple=True, terms=True),
    Column("legal_basis", _("Legal basis")),
    Column("legitimate_interest", _("Legitimate interests pursued")),
    Column("subjects", _("Categories of data subjects"), multiple=True, terms=True),
    Column("data_required", _("Categories of personal data (required)"), multiple=True, terms=True),
    Column("data_optional", _("Categories of personal data (optional)"), multiple=True, terms=True),
    Column("source", _("Source of the personal data")),
    Column("recipients", _("Categories of recipients"), multiple=True),
    Column("transfers", _("Transfers to third countries or international organisations, with safeguards"), multiple=True),
    Column("retention", _("Time limits for erasure")),
    Column("measures", _("Technical and organisational security measures"), multiple=True, terms=True),
    Column("automated_decision", _("Automated decision-making"), multiple=True),
    Column("storage", _("Systems and collections holding the data"), multiple=True),
)
_PROCESSOR_ONLY = {"processor", "controllers"}
# Art. 30(2) asks a processor for less: no purposes' legal basis, retention or source.
_PROCESSOR_KEYS = {
    *("name", "activity", "description", "representative", "dpo", "purposes", "subjects", "data_required", "data_optional"),
    *("recipients", "transfers", "measures", "storage", *_PROCESSOR_ONLY),
}
CONTROLLER_COLUMNS = tuple(c for c in COLUMNS if c.key not in _PROCESSOR_ONLY)
PROCESSOR_COLUMNS = tuple(c for c in COLUMNS if c.key in _PROCESSOR_KEYS)

RECORD_TITLE = _("Record of processing activities")
_SECTION_TITLES: dict[Record, tuple[str, str]] = {
    "controller": (_("Record of processing activities as controller (Art. 30(1) GDPR)"), _("Controller record")),
    "processor": (_("Record of categories of processing carried out as processor (Art. 30(2) GDPR)"), _("Processor record")),
}
_ORGANIZATION_ROLES = {
    "controller": _("Controller"),
    "processor": _("Processor"),
    "controller_and_processor": _("Controller and processor"),
}
# Third person, unlike the notice's labels, which speak to the data subject.
_SOURCES = {
    "data_subject": _("The data subject"),
    "observed": _("Observed from the data subject's use of the service"),
    "derived": _("Derived from other data"),
    "third_party": _("Third parties"),
    "public": _("Publicly available sources"),
}
_LAST_ACTIVITY = {"after": _("after the data subject's last activity"), "until": _("until the data subject's last activity")}


@dataclass(frozen=True, slots=True)
class Item:
    """One value of a cell: a label, an optional qualifying note, and the DPV term it stands for."""

    label: str
    note: str = ""
    dpv: str | None = None

    @property
    def text(self) -> str:
        """The label and its note as one line."""
        return f"{self.label} — {self.note}" if self.note else self.label


@dataclass(frozen=True, slots=True)
class Row:
    """One processing activity in the controller or the processor record."""

    record: Record
    cells: dict[str, tuple[Item, ...]]

    def text(self, key: str, separator: str = "; ") -> str:
        """The cell `key` as text, values joined by `separator`; empty when the record has no such column."""
        return separator.join(item.text for item in self.cells.get(key, ()))


@dataclass(frozen=True, slots=True)
class Ropa:
    """The whole record, in one language."""

    policy: Policy
    version: str
    lang: str
    controller: list[Row]
    processor: list[Row]

    def sections(self) -> list[tuple[Record, tuple[Column, ...], list[Row]]]:
        """The controller record, then the processor record when there is one."""
        found: list[tuple[Record, tuple[Column, ...], list[Row]]] = [("controller", CONTROLLER_COLUMNS, self.controller)]
        if self.processor:
            found.append(("processor", PROCESSOR_COLUMNS, self.processor))
        return found

    def metadata(self) -> list[tuple[str, str]]:
        """What identifies this record: organisation, role, policy version, effective date, language."""
        organization = self.policy.organization
        return [
            (self.t(_("Organisation")), _organization(self.policy, self.lang)),
            (self.t(_("Role")), self.t(_ORGANIZATION_ROLES[organization.role])),
            (self.t(_("Policy version")), self.version),
            (self.t(_("Effective date")), i18n.format_day(organization.effective, self.lang)),
            (self.t(_("Language")), self.lang),
        ]

    def t(self, message: str) -> str:
        """`message` in the record's language."""
        return i18n.gettext(self.lang, message)


def render_ropa(loaded: LoadedPolicy, fmt: Format, lang: str = "en") -> bytes:
    """The record of processing activities of `loaded` in format `fmt` and language `lang`."""
    if fmt not in _WRITERS:
        raise ValueError(f"unknown format {fmt!r}; use one of: {', '.join(_WRITERS)}")
    return _WRITERS[fmt](build_ropa(loaded, lang))


def build_ropa(loaded: LoadedPolicy, lang: str) -> Ropa:
    """One row per activity, in the controller or the processor record."""
    if lang not in i18n.LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; supported: {', '.join(i18n.LANGUAGES)}")
    policy = loaded.policy
    builder = _Builder(policy, lang)
    rows = [builder.row(name, activity) for name, activity in policy.activities.items()]
    return Ropa(
        policy=policy,
        version=loaded.version_hash,
        lang=lang,
        controller=[row for row in rows if row.record == "controller"],
        processor=[row for row in rows if row.record == "processor"],
    )


# ---------------------------------------------------------------- building the rows
class _Builder:
    """Turns activities into rows of human text in one language."""

    def __init__(self, policy: Policy, lang: str) -> None:
        self.policy = policy
        self.lang = lang

    def t(self, message: str) -> str:
        return i18n.gettext(self.lang, message)

    def text(self, value: Text | None) -> str:
        return value.get(self.lang, self.policy.text_languages()) if value is not None else ""

    def row(self, name: str, activity: Activity) -> Row:
        policy, lang = self.policy, self.lang
        organization = policy.organization
        record: Record = "processor" if organization.role == "processor" or activity.on_behalf_of else "controller"
        us = _organization(policy, lang)
        recipients = [policy.recipients[key] for key in activity.recipients]
        measures = dict.fromkeys([*organization.measures, *activity.measures])
        cells = {
            "name": _one(self.text(activity.title)),
            "activity": _one(name),
            "description": _one(self.text(activity.description)),
            "controller": _one(us),
            "processor": _one(us),
            "controllers": tuple(Item(self.recipient_party(policy.recipients[key])) for key in activity.on_behalf_of),
            "joint_controllers": tuple(Item(self.recipient_party(r)) for r in recipients if r.role == "joint_controller"),
            "representative": _one(_party(p.name, p, p.country, lang) if (p := organization.representative) else ""),
            "dpo": _one(_party(p.name, p, p.country, lang) if (p := organization.dpo) else ""),
            "purposes": tuple(Item(labels.term(purpose, lang), dpv=purpose) for purpose in activity.purposes),
            "legal_basis": _one(labels.legal_basis(activity.legal_basis, lang)),
            "legitimate_interest": _one(self.text(activity.legitimate_interest)),
            "subjects": tuple(Item(labels.subject(policy, key, lang), dpv=policy.subjects[key].dpv) for key in activity.subjects),
            "data_required": self.data(activity, activity.data.required),
            "data_optional": self.data(activity, activity.data.optional),
            "source": (Item(self.t(_SOURCES[activity.source]), self.text(activity.source_description)),),
            "recipients": tuple(self.recipient(r) for r in recipients),
            "transfers": self.transfers(activity),
            "retention": self.retention(activity),
            "measures": tuple(Item(labels.term(measure, lang), dpv=measure) for measure in measures),
            "automated_decision": self.automated_decision(activity),
            "storage": self.storage(activity),
        }
        keys = _PROCESSOR_KEYS if record == "processor" else {c.key for c in CONTROLLER_COLUMNS}
        return Row(record, {key: value for key, value in cells.items() if key in keys})

    def recipient_party(self, recipient: Recipient) -> str:
        return _party(recipient.name, recipient.contact or Contact(), recipient.country, self.lang)

    def data(self, activity: Activity, keys: list[str]) -> tuple[Item, ...]:
        items = []
        for key in keys:
            entry = self.policy.data[key]
            note = ""
            if entry.is_special:
                basis = (
                    labels.labelled(labels.SPECIAL_BASES, activity.special_basis, self.lang)
                    if activity.special_basis
                    else self.t(_("no Art. 9(2) condition stated"))
                )
                note = self.t(_("special category (Art. 9 GDPR): %(condition)s")) % {"condition": basis}
            items.append(Item(labels.category(self.policy, key, self.lang), note, entry.dpv))
        return tuple(items)

    def recipient(self, recipient: Recipient) -> Item:
        note = f"{labels.plain(labels.ROLES, recipient.role, self.lang)}, {country_name(recipient.country, self.lang)}"
        if recipient.country not in EEA:
            third_country = self.t(_("third country"))
            note += f" ({third_country})"
        return Item(recipient.name, note)

    def transfers(self, activity: Activity) -> tuple[Item, ...]:
        # Keyed by (country, recipient) so a declared transfer refines the one its recipient implies.
        found: dict[tuple[str, str], tuple[str | None, str]] = {}
        for key in activity.recipients:
            recipient = self.policy.recipients[key]
            if recipient.country not in EEA:
                found[(recipient.country, recipient.name)] = (recipient.safeguard, "")
        for transfer in activity.transfers:
            named = self.policy.recipients[transfer.recipient] if transfer.recipient else None
            declared = transfer.safeguard or (named.safeguard if named else None)
            found[(transfer.country, named.name if named else "")] = (declared, self.text(transfer.description))
        items = []
        for (country, name), (stated, description) in found.items():
            safeguard = stated or ("adequacy" if country in ADEQUATE else None)
            guard = labels.labelled(labels.SAFEGUARDS, safeguard, self.lang) if safeguard else self.t(_("no safeguard stated"))
            label = ", ".join(part for part in (country_name(country, self.lang), name) if part)
            items.append(Item(label, "; ".join(part for part in (guard, description) if part)))
        return tuple(items)

    def retention(self, activity: Activity) -> tuple[Item, ...]:
        retention = activity.retention
        if retention is None:
            return ()
        until = retention.period is None
        if retention.after == "last_activity":
            event = self.t(_LAST_ACTIVITY["until" if until else "after"])
        else:
            event = labels.plain(labels.UNTIL_EVENTS if until else labels.EVENTS, retention.after, self.lang)
        label = event if retention.period is None else f"{labels.duration(retention.period, self.lang)} {event}"
        return (Item(label, self.text(retention.description)),)

    def automated_decision(self, activity: Activity) -> tuple[Item, ...]:
        decision = activity.automated_decision
        if decision is None:
            return (Item(self.t(_("No automated decision-making"))),)
        parts = [(_("Logic involved"), decision.logic), (_("Significance and consequences"), decision.significance)]
        if decision.safeguards is not None:
            parts.append((_("Safeguards"), decision.safeguards))
        return tuple(Item(self.t(title), self.text(value)) for title, value in parts)

    def storage(self, activity: Activity) -> tuple[Item, ...]:
        wanted = set(activity.data.all())
        items = []
        for system_name, system in self.policy.systems.items():
            for collection_name, collection in system.collections.items():
                held = dict.fromkeys(spec.category for spec in collection.fields.values() if spec.category in wanted)
                if not held:
                    continue
                label = f"{system_name}.{collection_name}"
                if system.title is not None:
                    label = f"{self.text(system.title)} ({label})"
                categories = ", ".join(labels.category(self.policy, key, self.lang) for key in held)
                items.append(Item(label, f"{country_name(system.location, self.lang)}: {categories}"))
        return tuple(items)


def _one(value: str) -> tuple[Item, ...]:
    return (Item(value),) if value else ()


def _organization(policy: Policy, lang: str) -> str:
    """The organisation's name, address and contact details on one line."""
    organization = policy.organization
    return _party(organization.name, organization.contact, organization.country, lang, organization.address)


def _party(name: str, contact: Contact, country: str | None, lang: str, address: str | None = None) -> str:
    """A name with its address, country and contact details on one line."""
    address = address or contact.address
    place = country_name(country, lang) if country else None
    if address and place and address.casefold().endswith(place.casefold()):
        place = None
    parts = [name, address, place, contact.email, contact.phone, contact.url]
    return ", ".join(part for part in parts if part)


# ---------------------------------------------------------------- writers
def _csv(ropa: Ropa) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([ropa.t(_("Record")), *(ropa.t(column.title) for column in COLUMNS)])
    for row in [*ropa.controller, *ropa.processor]:
        writer.writerow([row.record, *(row.text(column.key) for column in COLUMNS)])
    return out.getvalue().encode("utf-8")


def _json(ropa: Ropa) -> bytes:
    document = {
        "controller_record": [_json_row(row, CONTROLLER_COLUMNS) for row in ropa.controller],
        "processor_record": [_json_row(row, PROCESSOR_COLUMNS) for row in ropa.processor],
        "organization": ropa.policy.organization.model_dump(mode="json", exclude_none=True),
        "policy_version": ropa.version,
        "generated_for_language": ropa.lang,
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _json_row(row: Row, columns: tuple[Column, ...]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for column in columns:
        items = row.cells[column.key]
        if column.terms:
            result[column.key] = [{"label": item.label, "note": item.note, "dpv": item.dpv} for item in items]
        elif column.multiple:
            result[column.key] = [item.text for item in items]
        else:
            result[column.key] = items[0].text if items else None
    return result


_MAX_WIDTH = 70


def _xlsx(ropa: Ropa) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.title = ropa.t(RECORD_TITLE)
    workbook.properties.creator = ropa.policy.organization.name
    for record, columns, rows in ropa.sections():
        sheet = workbook.create_sheet(_sheet_title(ropa.t(_SECTION_TITLES[record][1])))
        _fill(sheet, [[ropa.t(column.title) for column in columns], *([row.text(c.key, "\n") for c in columns] for row in rows)])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "B2"
        sheet.auto_filter.ref = sheet.dimensions
    about = workbook.create_sheet(_sheet_title(ropa.t(_("About this record"))))
    _fill(about, [[label, value] for label, value in ropa.metadata()])
    for cell in about["A"]:
        cell.font = Font(bold=True)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _fill(sheet: Any, table: list[list[str]]) -> None:
    """Write `table` as text (never as formulas), wrapped, with columns as wide as their content allows."""
    widths: dict[int, int] = {}
    for row_index, values in enumerate(table, start=1):
        for column_index, value in enumerate(values, start=1):
            cell = sheet.cell(row=row_index, column=column_index)
            if value:
                cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
                cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            longest = max((len(line) for line in value.splitlines()), default=0)
            widths[column_index] = max(widths.get(column_index, 10), min(longest + 2, _MAX_WIDTH))
    for column_index, width in widths.items():
        sheet.column_dimensions[get_column_letter(column_index)].width = width


def _sheet_title(title: str) -> str:
    # Excel forbids these characters and more than 31 of any in a sheet name.
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31].strip()


@cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("privacydesk.policy.render"), autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _html(ropa: Ropa) -> bytes:
    sections = [
        {
            "id": f"{record}-record",
            "title": ropa.t(_SECTION_TITLES[record][0]),
            "headers": [ropa.t(column.title) for column in columns],
            "rows": [[{"header": c.key == "name", "items": [item.text for item in row.cells[c.key]]} for c in columns] for row in rows],
        }
        for record, columns, rows in ropa.sections()
    ]
    page = (
        _templates()
        .get_template("ropa.html.j2")
        .render(
            lang=ropa.lang,
            title=ropa.t(RECORD_TITLE),
            organization=ropa.policy.organization.name,
            metadata=ropa.metadata(),
            sections=sections,
            empty=ropa.t(_("No processing activities in this record.")),
        )
    )
    return page.encode("utf-8")


_WRITERS: dict[str, Callable[[Ropa], bytes]] = {"csv": _csv, "xlsx": _xlsx, "json": _json, "html": _html}
