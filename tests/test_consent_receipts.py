"""Signed consent receipts: they verify with the published key, and any change to them is detected."""

from __future__ import annotations

import base64
import copy
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from privacydesk.consent import receipts

from .consent_support import Platform, cid, setup_platform

pytestmark = pytest.mark.postgres


def _published_key(platform: Platform) -> Ed25519PublicKey:
    document = platform.client.get("/api/v1/public/consent/receipt-key").json()
    assert document["algorithm"] == "Ed25519"
    raw = base64.urlsafe_b64decode(document["public_key"] + "==")
    key = Ed25519PublicKey.from_public_bytes(raw)
    assert serialization.load_pem_public_key(document["pem"].encode()) == key
    assert document["key_id"] == receipts.key_id(key)
    return key


def test_a_receipt_verifies_and_any_change_breaks_it(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    platform = setup_platform(monkeypatch, tmp_path)
    person = cid()
    shown = platform.config("cs")
    record = platform.banner(person, {"newsletter": True, "analytics_cookies": False}, language="cs").json()
    answer = platform.client.get(f"/api/v1/consent/receipts/{record['record_id']}", headers=platform.headers)
    assert answer.status_code == 200, answer.text
    signed = answer.json()
    body = signed["receipt"]
    assert body["record_id"] == record["record_id"] and body["pii_principal_id"] == person
    assert body["notice"] == {
        "policy_version": shown["policy_version"],
        "policy_version_number": 1,
        "text_hash": shown["text_hash"],
        "language": "cs",
    }
    assert (body["collection_method"], body["surface"]) == ("custom", "banner")
    assert body["pii_controller"]["name"] == "Hangzhou Huacheng Network Technology Co., Ltd"
    assert [(p["id"], p["title"], p["event_state"]) for p in body["purposes"]] == [
        ("newsletter", "Newsletter Imou", "given"),
        ("analytics_cookies", "Analytické soubory cookie", "refused"),
    ]
    # The key file was generated for this data directory, readable by its owner only.
    key_file = tmp_path / receipts.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = _published_key(platform)
    assert signed["key_id"] == receipts.key_id(key)
    assert receipts.verify(signed, key)
    # The same record always gives the same receipt (Ed25519 signatures are deterministic).
    assert platform.client.get(f"/api/v1/consent/receipts/{record['record_id']}", headers=platform.headers).json() == signed
    for tamper in (
        lambda r: r["receipt"]["purposes"][1].update(event_state="given"),
        lambda r: r["receipt"].update(pii_principal_id=cid()),
        lambda r: r["receipt"]["notice"].update(language="pl"),
        lambda r: r.update(signature=r["signature"][:-4] + ("AAAA" if not r["signature"].endswith("AAAA") else "BBBB")),
        lambda r: r.update(signature="not base64!"),
        lambda r: r.pop("signature"),
    ):
        changed = copy.deepcopy(signed)
        tamper(changed)
        assert not receipts.verify(changed, key)
    # A key of someone else does not verify it either.
    assert not receipts.verify(signed, Ed25519PrivateKey.generate().public_key())
    # Reading receipts needs consent:read.
    assert platform.client.get(f"/api/v1/consent/receipts/{record['record_id']}").status_code == 401


def test_a_configured_key_signs_receipts(platform_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    platform = setup_platform(monkeypatch, tmp_path, consent_receipt_key=pem)
    record = platform.banner(cid(), {"ux_plan": True}).json()
    signed = platform.client.get(f"/api/v1/consent/receipts/{record['record_id']}", headers=platform.headers).json()
    assert _published_key(platform) == private.public_key()
    assert receipts.verify(signed, private.public_key())
    assert not (tmp_path / receipts.KEY_FILE).exists()
