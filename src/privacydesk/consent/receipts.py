"""Signed consent receipts: a record's evidence as JSON, signed with Ed25519 so anyone can check it.

The signature covers the RFC 8785 canonical JSON of the receipt; the public key is served at
/api/v1/public/consent/receipt-key. The private key is the `consent_receipt_key` setting (PEM),
or one generated into the data directory on first use (mode 0600).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from privacydesk.config import get_settings
from privacydesk.consent.models import ConsentEvent, ConsentRecord
from privacydesk.consent.published import policy_by_hash
from privacydesk.errors import NotFound

KEY_FILE = "consent_receipt_key"
ALGORITHM = "Ed25519"
SCHEMA = "privacydesk-consent-receipt/1 (ISO/IEC TS 27560)"
# Receipt ids derive from record ids: the same record always gives the same receipt.
_RECEIPT_NAMESPACE = uuid.UUID("5b0f6f0e-0d6c-4c8e-9a4e-3c1d2b7a9e10")


def private_key() -> Ed25519PrivateKey:
    """The signing key: the configured one, else the one in the data directory (created on first use)."""
    settings = get_settings()
    if settings.consent_receipt_key is not None:
        return _load(settings.consent_receipt_key.get_secret_value().encode())
    return _load(_key_file(settings.data_dir / KEY_FILE))


def public_key() -> Ed25519PublicKey:
    """The key that verifies receipts."""
    return private_key().public_key()


def public_key_document() -> dict[str, str]:
    """The public key as served to anyone who wants to verify a receipt."""
    key = public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {"algorithm": ALGORITHM, "key_id": key_id(key), "public_key": _b64(raw), "pem": pem}


def key_id(key: Ed25519PublicKey) -> str:
    """A short name of a public key: the start of the SHA-256 of its raw bytes."""
    return hashlib.sha256(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()[:16]


def receipt(session: Session, record_id: uuid.UUID) -> dict[str, Any]:
    """The signed receipt of one record: {"receipt", "signature", "algorithm", "key_id"}."""
    record = session.get(ConsentRecord, record_id)
    if record is None:
        raise NotFound(f"no consent record {record_id}")
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.record_id == record_id).order_by(ConsentEvent.id))
    policy = policy_by_hash(session, record.notice_version)
    lang = record.language or policy.organization.languages[0]
    organization = policy.organization
    body = {
        "schema_version": SCHEMA,
        "receipt_id": str(uuid.uuid5(_RECEIPT_NAMESPACE, str(record.record_id))),
        "record_id": str(record.record_id),
        "pii_principal_id": record.pii_principal_id,
        "pii_controller": {
            "name": organization.name,
            "address": organization.address,
            "country": organization.country,
            "email": organization.contact.email,
            "dpo_email": organization.dpo.email if organization.dpo else None,
        },
        "notice": {
            "policy_version": record.notice_version,
            "policy_version_number": record.policy_version_number,
            "text_hash": record.notice_hash,
            "language": record.language,
        },
        "collection_method": record.collection_method,
        "surface": record.surface,
        "event_time": _time(record.event_time),
        "purposes": [
            {
                "id": event.purpose,
                "title": policy.consents[event.purpose].title.get(lang, policy.text_languages())
                if event.purpose in policy.consents
                else None,
                "event_state": event.event_state,
                "event_time": _time(event.event_time),
                "valid_until": _time(event.valid_until) if event.valid_until else None,
            }
            for event in events
        ],
    }
    key = private_key()
    return {"receipt": body, "signature": _b64(key.sign(rfc8785.dumps(body))), "algorithm": ALGORITHM, "key_id": key_id(key.public_key())}


def verify(signed: Mapping[str, Any], key: Ed25519PublicKey | None = None) -> bool:
    """Whether the receipt is exactly what privacydesk signed (with `key`, by default the current public key)."""
    key = key or public_key()
    try:
        signature = base64.urlsafe_b64decode(str(signed["signature"]) + "==")
        key.verify(signature, rfc8785.dumps(signed["receipt"]))
    except (KeyError, ValueError, TypeError, InvalidSignature, rfc8785.CanonicalizationError):
        return False
    return signed.get("algorithm") == ALGORITHM


def _time(moment: Any) -> str:
    return str(moment.isoformat())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@cache
def _load(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the consent receipt key must be an Ed25519 private key (PEM, PKCS#8)")
    return key


@cache
def _key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Written aside with 0600, then linked into place: when several processes start at once, the first link wins.
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        try:
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    return path.read_bytes()
