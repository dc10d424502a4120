import io
from functools import lru_cache

import pytest

from ingest.documents import decode_text, parse_bytes, parse_document
from ingest.types import IngestError
from tests.conftest import SAMPLE, shared_data



@lru_cache(maxsize=None)
def parsed(path):  # the 31-page paper takes seconds: parse each shared sample once per session
    return parse_document(path)


def test_every_format_sample_ingests_or_is_rejected_clearly():
    expected_rejections = {"sample.msg": "legacy Microsoft OLE file", "non_text_searchable.pdf": "needs OCR"}
    seen = set()
    for f in sorted(p for p in shared_data("docs", "format-samples").rglob("*") if p.is_file()):
        if f.name in expected_rejections:
            with pytest.raises(IngestError, match=expected_rejections[f.name]):
                parse_document(f)
        else:
            doc = parsed(f)
            assert doc.sections and all(s.text.strip() for s in doc.sections), f
            assert len(doc.content_hash) == 64 and doc.title
        seen.add(f.suffix or "(none)")
    assert seen >= {".pdf", ".docx", ".pptx", ".html", ".md", ".txt", ".csv", ".msg", "(none)"}


def test_pdf_keeps_page_numbers():
    doc = parsed(shared_data("docs", "format-samples", "pdf", "react_paper.pdf"))
    assert doc.pages == 31 and doc.mime == "application/pdf"
    assert sorted({s.page for s in doc.sections}) == list(range(1, 32))  # every page, some cut at a heading
    assert "ReAct" in doc.text
    # LaTeX PDFs set "fi", "ff", "fl" as one ligature glyph: stored as is, "specific" never matched "speciﬁc" in BM25
    assert not any(c in doc.text for c in "\ufb00\ufb01\ufb02\ufb03\ufb04") and "specific policies" in doc.text


def test_typographic_ligatures_become_letters():
    doc = parse_bytes("The \ufb01rst e\ufb03cient work\ufb02ow, o\ufb00ered by Sta\ufb00.".encode(), "notes.txt")
    assert doc.text == "The first efficient workflow, offered by Staff."
    doc = parse_bytes(b"# \xef\xac\x81eld guide\n\nSee the \xef\xac\x82ow.", "guide.md")
    assert doc.title == "field guide" and "the flow" in doc.text


def test_docx_headings_tables_and_page_breaks(tmp_path):
    import docx
    d = docx.Document()
    d.core_properties.title = ""
    d.add_heading("Travel Policy", level=0)
    d.add_heading("Booking", level=1)
    d.add_paragraph("Book through Tripwise.")
    d.add_heading("Trains", level=2)
    d.add_paragraph("Second class for trips under 4 hours.")
    d.add_page_break()
    d.add_heading("Per diem", level=1)
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text, t.cell(1, 0).text, t.cell(1, 1).text = "City", "Rate", "Berlin", "45"
    path = tmp_path / "travel.docx"
    d.save(path)
    doc = parse_document(path)
    assert doc.title == "Travel Policy"
    by_heading = {tuple(s.heading_path): s for s in doc.sections}
    assert by_heading[("Booking",)].text == "Book through Tripwise."
    assert by_heading[("Booking", "Trains")].page == 1
    assert by_heading[("Per diem",)].page == 2 and "Berlin | 45" in by_heading[("Per diem",)].text


def test_pptx_slide_titles_and_numbers():
    doc = parsed(shared_data("docs", "format-samples", "pptx", "sample_pptx.pptx"))
    assert [s.page for s in doc.sections] == [1, 2]
    assert doc.sections[0].heading_path == ["Sample Title Slide"]


def test_markdown_heading_paths_and_front_matter(tmp_path):
    md = tmp_path / "leave.md"
    md.write_text("---\ntitle: Leave policy\n---\nIntro.\n\n# Annual leave\nYou get 28 days.\n\n## Carry over\n"
                  "Up to 5 days.\n```\n# not a heading\n```\n# Sick leave\nTell your lead.\n", encoding="utf-8")
    doc = parse_document(md)
    assert doc.title == "Leave policy" and doc.mime == "text/markdown"
    paths = [(s.heading_path, s.text.splitlines()[0]) for s in doc.sections]
    assert paths == [([], "Intro."), (["Annual leave"], "You get 28 days."),
                     (["Annual leave", "Carry over"], "Up to 5 days."), (["Sick leave"], "Tell your lead.")]
    assert "# not a heading" in doc.sections[2].text


def test_18f_handbook_all_pages_ingest():
    pages = sorted(shared_data("docs", "18f-handbook", "pages").rglob("*.md"))
    assert len(pages) == 246
    docs = [parse_document(p) for p in pages]
    assert all(d.title for d in docs)
    redirect = parse_document(shared_data("docs", "18f-handbook", "pages", "about-us", "org-chart.md"))
    assert "moved to https://docs.google.com" in redirect.text  # a stub page still says where to look


def test_html_headings_and_no_scripts():
    doc = parsed(shared_data("docs", "format-samples", "html", "what_is_haystack.html"))
    assert doc.title.startswith("What is Haystack")
    assert any(s.heading_path[-1:] == ["Building with Haystack"] for s in doc.sections if s.heading_path)
    assert "function(" not in doc.text and "{" not in doc.text[:200]


def test_sample_handbook_formats():
    for f in sorted((SAMPLE / "handbook").iterdir()):
        doc = parse_document(f)
        assert doc.sections, f
    pdf = parse_document(SAMPLE / "handbook" / "benefits-and-family-leave.pdf")
    assert pdf.pages == 4 and [s.page for s in pdf.sections] == [1, 2, 3, 4]


def test_csv_rows_keep_column_names():
    doc = parse_document(shared_data("docs", "format-samples", "csv", "sample_1.csv"))
    assert doc.text.splitlines()[0] == "Name: John Doe; Age: 27"


def test_text_without_extension():
    doc = parse_document(shared_data("docs", "format-samples", "txt", "doc_4"))
    assert doc.mime == "text/plain" and "no extension" in doc.text


def _pdf_bytes(**encrypt):
    from pypdf import PdfWriter
    w = PdfWriter()
    w.add_blank_page(200, 200)
    if encrypt:
        w.encrypt(algorithm="RC4-128", **encrypt)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def test_encrypted_pdf_rejected_clearly():
    with pytest.raises(IngestError, match="encrypted \\(password-protected\\) PDF"):
        parse_bytes(_pdf_bytes(user_password="secret", owner_password="owner"), "locked.pdf")


def test_owner_only_encryption_is_opened():
    # Empty user password: readable. This blank page then fails for the honest reason: no text layer.
    with pytest.raises(IngestError, match="needs OCR"):
        parse_bytes(_pdf_bytes(user_password="", owner_password="owner"), "open.pdf")


def test_renamed_binary_is_sniffed():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    with pytest.raises(IngestError, match=r"has a \.docx extension but is binary image/png"):
        parse_bytes(png, "report.docx")
    with pytest.raises(IngestError, match=r"\.pdf extension but its content is not PDF"):
        parse_bytes(b"just some words, no PDF here", "paper.pdf")
    with pytest.raises(IngestError, match="NUL bytes"):
        parse_bytes(b"abc\x00\x01\x02def" * 10, "data.bin")


def test_docx_that_is_a_zip_of_something_else():
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(IngestError, match="zip archive that is not a DOCX or PPTX"):
        parse_bytes(buf.getvalue(), "letter.docx")
    # a zip of documents: the reader learns what to do instead
    with pytest.raises(IngestError, match="unpack it and add the documents themselves"):
        parse_bytes(buf.getvalue(), "handbook.zip")


def test_non_utf8_text():
    text = "Café résumé naïve, déjà vu. Le garçon a mangé une crème brûlée à l'hôtel. " * 4
    assert decode_text(text.encode("cp1252")) == text
    assert parse_bytes(text.encode("cp1252"), "notes.txt").text == text.strip()
    import random
    rnd = random.Random(1)
    with pytest.raises(IngestError, match="not UTF-8 and its encoding could not be determined"):
        parse_bytes(bytes(rnd.randrange(128, 256) for _ in range(3000)), "noise.txt")


def test_size_limit_and_empty(tmp_path):
    f = tmp_path / "big.txt"
    f.write_text("x" * 5000)
    with pytest.raises(IngestError, match="over the limit of 1,000 bytes"):
        parse_document(f, max_bytes=1000)
    e = tmp_path / "empty.md"
    e.write_text("")
    with pytest.raises(IngestError, match="empty file"):
        parse_document(e)


def test_a_docx_container_of_an_unsupported_zip_version_is_rejected_clearly():
    import struct
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    b = bytearray(buf.getvalue())
    i = b.rfind(b"PK\x01\x02")
    b[i + 6:i + 8] = struct.pack("<H", 109)  # "version needed to extract" 10.9: zipfile raises NotImplementedError
    with pytest.raises(IngestError, match="corrupt zip container"):
        parse_bytes(bytes(b), "a.docx")


def _docx_zip(xml: bytes = b"<w:document>" + b"<w:p>hello</w:p>" * 400 + b"</w:document>") -> bytearray:
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", xml)
    return bytearray(buf.getvalue())


def test_a_docx_member_flagged_encrypted_is_rejected_clearly():
    """Found by fuzzing: zipfile raises RuntimeError ("password required") for a member whose flag says encrypted."""
    b = _docx_zip()
    i = b.rfind(b"PK\x01\x02")
    b[i + 8] |= 1  # central directory general-purpose flag, bit 0: encrypted
    with pytest.raises(IngestError, match="corrupt or unreadable"):
        parse_bytes(bytes(b), "a.docx")


def test_a_docx_member_with_a_damaged_deflate_stream_is_rejected_clearly():
    """Found by fuzzing: a damaged deflate stream raises zlib.error from inside zipfile's reader."""
    import zipfile
    import zlib
    b = _docx_zip()
    start = 30 + len("word/document.xml")  # the member's data follows its local header
    hits = 0
    for off in range(start + 2, start + 40):  # find a flip that zlib itself rejects, so the test needs zlib.error
        trial = bytearray(b)
        trial[off] ^= 0xFF
        try:
            with zipfile.ZipFile(io.BytesIO(bytes(trial))) as zf:
                zf.read("word/document.xml")
        except zlib.error:
            hits += 1
            with pytest.raises(IngestError, match="corrupt or unreadable"):
                parse_bytes(bytes(trial), "a.docx")
        except Exception:  # noqa: BLE001 - other damage (CRC) is another path, covered elsewhere
            continue
    assert hits, "no flipped byte gave a zlib.error: the test would not test anything"


def test_a_nul_in_pdf_metadata_is_dropped_from_the_title():
    """PDF metadata may hold NUL characters (UTF-16 titles): PostgreSQL text refuses them, failing the upload."""
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 (dev extra) writes the test PDF")
    from pypdf import PdfReader, PdfWriter
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="The meal allowance is 60 EUR per day.")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(pdf.output()))))
    writer.add_metadata({"/Title": "Expense\x00 policy\x00"})
    buf = io.BytesIO()
    writer.write(buf)
    doc = parse_bytes(buf.getvalue(), "policy.pdf")
    assert doc.title == "Expense policy" and "60 EUR" in doc.text


def test_docx_lists_and_tables_keep_their_structure(tmp_path):
    """List items stay items ('- ', '1. ') and a table's rows stay rows with their column names, so the answerer
    can quote one item or one row whole (they were flat lines, numbering lost, merged cells repeated)."""
    import docx
    d = docx.Document()
    d.add_paragraph("Before you travel:")
    for step in ("Get approval", "Book the train", "File the receipt"):
        d.add_paragraph(step, style="List Number")
    d.add_paragraph("Bring:")
    for thing in ("Laptop", "Badge"):
        d.add_paragraph(thing, style="List Bullet")
    t = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("City", "Rate", "Currency"), ("Berlin", "45", "EUR"), ("Oslo", "60", "NOK")]):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    t.cell(0, 1).merge(t.cell(0, 2)).text = "Rate and currency"
    path = tmp_path / "travel.docx"
    d.save(path)
    lines = parse_document(path).text.splitlines()
    assert lines[:7] == ["Before you travel:", "1. Get approval", "2. Book the train", "3. File the receipt",
                         "Bring:", "- Laptop", "- Badge"]
    assert lines[7:] == ["| City | Rate and currency |", "|---|---|", "| Berlin | 45 | EUR |", "| Oslo | 60 | NOK |"]


def test_html_lists_tables_code_and_main_content():
    html = b"""<html><head><title>Expenses</title></head><body>
      <header><a href="/">Home</a> <a href="/about">About</a></header>
      <div class="banner">Join our webinar!</div>
      <main><h1>Expenses</h1><p>Claim within:</p><ol><li>30 days in the EU</li><li>60 days elsewhere</li></ol>
      <ul><li><a href="https://example.com/x"><img src="i.png"></a></li><li>Keep receipts</li></ul>
      <table><tr><th>Item</th><th>Limit</th></tr><tr><td>Meal</td><td>60 EUR</td></tr></table>
      <pre>teamlore ingest docs receipts/
  --dry-run</pre></main>
      <footer>Copyright 2026 Example Corp</footer></body></html>"""
    doc = parse_bytes(html, "expenses.html")
    assert [s.heading_path for s in doc.sections] == [["Expenses"]]
    assert doc.text.splitlines() == [
        "Claim within:", "1. 30 days in the EU", "2. 60 days elsewhere", "- https://example.com/x", "- Keep receipts",
        "| Item | Limit |", "|---|---|", "| Meal | 60 EUR |",
        "```", "teamlore ingest docs receipts/", "  --dry-run", "```"]


def test_html_layout_table_is_read_as_text():
    """Old sites lay a whole article out in one table cell: that is prose, not a one-row table."""
    body = "<br><br>".join(f"Paragraph {i} says something long enough to read as prose, not data. " * 3
                           for i in range(4))
    html = f"<html><body><table><tr><td><img src=x></td><td>{body}</td></tr></table></body></html>".encode()
    text = parse_bytes(html, "essay.html").text
    assert "|" not in text and text.startswith("Paragraph 0 says")


def _fpdf(title_size=24, meta_title=None, stamp=True):
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 (dev extra) writes the test PDF")
    pdf = fpdf.FPDF()
    if meta_title is not None:
        pdf.set_title(meta_title)
    pdf.add_page()
    if stamp:  # a rotated margin stamp in a bigger font than anything else (as arXiv prints): never the title
        with pdf.rotation(90, x=10, y=200):
            pdf.set_font("helvetica", size=30)
            pdf.text(10, 200, "DRAFT 2026-03-01 internal")
    pdf.set_font("helvetica", "B", size=title_size)
    pdf.cell(text="Travel and Expenses", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(text="Policy 2026", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=11)
    pdf.write(6, "Book every trip with ")
    pdf.write(6, "the travel form", link="https://intranet.example.com/forms/travel")
    pdf.write(6, " before you go. Meals are paid up to 60 EUR a day; ")
    pdf.write(6, "this link", link="javascript:alert(1)")
    pdf.write(6, " is not one to follow. Receipts are kept for ten years by the finance team.")
    return bytes(pdf.output())


def test_pdf_title_is_the_largest_font_line_when_metadata_has_none():
    doc = parse_bytes(_fpdf(), "scan_0042.pdf")
    assert doc.title == "Travel and Expenses Policy 2026"
    # metadata that names a file or a template is no title either
    assert parse_bytes(_fpdf(meta_title="travel_policy_v2.docx"), "x.pdf").title == "Travel and Expenses Policy 2026"
    assert parse_bytes(_fpdf(meta_title="Microsoft Word - Document1"), "x.pdf").title == \
        "Travel and Expenses Policy 2026"
    # a real metadata title wins
    assert parse_bytes(_fpdf(meta_title="Travel policy (2026 edition)"), "x.pdf").title == \
        "Travel policy (2026 edition)"
    # nothing stands out from the body text: the file name
    assert parse_bytes(_fpdf(title_size=11, stamp=False), "travel-2026.pdf").title == "travel-2026"


def test_pdf_links_keep_their_urls():
    text = parse_bytes(_fpdf(), "policy.pdf").text
    assert "the travel form (https://intranet.example.com/forms/travel) before you go" in " ".join(text.split())
    assert "javascript" not in text


def test_small_capitals_split_words_are_mended_from_the_running_text():
    from ingest.documents import _body_words, _mend_split_words
    vocab = _body_words(["We call our method ReAct: it interleaves reasoning and acting with an act step."])
    assert _mend_split_words("2 REAC T : SYNERGIZING RE ASONING + AC T ING", vocab) == \
        "2 REACT: SYNERGIZING REASONING + ACTING"
    assert _mend_split_words("IN PUT AND OUT PUT", _body_words(["in and out, put it there, input."])) == \
        "IN PUT AND OUT PUT"  # both halves are words: left alone


def test_glyph_shifted_figure_text_is_read_back():
    from ingest.documents import _unshift_glyphs
    assert _unshift_glyphs("$FW\x03\x14\x1d\x03*R\x03WR\x03FDELQHW\x03\x14\nplain text stays") == \
        "Act 1: Go to cabinet 1\nplain text stays"


def test_react_paper_title_and_figure_text():
    doc = parsed(shared_data("docs", "format-samples", "pdf", "react_paper.pdf"))
    assert doc.title == "ReAct: Synergizing Reasoning and Acting in Language Models"
    assert "Act 1: Think[First I need to find a pepper shaker" in next(s.text for s in doc.sections if s.page == 2)
    assert "REACT: SYNERGIZING REASONING AND ACTING IN" in doc.sections[0].text


def test_markdown_title_folded_in_front_matter_or_from_the_first_heading():
    """Jekyll pages fold long titles onto the next lines (5 supervisor-playbook pages of the 18F handbook were
    titled 'play-10'); a page without a title or H1 is named by its first heading, not its file name."""
    md = ("---\ntitle:\n  Play 10 - Promote a healthy culture of improvement through constructive\n  feedback\n"
          "keywords: supervisor playbook, leadership\nredirect_from:\n  - /play-10/\n---\nFeedback is a tool.\n")
    doc = parse_bytes(md.encode(), "play-10.md")
    assert doc.title == "Play 10 - Promote a healthy culture of improvement through constructive feedback"
    assert doc.text == "Feedback is a tool."
    doc = parse_bytes(b"---\ntitle: >-\n  Travel\n  policy\n---\nBook early.\n", "t.md")
    assert doc.title == "Travel policy"
    doc = parse_bytes(b"Intro line.\n\n## CC0 1.0 Universal Summary\n\nPublic domain.\n", "LICENSE.md")
    assert doc.title == "CC0 1.0 Universal Summary"


def test_utf16_text_without_byte_order_mark():
    text = "Отпуск: 28 календарных дней в году. Vacation: 28 days a year, Größe egal."
    for enc in ("utf-16-le", "utf-16-be"):
        assert parse_bytes(text.encode(enc), "leave.txt").text == text
        assert parse_bytes(f"# Leave\n\n{text}\n".encode(enc), "leave.md").title == "Leave"
    with pytest.raises(IngestError, match="NUL bytes"):  # real binary stays refused
        parse_bytes(bytes(range(256)) * 8, "blob.txt")


def test_pdf_bookmarks_become_heading_paths_and_running_lines_go():
    """Citations of a PDF said only "page 5": its bookmarks now give each section its heading path, cut where the
    heading starts on the page; running headers/footers ("Page 3 of 4") no longer sit in every chunk."""
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 (dev extra) writes the test PDF")
    pdf = fpdf.FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("helvetica", size=11)

    def line(text):
        pdf.cell(text=text, new_x="LMARGIN", new_y="NEXT")

    chapters = [("Leave", 0, ["Annual leave is 28 days."]), ("Sick leave", 1, ["Tell your lead before 10am."]),
                ("Travel", 0, ["Book through Tripwise."]), ("Trains", 1, ["Second class under 4 hours."])]
    for n, (heading, level, body) in enumerate(chapters):
        if n != 1:
            pdf.add_page()
            line("ACME Handbook - internal")
        pdf.start_section(heading, level=level)
        line(heading)
        for b in body:
            line(b)
        if n != 0:
            pdf.set_y(-20)
            line(f"Page {pdf.page_no()} of 3")
    doc = parse_bytes(bytes(pdf.output()), "handbook.pdf")
    got = [(s.page, s.heading_path, s.text) for s in doc.sections]
    assert got == [(1, ["Leave"], "Annual leave is 28 days."),
                   (1, ["Leave", "Sick leave"], "Tell your lead before 10am."),
                   (2, ["Travel"], "Book through Tripwise."),
                   (3, ["Travel", "Trains"], "Second class under 4 hours.")]


def test_react_paper_sections_follow_its_bookmarks():
    doc = parsed(shared_data("docs", "format-samples", "pdf", "react_paper.pdf"))
    by = {(s.page, tuple(s.heading_path)) for s in doc.sections}
    assert (5, ("3 Knowledge-Intensive Reasoning Tasks", "3.3 Results and Observations")) in by
    assert (25, ("B Trajectories", "B.2 ALFWorld Trajectories", "B.2.1 ReAct trajectory")) in by
    assert not any(s.text.endswith("\n5") for s in doc.sections if s.page == 5)  # page numbers are gone


def test_docx_pages_follow_words_own_layout(tmp_path):
    """Word marks where each page began (w:lastRenderedPageBreak), soft breaks included: citations gave "page 1"
    for everything in a document without manual page breaks."""
    import docx
    from docx.oxml import OxmlElement
    d = docx.Document()
    d.add_heading("Leave", level=1)
    p = d.add_paragraph("A long paragraph that runs over ")
    p.add_run("").element.append(OxmlElement("w:lastRenderedPageBreak"))  # mid-paragraph: it starts on page 1
    p.add_run("onto page two.")
    d.add_paragraph("Starts page two.")
    p = d.add_paragraph()
    p.add_run("").element.append(OxmlElement("w:lastRenderedPageBreak"))  # before any text: starts page three
    p.add_run("Starts page three.")
    path = tmp_path / "leave.docx"
    d.save(path)
    doc = parse_document(path)
    assert [(s.page, s.text) for s in doc.sections] == [
        (1, "A long paragraph that runs over onto page two."), (2, "Starts page two."), (3, "Starts page three.")]
    assert doc.pages == 3
    sample = parse_document(shared_data("docs", "format-samples", "docx", "sample_docx_2_page_breaks.docx"))
    assert sample.pages == 5  # as Word's own docProps/app.xml says
    assert next(s.page for s in sample.sections if "Now this is a new paragraph on a new page." in s.text) == 3


def test_pdf_with_an_unknown_stream_filter_is_rejected_clearly():
    """Found by fuzzing: a damaged /Filter name makes pypdf raise NotImplementedError (the upload failed with 500)."""
    data = _fpdf(stamp=False)
    assert b"/FlateDecode" in data
    with pytest.raises(IngestError, match="corrupt or unreadable PDF"):
        parse_bytes(data.replace(b"/FlateDecode", b"/FlateDecodX"), "policy.pdf")


def test_docx_title_from_a_big_first_line_and_html_title_without_the_site_name(tmp_path):
    import docx
    from docx.shared import Pt
    d = docx.Document()
    d.core_properties.title = ""
    r = d.add_paragraph().add_run("Remote Work Guidelines")
    r.font.size, r.bold = Pt(20), True
    d.add_paragraph("Work from anywhere in the EU for up to 30 days a year.")
    path = tmp_path / "Doc1.docx"
    d.save(path)
    assert parse_document(path).title == "Remote Work Guidelines"
    html = b"<html><head><title>Expense policy | ACME Intranet</title></head><body><h1>Expense policy</h1><p>x y</p>"
    assert parse_bytes(html, "e.html").title == "Expense policy"
    html = b"<html><head><title>ACME Intranet - Expense policy</title></head><body><h1>Expense policy</h1><p>x y</p>"
    assert parse_bytes(html, "e.html").title == "Expense policy"
    html = b"<html><head><title>Expenses 2026</title></head><body><h1>Expense policy</h1><p>x y</p>"
    assert parse_bytes(html, "e.html").title == "Expenses 2026"  # a title of its own stays


def test_pptx_bullets_stay_items():
    """A content placeholder's paragraphs are bullets on the slide: each stays an item ('- '), numbered ones
    '1. ', so the answerer quotes one bullet whole instead of running them into one sentence."""
    from pptx import Presentation
    from pptx.oxml.ns import qn
    from pptx.util import Inches
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])  # Title and Content
    slide.shapes.title.text = "On call"
    body = slide.placeholders[1].text_frame
    body.text = "Answer pages within 15 minutes"
    p = body.add_paragraph()
    p.text, p.level = "Escalate after 30 minutes", 1
    box = slide.shapes.add_textbox(Inches(1), Inches(5), Inches(6), Inches(1)).text_frame
    box.text = "Rota in PagerDuty"
    steps = slide.shapes.add_textbox(Inches(1), Inches(6), Inches(6), Inches(1)).text_frame
    for i, step in enumerate(["Acknowledge", "Fix"]):
        para = steps.paragraphs[0] if i == 0 else steps.add_paragraph()
        para.text = step
        para._p.get_or_add_pPr().append(para._p.makeelement(qn("a:buAutoNum"), {"type": "arabicPeriod"}))
    buf = io.BytesIO()
    prs.save(buf)
    doc = parse_bytes(buf.getvalue(), "oncall.pptx")
    assert doc.sections[0].text.splitlines() == [
        "- Answer pages within 15 minutes", "  - Escalate after 30 minutes", "Rota in PagerDuty", "1. Acknowledge",
        "2. Fix"]


def test_docx_content_controls_keep_their_text(tmp_path):
    """Templates and forms wrap whole blocks in content controls (w:sdt): their paragraphs were skipped."""
    import docx
    from docx.oxml import OxmlElement
    d = docx.Document()
    d.add_paragraph("Before the form.")
    inner = d.add_paragraph("Claims over 500 EUR need the CFO's approval.")
    sdt, content = OxmlElement("w:sdt"), OxmlElement("w:sdtContent")
    inner._p.addprevious(sdt)
    content.append(inner._p)
    sdt.append(content)
    d.add_paragraph("After the form.")
    path = tmp_path / "claims.docx"
    d.save(path)
    assert parse_document(path).text.splitlines() == [
        "Before the form.", "Claims over 500 EUR need the CFO's approval.", "After the form."]


def test_a_pdf_of_nothing_but_recurring_lines_keeps_them():
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 (dev extra) writes the test PDF")
    pdf = fpdf.FPDF()
    pdf.set_font("helvetica", size=11)
    for n in range(1, 4):
        pdf.add_page()
        pdf.cell(text="ACME confidential", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(text=f"Page {n} of 3")
    doc = parse_bytes(bytes(pdf.output()), "cover.pdf")
    assert [s.text for s in doc.sections] == [f"ACME confidential\nPage {n} of 3" for n in (1, 2, 3)]


def test_docx_text_boxes_are_read_once(tmp_path):
    """Text in a text box (a call-out, a sidebar) was lost; Word stores each box twice (DrawingML and a VML fallback
    copy), so it must be read once."""
    import docx
    from lxml import etree
    d = docx.Document()
    host = d.add_paragraph("Expenses are claimed in Spendly.")
    W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
    run = etree.SubElement(host._p, f"{{{W}}}r")
    alt = etree.SubElement(run, f"{{{MC}}}AlternateContent")
    for part in ("Choice", "Fallback"):
        holder = etree.SubElement(etree.SubElement(alt, f"{{{MC}}}{part}"), f"{{{W}}}pict")
        box = etree.SubElement(holder, f"{{{W}}}txbxContent")
        r = etree.SubElement(etree.SubElement(box, f"{{{W}}}p"), f"{{{W}}}r")
        etree.SubElement(r, f"{{{W}}}t").text = "Deadline: 30 days after the trip."
    path = tmp_path / "expenses.docx"
    d.save(path)
    assert parse_document(path).text.splitlines() == ["Expenses are claimed in Spendly.",
                                                      "Deadline: 30 days after the trip."]
