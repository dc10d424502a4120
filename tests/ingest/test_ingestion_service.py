"""The ingestion service against the database (SQLite and PostgreSQL): idempotency, versions, deletion, failure."""
import json
import shutil
import zipfile

import pytest
from sqlalchemy import func, select

from app.db.models import Chunk, Document, IngestionRun, SlackChannel, SlackMessage, SlackUser, Source
from app.db.session import session_scope
from app.services import ingestion
from app.services.ingestion import delete_document, ingest_documents, ingest_slack_export
from tests.conftest import SAMPLE, shared_data

ACME = SAMPLE / "slack" / "acme-export"


def count(settings, model, *where):
    with session_scope(settings.db_url) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_sample_export_ingests_once(settings):
    first = ingest_slack_export(settings, ACME)
    assert first.status == "done" and first.rejected == 0 and first.added == 303
    assert first.source_name == "slack-export:acme-robotics"
    assert first.filtered["system:channel_join"] == 44 and first.filtered["bot"] == 4
    again = ingest_slack_export(settings, ACME)
    assert (again.added, again.updated, again.deleted, again.skipped) == (0, 0, 0, 303)
    with session_scope(settings.db_url) as s:
        chans = {c.name: c for c in s.scalars(select(SlackChannel))}
        assert chans["leadership"].kind == "private" and len(chans["leadership"].members) == 4
        assert next(c for c in chans.values() if c.kind == "dm").members
        assert s.scalar(select(func.count()).select_from(SlackUser)) == 13
        msg = s.scalars(select(SlackMessage).where(SlackMessage.filtered.is_(None),
                                                   SlackMessage.thread_ts.is_not(None))).first()
        assert msg.permalink.startswith("https://acme-robotics.slack.com/archives/")
        assert "<@U" not in msg.text and msg.content_hash and msg.run_id == first.run_id
        runs = s.scalars(select(IngestionRun).order_by(IngestionRun.id)).all()
        assert [(r.status, r.added, r.skipped) for r in runs] == [("done", 303, 0), ("done", 0, 303)]
        assert runs[0].report["filtered"]["system:channel_join"] == 44


def _small_export(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "users.json").write_text(json.dumps([{"id": "U1", "name": "lena", "profile": {"display_name": "Lena"}}]))
    (root / "channels.json").write_text(json.dumps([{"id": "C1", "name": "general", "members": ["U1"]}]))
    (root / "general").mkdir(exist_ok=True)
    day = [{"type": "message", "user": "U1", "ts": f"1704100000.00010{i}", "text": f"note {i}: the robot arm "
            f"calibration procedure step {i} takes {i * 7} minutes" + (" lena@acme.example" if i == 2 else "")}
           for i in range(5)]
    day.append({"type": "message", "user": "U1", "ts": "1704100000.000200",
                "text": "db url postgres://app:Sup3rS3cret@db.acme.example/prod"})
    (root / "general" / "2024-01-01.json").write_text(json.dumps(day))
    return root


def test_reimport_picks_up_edits_and_deletions_and_masks(settings, tmp_path):
    root = _small_export(tmp_path / "exp")
    first = ingest_slack_export(settings, root, source_name="acme")
    assert first.added == 6 and first.masked == {"secret": 1, "email": 1}  # personal data masked by default
    with session_scope(settings.db_url) as s:
        m = s.scalar(select(SlackMessage).where(SlackMessage.ts == "1704100000.000200"))
        assert "Sup3rS3cret" not in m.text and "Sup3rS3cret" not in m.raw_text and "db.acme.example" in m.text
        mail = s.scalar(select(SlackMessage).where(SlackMessage.ts == "1704100000.000102"))
        # neither the text nor the raw markup keeps the address: no unmasked copy in the database
        assert "lena@acme.example" not in mail.text + mail.raw_text and "[EMAIL]" in mail.text

    day = json.loads((root / "general" / "2024-01-01.json").read_text())
    day[1]["text"] += " (edited)"
    day[1]["edited"] = {"user": "U1", "ts": "1704100100.000000"}
    del day[3]
    (root / "general" / "2024-01-01.json").write_text(json.dumps(day))
    second = ingest_slack_export(settings, root, source_name="acme")
    assert (second.added, second.updated, second.deleted, second.skipped) == (0, 1, 1, 4)
    assert count(settings, SlackMessage, SlackMessage.deleted.is_(True)) == 1


def test_personal_data_masking_and_raw_retention_are_admin_settings(sqlite_settings, tmp_path):
    kept = sqlite_settings.model_copy(update={"mask_personal_data_in_index": False})
    summary = ingest_slack_export(kept, _small_export(tmp_path / "exp"), source_name="acme")
    assert summary.masked == {"secret": 1}
    with session_scope(sqlite_settings.db_url) as s:
        m = s.scalar(select(SlackMessage).where(SlackMessage.ts == "1704100000.000102"))
        assert "lena@acme.example" in m.text  # the admin chose to let answers quote it
        assert "lena@acme.example" not in m.raw_text  # raw markup is not retained with personal data
    retained = kept.model_copy(update={"retain_raw_text": True})
    ingest_slack_export(retained, _small_export(tmp_path / "exp2"), source_name="acme2")
    with session_scope(sqlite_settings.db_url) as s:
        raws = s.scalars(select(SlackMessage.raw_text).where(SlackMessage.ts == "1704100000.000102")).all()
        assert any("lena@acme.example" in r for r in raws)  # retention on: raw keeps it (secrets never)
        assert not any("Sup3rS3cret" in r for r in s.scalars(select(SlackMessage.raw_text)).all())


def test_failed_run_leaves_corpus_as_it_was(settings, tmp_path, monkeypatch):
    root = _small_export(tmp_path / "exp")
    ingest_slack_export(settings, root, source_name="acme")
    with session_scope(settings.db_url) as s:
        before = sorted((m.ts, m.text, m.deleted) for m in s.scalars(select(SlackMessage)))
    day = json.loads((root / "general" / "2024-01-01.json").read_text())
    day[0]["text"] = "changed"
    day.append({"type": "message", "user": "U1", "ts": "1704100000.000300", "text": "brand new"})
    (root / "general" / "2024-01-01.json").write_text(json.dumps(day))

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(ingestion, "_mark_deleted", boom)  # fails after the new and changed rows were written
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_slack_export(settings, root, source_name="acme")
    with session_scope(settings.db_url) as s:
        assert sorted((m.ts, m.text, m.deleted) for m in s.scalars(select(SlackMessage))) == before
        run = s.scalars(select(IngestionRun).order_by(IngestionRun.id.desc())).first()
        assert run.status == "failed" and "disk full" in run.report["error"] and run.finished_at


@pytest.mark.parametrize("kind", ["corrupt", "traversal"])
def test_bad_archive_is_a_failed_run_with_reason(sqlite_settings, tmp_path, kind):
    z = tmp_path / "bad.zip"
    if kind == "corrupt":
        z.write_bytes(b"PK\x03\x04broken")
    else:
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr("channels.json", "[]")
            zf.writestr("../../etc/cron.d/x", "boom")
    summary = ingest_slack_export(sqlite_settings, z)
    assert summary.status == "failed" and summary.rejected == 1
    assert ("not a valid zip" if kind == "corrupt" else "escaping the archive") in summary.rejections[0][1]
    assert count(sqlite_settings, SlackMessage) == 0
    assert not (tmp_path.parent / "etc").exists()


def test_export_over_upload_limit(sqlite_settings, tmp_path):
    z = tmp_path / "exp.zip"
    shutil.make_archive(str(z.with_suffix("")), "zip", _small_export(tmp_path / "exp"))
    small = sqlite_settings.model_copy(update={"max_upload_mb": 1})
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as zf:  # 2 MB of incompressible stored data
        zf.writestr("channels.json", "[]")
        zf.writestr("blob.bin", bytes(range(256)) * 8192)
    summary = ingest_slack_export(small, big)
    assert summary.status == "failed" and "over the upload limit" in summary.rejections[0][1]
    assert ingest_slack_export(small, z, source_name="ok").status == "done"


def test_both_shared_slack_archives_ingest(sqlite_settings):
    for path, n in [(shared_data("slack", "olake-community-export"), 304),
                    (shared_data("slack", "slack-export-viewer-testarchive.zip"), 158)]:
        s = ingest_slack_export(sqlite_settings, path)
        assert s.status == "done" and s.added == n and s.rejected == 0, s.rejections
    with session_scope(sqlite_settings.db_url) as s:
        links = s.scalars(select(SlackMessage.permalink).where(SlackMessage.permalink.is_not(None))).all()
        # each archive's own workspace, from its file metadata (the 2016 archive's files live on mesos-magellan)
        assert len(links) == 304 + 158
        assert sum(u.startswith("https://getolake.slack.com/archives/") for u in links) == 304
        assert sum(u.startswith("https://mesos-magellan.slack.com/archives/") for u in links) == 158


# --- documents ---------------------------------------------------------------------------------------------

def _docs(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "leave.md").write_text("# Leave\nYou get 28 days of annual leave.\n## Carry over\nUp to 5 days.\n")
    (root / "notes.txt").write_text("Office opens at 8am.")
    (root / "fake.docx").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    return root


def test_documents_ingest_replace_and_delete(settings, tmp_path):
    root = _docs(tmp_path / "docs")
    first = ingest_documents(settings, [root])
    assert (first.added, first.rejected) == (2, 1) and "is binary image/png" in first.rejections[0][1]
    again = ingest_documents(settings, [root])
    assert (again.added, again.updated, again.skipped) == (0, 0, 2)

    with session_scope(settings.db_url) as s:
        doc = s.scalar(select(Document).where(Document.path.like("%leave.md")))
        assert doc.sections[1] == {"heading_path": ["Leave", "Carry over"], "page": None, "text": "Up to 5 days."}
        doc_id = doc.id
        s.add(Chunk(origin_kind="document", origin_key=str(doc_id), document_id=doc_id, text="old", title="Leave",
                    meta={}, acl=["*"], content_hash="x"))

    (root / "leave.md").write_text("# Leave\nYou get 30 days of annual leave.\n")
    third = ingest_documents(settings, [root])
    assert (third.added, third.updated, third.skipped) == (0, 1, 1)
    with session_scope(settings.db_url) as s:
        doc = s.get(Document, doc_id)  # same row, new version
        assert "30 days" in doc.sections[0]["text"] and doc.run_id == third.run_id
        assert s.scalar(select(func.count()).select_from(Chunk)) == 1  # left to the index sync to diff

    delete_document(settings, doc_id)
    assert count(settings, Document, Document.id == doc_id) == 0 and count(settings, Chunk) == 0
    assert count(settings, IngestionRun, IngestionRun.deleted == 1) == 1
    with pytest.raises(LookupError, match=f"no document with id {doc_id}"):
        delete_document(settings, doc_id)


def test_duplicate_content_at_another_path_is_skipped(sqlite_settings, tmp_path):
    root = _docs(tmp_path / "docs")
    shutil.copy(root / "notes.txt", root / "notes-copy.txt")
    summary = ingest_documents(sqlite_settings, [root / "notes.txt", root / "notes-copy.txt", tmp_path / "missing.md"])
    assert (summary.added, summary.skipped, summary.filtered) == (1, 1, {"duplicate_content": 1})
    assert summary.rejections == [(str(tmp_path / "missing.md"), "no such file or folder")]


def test_group_visibility_and_bad_visibility(sqlite_settings, tmp_path):
    root = _docs(tmp_path / "docs")
    ingest_documents(sqlite_settings, [root / "notes.txt"], source_name="hr", visibility="group:hr")
    with session_scope(sqlite_settings.db_url) as s:
        assert s.scalar(select(Document.visibility)) == "group:hr"
        assert s.scalar(select(Source.kind).where(Source.name == "hr")) == "docs"
    with pytest.raises(ValueError, match="visibility must be"):
        ingest_documents(sqlite_settings, [root], visibility="admins")


def test_all_shared_documents_and_sample_handbook(sqlite_settings):
    docs = shared_data("docs")
    summary = ingest_documents(sqlite_settings, [docs / "format-samples", docs / "18f-handbook", SAMPLE / "handbook"])
    reasons = dict((p.rsplit("/", 1)[-1], r) for p, r in summary.rejections)
    assert set(reasons) == {"sample.msg", "non_text_searchable.pdf"}
    assert "needs OCR" in reasons["non_text_searchable.pdf"]
    assert summary.added == 22 + 248 + 15 and summary.status == "done"


def test_sample_workspace_personal_data_masked_by_default(sqlite_settings):
    summary = ingest_slack_export(sqlite_settings, ACME)
    assert summary.masked["phone"] >= 3 and summary.masked["email"] >= 5
    with session_scope(sqlite_settings.db_url) as s:
        texts = " ".join(s.scalars(select(SlackMessage.text)).all())
    assert "+49 170 555 0199" not in texts and "ahmed.k.design@example.net" not in texts and "[PHONE]" in texts


def test_hostile_html_is_rejected_and_the_batch_goes_on(sqlite_settings, tmp_path):
    tmp_path = tmp_path / "upload"
    tmp_path.mkdir()
    (tmp_path / "deep.html").write_text("<html><body>" + "<div>" * 5000 + "x" + "</div>" * 5000 + "</body></html>")
    (tmp_path / "ok.md").write_text("# Fine\nstill ingested")
    summary = ingest_documents(sqlite_settings, [tmp_path])
    assert summary.added == 1 and summary.status == "done"
    assert [r.split(" (")[0] for _, r in summary.rejections] == ["could not be parsed"]


def test_source_created_by_a_concurrent_run_is_reused(settings, tmp_path):
    """Two uploads at once into a fresh instance both look up the 'uploads' source, find none and create it: the
    second insert must reuse the first's source, not fail the upload with a raw UNIQUE-constraint error."""
    from sqlalchemy import event

    from app.db.session import session_factory
    engine = session_factory(settings.db_url).kw["bind"]
    raced = []

    def other_run_creates_it(conn, cursor, statement, params, context, executemany):
        if not raced and statement.lstrip().upper().startswith("SELECT") and "FROM sources" in statement:
            raced.append(1)  # between this run's look-up and its insert, another run commits the same source
            with session_scope(settings.db_url) as s:
                s.add(Source(name="uploads", kind="docs", config={}, checkpoint={}))

    doc = tmp_path / "note.txt"
    doc.write_text("the refund window for hardware orders is thirty days from delivery")
    event.listen(engine, "after_cursor_execute", other_run_creates_it)
    try:
        summary = ingest_documents(settings, [doc], source_name="uploads")
    finally:
        event.remove(engine, "after_cursor_execute", other_run_creates_it)
    assert raced and summary.status == "done" and summary.added == 1
    assert count(settings, Source, Source.name == "uploads") == 1


def test_an_upload_refused_for_a_foreign_channel_names_the_channel(sqlite_settings, tmp_path):
    """The uploader reads why their export was refused: which channel, once each (it read the same anonymous
    sentence once per channel)."""
    from app.workflows.uploads import _result_for
    root = _small_export(tmp_path / "exp")
    assert ingest_slack_export(sqlite_settings, root, source_name="admin-export").status == "done"
    again = ingest_slack_export(sqlite_settings, root, source_name="upload:7:job-1:exp.zip",
                                protect_foreign_channels=True)
    reason = _result_for("exp.zip", again)["reason"]
    assert reason.count("#general") == 1 and "C1" in reason and "another source" in reason, reason


def test_a_folder_crawl_skips_office_lock_files_and_os_litter(sqlite_settings, tmp_path):
    """A shared drive holds Office's lock files (~$Report.docx, while someone has Report.docx open), Thumbs.db,
    desktop.ini and .DS_Store: not documents, so not a table of 'renamed or corrupt file' rejections either."""
    drive = tmp_path / "drive"
    (drive / "team").mkdir(parents=True)
    (drive / "team" / "onboarding.md").write_text("# Onboarding\n\nBadges are collected at reception on day one.")
    (drive / "team" / "~$boarding.docx").write_bytes(b"\x05alice" + b"\x00" * 150)
    (drive / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 500)
    (drive / "team" / "desktop.ini").write_text("[.ShellClassInfo]\nIconResource=C:\\x.ico,0\n")
    (drive / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 100)
    summary = ingest_documents(sqlite_settings, [drive])
    assert (summary.added, summary.rejected) == (1, 0), summary.rejections


def test_an_export_with_nul_characters_ingests_on_every_database(settings, tmp_path):
    """A NUL ("\\u0000") in an exported message, name or file title: PostgreSQL text refuses it, which failed the
    whole import there (SQLite stored it). Ingestion drops the character."""
    root = _small_export(tmp_path / "exp")
    day = json.loads((root / "general" / "2024-01-01.json").read_text())
    day[0]["text"] = "the robot arm\u0000 calibration takes 7 minutes"
    day[1]["files"] = [{"id": "F1", "name": "log\u0000.txt", "title": "log\u0000.txt"}]
    (root / "general" / "2024-01-01.json").write_text(json.dumps(day))
    users = json.loads((root / "users.json").read_text())
    users[0]["profile"]["display_name"] = "Le\u0000na"
    (root / "users.json").write_text(json.dumps(users))
    summary = ingest_slack_export(settings, root, source_name="acme")
    assert summary.status == "done" and summary.added == 6, summary.rejections
    with session_scope(settings.db_url) as s:
        texts = [m.text for m in s.scalars(select(SlackMessage))]
    assert "the robot arm calibration takes 7 minutes" in texts and not any("\x00" in t for t in texts)


def test_a_file_named_twice_or_reached_through_a_symlink_is_ingested_once(sqlite_settings, tmp_path):
    """`ingest docs docs/ docs/a.md`, or a folder holding a symlink to one of its files: the same resolved path was
    parsed twice and inserted twice, and the run crashed with a unique constraint error."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe office opens at eight.")
    (docs / "link.md").symlink_to(docs / "a.md")
    summary = ingest_documents(sqlite_settings, [docs, docs / "a.md", docs / "link.md"])
    assert summary.status == "done" and (summary.added, summary.rejected) == (1, 0), summary
