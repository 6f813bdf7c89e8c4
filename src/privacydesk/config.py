"""Settings from the environment (`PRIVACYDESK_*`), with secrets kept out of logs and output."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting privacydesk reads; each is `PRIVACYDESK_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PRIVACYDESK_", extra="ignore")

    # No URL means: start the embedded PostgreSQL in data_dir.
    database_url: SecretStr | None = None
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("privacydesk")))
    # Signs sessions, CSRF tokens and links; generated into data_dir on first use when unset.
    secret_key: SecretStr | None = None
    base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool = True
    # FastAPI's OpenTelemetry traces, metrics and logs (needs providers configured); off, it costs nothing per request.
    opentelemetry: bool = False

    session_hours: int = 12
    cookie_secure: bool = True
    login_max_failures: int = 5
    login_lockout_minutes: int = 15

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "privacydesk <privacy@localhost>"
    # Sends verification codes by text message: "log" (development only) or an entry point of privacydesk.sms_senders.
    sms_sender: str = "log"

    # Sites whose pages may call the public consent API from the browser (CORS), comma-separated origins.
    consent_origins: str = ""
    # Ed25519 private key (PEM) that signs consent receipts; generated into data_dir when unset.
    consent_receipt_key: SecretStr | None = None
    # Requests per minute one client address may make to the public consent API.
    consent_rate_limit: int = 300

    # Where access exports (ZIP) wait to be downloaded: data_dir/exports when unset; shared storage when workers run elsewhere.
    export_dir: Path | None = None
    # How long the download link of an export works; the file is deleted afterwards.
    export_days: int = 7
    # A request waiting for the person's code expires this many days after its receipt or its last code.
    request_unverified_days: int = Field(default=14, ge=1)

    worker_concurrency: int = 4
    # A worker silent for worker_stalled_seconds is presumed dead and its jobs are run again:
    # keep it several heartbeats long so a busy but live worker is never mistaken for a dead one.
    worker_heartbeat_seconds: float = 10.0
    worker_stalled_seconds: float = 60.0
    # Inserted jobs wake workers at once; retries and scheduled jobs are found by polling this often.
    worker_poll_seconds: float = 5.0


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def masked(settings: Settings) -> dict[str, str]:
    """The settings as text with every secret masked, for `config show`."""
    shown: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown[name] = _mask_url(value.get_secret_value()) if name.endswith("_url") else "**********"
        else:
            shown[name] = "" if value is None else str(value)
    return shown


def _mask_url(url: str) -> str:
    """Hide the password of a URL, keep the rest readable."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a database URL: hide all of it
        return "**********"
