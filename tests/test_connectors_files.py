"""The files connector on a carlab-like photo store: found through the account id the SQL database gives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from privacydesk.connectors.base import ConnectorContext, ConnectorError
from privacydesk.connectors.files import FilesConnector
from privacydesk.engine.export import write_access
from privacydesk.engine.run import SchemaMismatch, run_access, run_erasure
from privacydesk.policy.models import System

from .dsr_support import NOW, build, context, policy

CARLAB = policy("carlab")
CONTEXT = context("carlab")


@pytest.fixture
def carlab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Carlab's database on SQLite and its photos on disk: photos/<account id>/<file name>, as the policy declares."""
    engine = build("carlab", f"sqlite:///{tmp_path / 'app.db'}", monkeypatch, users=30)
    root = tmp_path / "store"
    with engine.connect() as c:
        for photo_id, user_id, file_name in c.execute(text("SELECT id, user_id, file_name FROM photos")):
            path = root / "photos" / str(user_id) / file_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"PNG of photo {photo_id}".encode())
    monkeypatch.setenv("CARLAB_FILES_ROOT", str(root))
    yield engine, root
    engine.dispose()


def _photographer(engine: Engine, *, skip: int = 0) -> tuple[str, int]:
    with engine.connect() as c:
        query = "SELECT u.email, u.id FROM users u WHERE EXISTS (SELECT 1 FROM photos p WHERE p.user_id = u.id) ORDER BY u.id"
        row = c.execute(text(query)).all()[skip]
    return row[0], row[1]


def _tree(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file() and not path.is_symlink()}


def test_access_exports_the_persons_photos_with_their_bytes(carlab: Any, tmp_path: Path) -> None:
    engine, root = carlab
    email, account = _photographer(engine)
    (root / "photos" / str(account) / "notes.txt").write_text("not a photo")  # only *.png files are declared
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"someone else's")
    (root / "photos" / str(account) / "link.png").symlink_to(outside)
    mine = {path: content for path, content in _tree(root).items() if path.startswith(f"photos/{account}/") and path.endswith(".png")}

    result = run_access(CARLAB, {"email": email}, context=CONTEXT)
    write_access(result, tmp_path / "export")

    photos = next(item for item in result.collections if item.system == "photo_files")
    assert {item.path for item in photos.files} == set(mine)
    assert {item.category for item in photos.files} == {"photo"}
    exported = tmp_path / "export" / "photo_files" / "photos" / "files"
    assert _tree(exported) == mine
    # The database rows came along, found through the same account.
    rows = next(item for item in result.collections if item.system == "app" and item.collection == "photos")
    assert {row["file_name"].value for row in rows.rows} == {path.rsplit("/", 1)[1] for path in mine}


def test_erasure_deletes_the_persons_files_and_their_directory_only(carlab: Any) -> None:
    engine, root = carlab
    email, account = _photographer(engine)
    before = _tree(root)

    result = run_erasure(CARLAB, {"email": email}, now=NOW, context=CONTEXT)

    after = _tree(root)
    theirs = {path for path in before if path.startswith(f"photos/{account}/")}
    assert theirs and set(after) == set(before) - theirs
    assert all(after[path] == before[path] for path in after)
    assert not (root / "photos" / str(account)).exists() and (root / "photos").is_dir()
    files = next(item for item in result.collections if item.system == "photo_files")
    assert files.deleted == len(theirs)


def test_identity_values_cannot_leave_their_path_segment(carlab: Any) -> None:
    _, root = carlab
    connector = FilesConnector("photo_files", CARLAB.systems["photo_files"], CONTEXT)
    (root / "photos" / "*").mkdir()
    (root / "photos" / "*" / "star.png").write_bytes(b"literal star")

    assert connector.find("photos", {"account_id": ["..", "../1", "1/../2", ""]}, []) == []
    assert [row["path"] for row in connector.find("photos", {"account_id": ["*"]}, [])] == ["photos/*/star.png"]
    with pytest.raises(ConnectorError, match="not a path inside the root"):
        connector.delete("photos", ["../app.db"])
    assert (root.parent / "app.db").exists()


def test_discovery_reports_a_missing_root_and_an_unsafe_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_ROOT", str(tmp_path / "missing"))
    system = System.model_validate(
        {
            "connector": "files",
            "url": "env:STORE_ROOT",
            "location": "FR",
            "collections": {
                "everything": {"path": "photos/", "erase": "delete"},
                "recordings": {"path": "{user_id}/recordings/*.mp4", "identities": {"account_id": "account"}, "erase": "anonymise"},
            },
        }
    )
    assert [str(problem) for problem in FilesConnector("store", system, CONTEXT).discover()] == [
        "store: error: the root directory " + str(tmp_path / "missing") + " does not exist"
    ]
    (tmp_path / "missing").mkdir()
    problems = [str(problem) for problem in FilesConnector("store", system, CONTEXT).discover()]
    assert "store.everything: error: path 'photos/' has no placeholder: every file would belong to every person" in problems
    assert "store.recordings: error: placeholder {user_id} is neither an identity nor a reference" in problems
    assert "store.recordings: error: files cannot be anonymised; set erase: delete or keep" in problems


def test_unset_root_variable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARLAB_FILES_ROOT", raising=False)
    monkeypatch.setenv("CARLAB_DB_URL", "sqlite://")
    with pytest.raises(ConnectorError, match="url is env:CARLAB_FILES_ROOT, but the environment variable CARLAB_FILES_ROOT is not set"):
        run_access(CARLAB, {"email": "a@b.c"}, context=ConnectorContext(secret=b"x" * 32))


def test_missing_table_stops_the_request_before_any_change(carlab: Any) -> None:
    engine, root = carlab
    email, account = _photographer(engine)
    with engine.begin() as c:
        c.execute(text("DROP TABLE training_samples"))
    before = _tree(root)

    with pytest.raises(SchemaMismatch, match=re.escape("app.training_samples: error: table 'training_samples' does not exist")):
        run_erasure(CARLAB, {"email": email}, now=NOW, context=CONTEXT)

    assert _tree(root) == before
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM users WHERE id = :u"), {"u": account}).scalar_one() == 1
