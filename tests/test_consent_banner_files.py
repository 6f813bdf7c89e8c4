"""The banner's files as privacydesk serves them, and the demo site next to it."""

from __future__ import annotations

import gzip
from pathlib import Path

from fastapi.testclient import TestClient

from privacydesk.consent import banner
from privacydesk.consent.site import mount_site
from privacydesk.web.app import create_app

IMOU = Path(__file__).resolve().parents[1] / "examples" / "imou"


def test_banner_and_stylesheet_fit_in_8_kb_gzipped() -> None:
    both = (banner.STATIC / "banner.js").read_bytes() + (banner.STATIC / "banner.css").read_bytes()
    assert len(gzip.compress(both, compresslevel=9)) <= 8 * 1024


def test_banner_files_are_public_and_cached_for_a_year_under_their_version() -> None:
    client = TestClient(create_app())
    for name, media_type in (("banner.js", "text/javascript"), ("banner.css", "text/css")):
        bare = client.get(f"/consent/{name}")
        assert bare.status_code == 200
        assert bare.headers["content-type"].startswith(media_type)
        assert bare.content == (banner.STATIC / name).read_bytes()
        assert bare.headers["cache-control"] == banner.UNVERSIONED_CACHE
        versioned = client.get(f"/consent/{name}", params={"v": banner.version()})
        assert versioned.headers["cache-control"] == banner.VERSIONED_CACHE
        stale = client.get(f"/consent/{name}", params={"v": "0" * 16})
        assert stale.headers["cache-control"] == banner.UNVERSIONED_CACHE
        unchanged = client.get(f"/consent/{name}", headers={"If-None-Match": bare.headers["etag"]})
        assert (unchanged.status_code, unchanged.content) == (304, b"")


def test_the_demo_site_is_served_with_the_banner_pointed_at_privacydesk(tmp_path: Path) -> None:
    app = create_app()
    mount_site(app, IMOU / "site", privacy_origin="http://privacy.test:8000")
    client = TestClient(app)
    page = client.get("/site/")
    assert '<script src="http://privacy.test:8000/consent/banner.js" defer></script>' in page.text
    assert client.get("/site/analytics.js").headers["content-type"].startswith("text/javascript")
    # The folder's parent (the policy, the demo database generator) stays out of reach.
    outside = client.get("/site/%2e%2e/policy.yaml")
    assert (outside.status_code, outside.json()["error"]["message"]) == (404, "no page /site/../policy.yaml")
