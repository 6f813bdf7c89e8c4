"""Policy versions: immutable numbered publishing, the diff and its materiality, CLI and API."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from privacydesk.audit.models import AuditEntry
from privacydesk.cli.main import app as cli
from privacydesk.db.engine import transaction
from privacydesk.policy.loader import load_policy
from privacydesk.policy.models import Policy
from privacydesk.versions import service
from privacydesk.versions.diff import Change, PolicyDiff, diff_policies
from privacydesk.versions.models import PolicyEvent, PolicyVersion

from .conftest import MINIMAL, PolicyFactory

pytestmark = pytest.mark.postgres

Edit = Callable[[dict[str, Any]], None]


# ---------------------------------------------------------------- policy edits
def _nothing(data: dict[str, Any]) -> None:
    """Leave the minimal policy as it is."""


def _retention(period: str, activity: str = "security_logs") -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["activities"][activity]["retention"] = period

    return edit


def _us_recipient(data: dict[str, Any]) -> None:
    data["recipients"]["mailer"] = {"name": "Mailer Inc", "role": "processor", "country": "US", "safeguard": "scc"}
    data["activities"]["accounts"]["recipients"].append("mailer")


def _no_hosting(data: dict[str, Any]) -> None:
    del data["recipients"]["hosting"]
    data["activities"]["accounts"]["recipients"] = []


def _newsletter(data: dict[str, Any]) -> None:
    data["activities"]["newsletter"] = {
        "title": {"en": "Newsletter", "fr": "Lettre d'information"},
        "purposes": ["dpv:DirectMarketing"],
        "legal_basis": "consent",
        "subjects": ["customer"],
        "data": ["email"],
        "retention": {"after": "consent_withdrawal"},
    }
    data["consents"] = {
        "newsletter": {"title": {"en": "Newsletter", "fr": "Lettre d'information"}, "activities": ["newsletter"], "channel": "email"}
    }


def _then(*edits: Edit) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for step in edits:
            step(data)

    return edit


def _cookie(name: str, category: str, lifetime: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        cookie = {"name": name, "provider": "Exemple", "category": category, "lifetime": lifetime, "purpose": "x"}
        if category != "essential":
            cookie["consent"] = "newsletter"
        data.setdefault("cookies", []).append(cookie)

    return edit


# ---------------------------------------------------------------- the diff, without a database
def _diff(make_policy: PolicyFactory, old: Edit, new: Edit) -> PolicyDiff:
    return diff_policies(load_policy(make_policy(old)).policy, load_policy(make_policy(new)).policy)


def _only(diff: PolicyDiff, section: str) -> Change:
    found = [change for change in diff.changes if change.section == section]
    assert len(found) == 1, diff.lines()
    return found[0]


def test_identical_policies_have_no_changes(make_policy: PolicyFactory) -> None:
    diff = _diff(make_policy, _nothing, _nothing)
    assert diff.changes == [] and diff.lines() == ["no changes"]


@pytest.mark.parametrize(
    ("old", "new", "kind", "material"),
    [
        ("7 days", "30 days", "longer", True),
        ("30 days", "7 days", "shorter", False),
        ("7 days", "1 week", "changed", False),
        ("12 months", "1 year", "changed", False),
        ("1 year", "13 months", "longer", True),
    ],
)
def test_retention_compares_durations(make_policy: PolicyFactory, old: str, new: str, kind: str, material: bool) -> None:
    change = _only(_diff(make_policy, _retention(old), _retention(new)), "retention")
    assert (change.subject, change.kind, change.material) == ("security_logs", kind, material)
    assert change.before == f"{old} after collection" and change.after == f"{new} after collection"


def test_retention_event_and_period_changes(make_policy: PolicyFactory) -> None:
    def until_closure(data: dict[str, Any]) -> None:
        data["activities"]["accounts"]["retention"] = {"after": "account_closure"}

    # "until closure" -> "1 month after closure" keeps data for a month more.
    longer = _only(_diff(make_policy, until_closure, _nothing), "retention")
    assert (longer.kind, longer.material) == ("longer", True)
    assert (longer.before, longer.after) == ("until account_closure", "1 month after account_closure")
    assert _only(_diff(make_policy, _nothing, until_closure), "retention").material is False
    # A period counted from another event cannot be shown to be shorter.
    moved = _only(_diff(make_policy, _nothing, _retention("1 month", "accounts")), "retention")
    assert (moved.kind, moved.material) == ("changed", True)


def test_new_recipient_and_transfer_are_material(make_policy: PolicyFactory) -> None:
    diff = _diff(make_policy, _nothing, _us_recipient)
    recipient, transfer = _only(diff, "recipient"), _only(diff, "transfer")
    assert (recipient.kind, recipient.subject, recipient.material, recipient.items) == ("added", "mailer", True, ["accounts"])
    assert (transfer.kind, transfer.subject, transfer.material, transfer.items) == ("added", "US", True, ["accounts"])
    assert diff.material == diff.changes and len(diff.changes) == 2


def test_removing_a_recipient_is_not_material(make_policy: PolicyFactory) -> None:
    diff = _diff(make_policy, _nothing, _no_hosting)
    assert [(c.section, c.kind, c.subject) for c in diff.changes] == [("recipient", "removed", "hosting")]
    assert diff.material == []


def test_existing_recipient_for_another_activity(make_policy: PolicyFactory) -> None:
    def share_logs(data: dict[str, Any]) -> None:
        data["activities"]["security_logs"]["recipients"] = ["hosting"]

    gained = _only(_diff(make_policy, _nothing, share_logs), "recipient")
    assert (gained.kind, gained.subject, gained.items, gained.material) == ("added", "hosting", ["security_logs"], True)
    lost = _only(_diff(make_policy, share_logs, _nothing), "recipient")
    assert (lost.kind, lost.material) == ("removed", False)


def test_recipient_changes(make_policy: PolicyFactory) -> None:
    def moved(country: str, role: str = "processor", safeguard: str | None = None) -> Edit:
        def edit(data: dict[str, Any]) -> None:
            data["recipients"]["hosting"].update(country=country, role=role, safeguard=safeguard)

        return edit

    to_us = _diff(make_policy, _nothing, moved("US", safeguard="scc"))
    assert _only(to_us, "recipient").material and _only(to_us, "transfer").subject == "US"
    within_eea = _only(_diff(make_policy, _nothing, moved("DE")), "recipient")
    assert (within_eea.kind, within_eea.material, within_eea.items) == ("changed", False, ["country"])
    controller = _only(_diff(make_policy, _nothing, moved("FR", role="controller")), "recipient")
    assert controller.material and "controller" in controller.reason
    safeguard = _diff(make_policy, moved("US", safeguard="scc"), moved("US", safeguard="bcr"))
    assert [(c.section, c.material, c.items) for c in safeguard.changes] == [("recipient", False, ["safeguard"])]


def test_new_purpose_is_material_only_under_consent(make_policy: PolicyFactory) -> None:
    def purpose(activity: str) -> Edit:
        def edit(data: dict[str, Any]) -> None:
            data["activities"][activity]["purposes"].append("dpv:ServiceOptimisation")

        return edit

    on_consent = _only(_diff(make_policy, _newsletter, _then(_newsletter, purpose("newsletter"))), "purpose")
    assert (on_consent.kind, on_consent.items, on_consent.material) == ("added", ["dpv:ServiceOptimisation"], True)
    on_contract = _only(_diff(make_policy, _nothing, purpose("accounts")), "purpose")
    assert on_contract.material is False
    removed = _only(_diff(make_policy, _then(_newsletter, purpose("newsletter")), _newsletter), "purpose")
    assert (removed.kind, removed.material) == ("removed", False)


def test_new_activity_is_material_when_based_on_consent(make_policy: PolicyFactory) -> None:
    diff = _diff(make_policy, _nothing, _newsletter)
    activity, consent = _only(diff, "activity"), _only(diff, "consent")
    assert (activity.kind, activity.subject, activity.material) == ("added", "newsletter", True)
    assert (consent.kind, consent.material) == ("added", False)

    def contract_activity(data: dict[str, Any]) -> None:
        data["activities"]["support"] = {**data["activities"]["accounts"], "recipients": []}

    assert _only(_diff(make_policy, _nothing, contract_activity), "activity").material is False
    assert _only(_diff(make_policy, contract_activity, _nothing), "activity").kind == "removed"


def test_activity_fields_and_data_categories(make_policy: PolicyFactory) -> None:
    def more_data(data: dict[str, Any]) -> None:
        data["activities"]["security_logs"]["data"] = ["ip_address", "email"]
        data["activities"]["security_logs"]["source"] = "observed"

    diff = _diff(make_policy, _nothing, more_data)
    data = _only(diff, "data")
    assert (data.kind, data.subject, data.items, data.material) == ("added", "security_logs", ["email"], True)
    fields = _only(diff, "activity")
    assert (fields.kind, fields.items, fields.material) == ("changed", ["source"], False)
    assert _only(_diff(make_policy, more_data, _nothing), "data").material is False

    def to_consent(data: dict[str, Any]) -> None:
        _newsletter(data)
        data["activities"]["newsletter"]["legal_basis"] = "legitimate_interest"

    rebased = _only(_diff(make_policy, to_consent, _newsletter), "activity")
    assert rebased.items == ["legal_basis"] and rebased.material


@pytest.mark.parametrize(
    ("old", "new", "section_kinds", "material"),
    [
        ([], [("_ga", "analytics", "13 months")], [("added",)], True),
        ([], [("sid", "essential", "session")], [("added",)], False),
        ([("_ga", "analytics", "6 months")], [("_ga", "analytics", "13 months")], [("longer",)], True),
        ([("_ga", "analytics", "13 months")], [("_ga", "analytics", "6 months")], [("shorter",)], False),
        ([("sid", "essential", "session")], [("sid", "essential", "1 day")], [("longer",)], False),
        ([("sid", "essential", "1 day")], [("sid", "analytics", "1 day")], [("changed",)], True),
        ([("_ga", "analytics", "1 day")], [], [("removed",)], False),
    ],
)
def test_cookies(
    make_policy: PolicyFactory,
    old: list[tuple[str, str, str]],
    new: list[tuple[str, str, str]],
    section_kinds: list[tuple[str]],
    material: bool,
) -> None:
    diff = _diff(make_policy, _then(_newsletter, *(_cookie(*c) for c in old)), _then(_newsletter, *(_cookie(*c) for c in new)))
    assert [(c.kind,) for c in diff.changes] == section_kinds and all(c.section == "cookie" for c in diff.changes)
    assert diff.changes[0].material is material


def test_consent_changes(make_policy: PolicyFactory) -> None:
    def mechanism(kind: str) -> Edit:
        def edit(data: dict[str, Any]) -> None:
            data["consents"]["newsletter"]["mechanism"] = kind

        return edit

    def covers_logs(data: dict[str, Any]) -> None:
        data["consents"]["newsletter"]["activities"].append("security_logs")

    wider = _only(_diff(make_policy, _newsletter, _then(_newsletter, covers_logs)), "consent")
    assert (wider.items, wider.material) == (["security_logs"], True)
    assert _only(_diff(make_policy, _then(_newsletter, covers_logs), _newsletter), "consent").material is False
    stricter = _only(_diff(make_policy, _newsletter, _then(_newsletter, mechanism("double_opt_in"))), "consent")
    assert (stricter.before, stricter.after, stricter.material) == ("opt_in", "double_opt_in", True)
    assert _only(_diff(make_policy, _then(_newsletter, mechanism("double_opt_in")), _newsletter), "consent").material is False
    removed = _only(_diff(make_policy, _newsletter, _nothing), "consent")
    assert (removed.kind, removed.material) == ("removed", False)


def test_lines_mark_material_changes(make_policy: PolicyFactory) -> None:
    lines = _diff(make_policy, _nothing, _then(_retention("30 days"), _no_hosting)).lines()
    assert any(line.startswith("material") and "retention security_logs: 7 days after collection -> 30 days" in line for line in lines)
    assert any(line.startswith("minor") and "recipient hosting" in line for line in lines)


# ---------------------------------------------------------------- publishing
def _publish(path: Path, publisher: str = "user:1", effective: date | None = None) -> service.Published:
    with transaction() as session:
        return service.publish(session, load_policy(path), publisher=publisher, effective=effective)


def _count(model: type[Any]) -> int:
    with transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_publishing_the_same_content_twice_makes_one_version(platform_url: str, make_policy: PolicyFactory) -> None:
    first = _publish(MINIMAL)
    assert first.created and first.version.number == 1 and first.diff is None
    # The same policy, laid out differently, has the same canonical content.
    again = _publish(make_policy(_nothing))
    assert not again.created and again.version.number == 1
    assert (_count(PolicyVersion), _count(AuditEntry), _count(PolicyEvent)) == (1, 1, 0)
    with transaction() as session:
        stored = service.get(session, 1)
        entry = session.scalars(select(AuditEntry)).one()
    assert stored.hash == load_policy(MINIMAL).version_hash
    assert stored.effective == date(2024, 5, 1) and stored.publisher == "user:1"
    assert stored.sources == [{"name": "minimal.yaml", "text": MINIMAL.read_text(encoding="utf-8")}]
    assert service.policy_of(stored) == load_policy(MINIMAL).policy
    assert (entry.action, entry.object_id, entry.summary["hash"]) == ("policy.publish", "1", stored.hash)


def test_material_change_creates_a_version_and_an_event(platform_url: str, make_policy: PolicyFactory) -> None:
    _publish(MINIMAL)
    result = _publish(make_policy(_retention("30 days")), publisher="user:2", effective=date(2025, 1, 1))
    assert result.created and result.version.number == 2 and result.version.effective == date(2025, 1, 1)
    assert result.diff is not None and [(c.section, c.kind, c.material) for c in result.diff.changes] == [("retention", "longer", True)]
    with transaction() as session:
        event = session.scalars(select(PolicyEvent)).one()
        version = service.get(session, 2)
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        stored_diff = service.diff_versions(session, 1, 2)
    assert (event.kind, event.version_id) == ("material_change", version.id)
    assert [c["section"] for c in event.changes] == ["retention"] and event.changes[0]["after"] == "30 days after collection"
    assert audit is not None and audit.actor == "user:2" and audit.summary["material"] == 1 and audit.summary["changes"] == 1
    assert stored_diff == result.diff


def test_non_material_change_records_no_event(platform_url: str, make_policy: PolicyFactory) -> None:
    _publish(MINIMAL)
    result = _publish(make_policy(_no_hosting))
    assert result.created and result.diff is not None and result.diff.material == []
    assert (_count(PolicyVersion), _count(PolicyEvent)) == (2, 0)


def test_new_recipient_records_an_event(platform_url: str, make_policy: PolicyFactory) -> None:
    _publish(MINIMAL)
    _publish(make_policy(_us_recipient))
    with transaction() as session:
        event = session.scalars(select(PolicyEvent)).one()
    assert sorted((c["section"], c["subject"]) for c in event.changes) == [("recipient", "mailer"), ("transfer", "US")]


def test_lint_error_blocks_publishing(platform_url: str, make_policy: PolicyFactory) -> None:
    def no_interest(data: dict[str, Any]) -> None:
        del data["activities"]["security_logs"]["legitimate_interest"]

    path = make_policy(no_interest)
    with pytest.raises(service.PolicyRejected) as caught:
        _publish(path)
    assert caught.value.status_code == 422
    assert [f["rule"] for f in caught.value.details["findings"]] == ["PD015"]  # type: ignore[union-attr]
    assert caught.value.lines[0].startswith(f"{path.name}:") and "PD015" in caught.value.lines[0]
    assert (_count(PolicyVersion), _count(AuditEntry)) == (0, 0)


def test_broken_yaml_is_refused_with_its_position() -> None:
    with pytest.raises(service.PolicyRejected) as caught, service.load_text("format: 1\norganization: [oops\n", "mine.yaml"):
        pass
    assert caught.value.lines and caught.value.lines[0].startswith("mine.yaml:3:1: ")
    error = caught.value.details["errors"][0]  # type: ignore[index]
    assert (error["file"], error["line"]) == ("mine.yaml", 3)


def test_uploaded_text_stores_its_source(platform_url: str) -> None:
    content = MINIMAL.read_text(encoding="utf-8")
    with transaction() as session, service.load_text(content) as loaded:
        version = service.publish(session, loaded, publisher="user:1").version
    assert version.sources == [{"name": "policy.yaml", "text": content}]


def test_included_files_are_stored(platform_url: str, tmp_path: Path) -> None:
    (tmp_path / "cookies.yaml").write_text(
        "cookies:\n  - {name: sid, provider: Exemple, category: essential, lifetime: session, purpose: login}\n"
    )
    main = tmp_path / "policy.yaml"
    main.write_text("include: [cookies.yaml]\n" + MINIMAL.read_text(encoding="utf-8"))
    version = _publish(main).version
    assert [source["name"] for source in version.sources] == ["policy.yaml", "cookies.yaml"]
    assert version.policy["cookies"][0]["name"] == "sid"


def test_concurrent_publishes_take_distinct_numbers(platform_url: str, make_policy: PolicyFactory) -> None:
    paths = [make_policy(_retention(f"{days} days")) for days in (10, 20, 30, 40)]
    loaded = [load_policy(path) for path in paths]
    start = threading.Barrier(len(loaded))
    numbers: list[int] = []
    failures: list[BaseException] = []

    def publish(index: int) -> None:
        try:
            start.wait()
            with transaction() as session:
                numbers.append(service.publish(session, loaded[index], publisher=f"user:{index}").version.number)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=publish, args=(index,)) for index in range(len(loaded))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and sorted(numbers) == [1, 2, 3, 4]
    with transaction() as session:
        versions = service.list_versions(session)
    assert [v.number for v in versions] == [1, 2, 3, 4] and len({v.hash for v in versions}) == 4


# ---------------------------------------------------------------- the command line
def test_cli_publish_versions_and_diff(platform_url: str, make_policy: PolicyFactory) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["policy", "publish", str(MINIMAL), "--publisher", "alice"])
    assert first.exit_code == 0 and "published version 1" in first.output
    again = runner.invoke(cli, ["policy", "publish", str(MINIMAL)])
    assert again.exit_code == 0 and "unchanged" in again.output and "version 1" in again.output
    changed = make_policy(_retention("30 days"))
    preview = runner.invoke(cli, ["policy", "diff", "1", str(changed)])
    assert preview.exit_code == 0 and "material  retention security_logs" in preview.output
    second = runner.invoke(cli, ["policy", "publish", str(changed), "--effective", "2025-02-01"])
    assert second.exit_code == 0 and "published version 2" in second.output and "1 material change(s)" in second.output
    listing = runner.invoke(cli, ["policy", "versions"]).output.splitlines()
    assert listing[0].split() == ["number", "hash", "effective", "publisher", "published_at"]
    assert [row.split()[:4] for row in listing[1:]] == [
        ["1", load_policy(MINIMAL).version_hash[:12], "2024-05-01", "alice"],
        ["2", load_policy(changed).version_hash[:12], "2025-02-01", listing[2].split()[3]],
    ]
    assert listing[2].split()[3].startswith("cli:")
    back = runner.invoke(cli, ["policy", "diff", "2", "1"])
    assert back.exit_code == 0 and "minor     retention security_logs: 30 days after collection -> 7 days" in back.output
    missing = runner.invoke(cli, ["policy", "diff", "1", "9"])
    assert missing.exit_code == 1 and "no policy version 9" in missing.output


def test_cli_refuses_broken_and_failing_policies(platform_url: str, tmp_path: Path, make_policy: PolicyFactory) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("format: 1\norganization: [oops\n")
    result = CliRunner().invoke(cli, ["policy", "publish", str(broken)])
    assert result.exit_code == 1 and f"{broken}:3:1: " in result.output

    def no_interest(data: dict[str, Any]) -> None:
        del data["activities"]["security_logs"]["legitimate_interest"]

    result = CliRunner().invoke(cli, ["policy", "publish", str(make_policy(no_interest))])
    assert result.exit_code == 1 and "PD015" in result.output and "fix them before publishing" in result.output
    assert _count(PolicyVersion) == 0


def test_stored_json_round_trips_every_example() -> None:
    from .conftest import EXAMPLES, ROOT

    for name in EXAMPLES:
        policy = load_policy(ROOT / "examples" / name / "policy.yaml").policy
        assert Policy.model_validate(policy.model_dump(mode="json", by_alias=True)) == policy, name


# ---------------------------------------------------------------- the API
def _api(scopes: list[str], email: str = "dpo@example.fr") -> tuple[Any, dict[str, str], str]:
    """A test client, the headers of a new API token with `scopes`, and the token's audit actor."""
    from fastapi.testclient import TestClient

    from privacydesk.auth import service as auth
    from privacydesk.auth.permissions import Permission, Role, permissions_of
    from privacydesk.web.app import create_app

    with transaction() as session:
        owner = auth.create_user(session, email=email, name="Jeanne", role=Role.DPO, password="a long enough passphrase 42", actor="system")
        token, secret = auth.create_token(
            session,
            owner=owner,
            name="ci",
            scopes=[Permission(scope) for scope in scopes],
            expires_days=1,
            grantable=permissions_of(Role.DPO),
            actor="system",
        )
    return TestClient(create_app()), {"Authorization": f"Bearer {secret}"}, f"token:{token.id}"


def test_api_publish_list_get_and_diff(platform_url: str, make_policy: PolicyFactory) -> None:
    client, headers, actor = _api(["policy:read", "policy:publish"])
    content = MINIMAL.read_text(encoding="utf-8")
    created = client.post("/api/v1/policies", content=content, headers={**headers, "Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["created"] and body["version"]["number"] == 1 and body["version"]["publisher"] == actor and body["changes"] == []
    same = client.post("/api/v1/policies", content=content, headers=headers)
    assert same.status_code == 200 and same.json()["created"] is False and same.json()["version"]["number"] == 1
    changed = make_policy(_retention("30 days"))
    upload = client.post(
        "/api/v1/policies?effective=2025-03-01", files={"file": ("shop.yaml", changed.read_bytes(), "application/yaml")}, headers=headers
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["version"]["effective"] == "2025-03-01"
    assert [(c["section"], c["kind"], c["material"]) for c in upload.json()["changes"]] == [("retention", "longer", True)]

    listing = client.get("/api/v1/policies", headers=headers).json()
    assert [v["number"] for v in listing] == [1, 2] and listing[0]["hash"] == load_policy(MINIMAL).version_hash
    detail = client.get("/api/v1/policies/2", headers=headers).json()
    assert detail["sources"] == [{"name": "shop.yaml", "text": changed.read_text(encoding="utf-8")}]
    assert detail["policy"]["activities"]["security_logs"]["retention"]["period"] == "30 days"
    diff = client.get("/api/v1/policies/1/diff/2", headers=headers).json()
    assert diff["material"] is True and diff["changes"][0]["subject"] == "security_logs" and diff["lines"][0].startswith("material")
    assert client.get("/api/v1/policies/3", headers=headers).status_code == 404


def test_api_refuses_bad_policies_and_missing_permissions(platform_url: str, make_policy: PolicyFactory) -> None:
    client, headers, _ = _api(["policy:read", "policy:publish"])
    broken = client.post("/api/v1/policies", content="format: 1\norganization: [oops\n", headers=headers)
    assert broken.status_code == 422
    error = broken.json()["error"]
    assert error["details"]["errors"][0]["file"] == "policy.yaml" and error["details"]["errors"][0]["line"] == 3

    def no_interest(data: dict[str, Any]) -> None:
        del data["activities"]["security_logs"]["legitimate_interest"]

    failing = client.post("/api/v1/policies", content=make_policy(no_interest).read_bytes(), headers=headers)
    assert failing.status_code == 422 and [f["rule"] for f in failing.json()["error"]["details"]["findings"]] == ["PD015"]
    assert client.post("/api/v1/policies", content=b"", headers=headers).status_code == 422
    assert client.get("/api/v1/policies", headers=headers).json() == []
    assert client.get("/api/v1/policies").status_code == 401

    reader, read_only, _ = _api(["policy:read"], email="analyst@example.fr")
    assert reader.post("/api/v1/policies", content=MINIMAL.read_bytes(), headers=read_only).status_code == 403
    assert reader.get("/api/v1/policies", headers=read_only).status_code == 200
    assert _count(PolicyVersion) == 0
