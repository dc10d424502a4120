"""Links keep their targets in the extracted text as `label (url)`, in every format, so a quoted sentence still
says where to go; targets that mean nothing or harm to a reader (javascript:, data:, relative) are dropped."""
import io

import pytest

from ingest.documents import link_target, parse_bytes, with_link
from model.extractive import clean_inline
from ui.safe_render import safe_markdown

FORM = "https://intranet.example.com/forms/travel?id=7"


def _docx_with_links() -> bytes:
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    d = docx.Document()
    d.add_heading("Travel", level=1)

    def link(paragraph, url, text):
        rid = paragraph.part.relate_to(url, RT.HYPERLINK, is_external=True)
        h = OxmlElement("w:hyperlink")
        h.set(qn("r:id"), rid)
        r = OxmlElement("w:r")
        t = OxmlElement("w:t")
        t.text = text
        r.append(t)
        h.append(r)
        paragraph._p.append(h)

    p = d.add_paragraph("Book trips with ")
    link(p, FORM, "the travel form")
    p.add_run(" before you go.")
    p = d.add_paragraph("Never click ")
    link(p, "javascript:alert(document.cookie)", "this button")
    p.add_run(" or ")
    link(p, "data:text/html;base64,PHNjcmlwdD4=", "this one")
    p.add_run(".")
    # a field-code link, as some converters write them
    p = d.add_paragraph("Mail ")
    fld = OxmlElement("w:fldSimple")
    fld.set(qn("w:instr"), ' HYPERLINK "mailto:travel@example.com" ')
    r = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = "the travel desk"
    r.append(t)
    fld.append(r)
    p._p.append(fld)
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Form", "Where"
    table.cell(1, 0).text = "Expenses"
    link(table.cell(1, 1).paragraphs[0], "https://intranet.example.com/expenses", "expense portal")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_links_keep_their_urls():
    doc = parse_bytes(_docx_with_links(), "travel.docx")
    text = doc.text
    assert f"Book trips with the travel form ({FORM}) before you go." in text
    assert "Mail the travel desk (travel@example.com)" in text
    assert "| Expenses | expense portal (https://intranet.example.com/expenses) |" in text
    # the label stays, the harmful target never reaches the text
    assert "Never click this button or this one." in text
    assert "javascript" not in text and "data:" not in text and "base64" not in text


def test_pptx_links_keep_their_urls():
    from pptx import Presentation
    from pptx.util import Inches
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "Expenses"
    frame = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(2)).text_frame
    para = frame.paragraphs[0]
    para.add_run().text = "Claim through "
    r = para.add_run()
    r.text = "the portal"
    r.hyperlink.address = "https://intranet.example.com/expenses"
    para.add_run().text = ", not "
    r = para.add_run()
    r.text = "this"
    r.hyperlink.address = "javascript:alert(1)"
    para.add_run().text = "."
    buf = io.BytesIO()
    prs.save(buf)
    doc = parse_bytes(buf.getvalue(), "expenses.pptx")
    assert doc.sections[0].heading_path == ["Expenses"]
    assert doc.sections[0].text == "Claim through the portal (https://intranet.example.com/expenses), not this."


def test_pptx_sample_with_link():
    from tests.conftest import shared_data
    doc = parse_bytes(shared_data("docs", "format-samples", "pptx", "sample_pptx_with_link.pptx").read_bytes(),
                      "sample_pptx_with_link.pptx")
    assert doc.sections[0].text == "- Visit Example (https://example.com) for more info."  # a content placeholder: bulleted


def test_html_links_keep_their_urls_and_relative_ones_resolve_against_the_page():
    html = f"""<html><head><title>Travel</title>
      <link rel="canonical" href="https://handbook.example.com/travel/"></head><body>
      <p>Use <a href="{FORM}">the travel form</a> and read <a href="../leave/">the leave page</a>.</p>
      <p>Do not <a href="javascript:steal()">click here</a>, see <a href="#top">above</a>,
         write to <a href="mailto:desk@example.com">the desk</a>, visit <a href="https://example.org/">https://example.org/</a>.</p>
      </body></html>""".encode()
    text = parse_bytes(html, "travel.html").text
    assert f"Use the travel form ({FORM}) and read the leave page (https://handbook.example.com/leave/)." in text
    assert "Do not click here, see above, write to the desk (desk@example.com), visit https://example.org/." in text
    assert "javascript" not in text and "steal" not in text
    # without a stated address of its own, a relative link keeps only its label
    text = parse_bytes(b"<html><body><p>Read <a href='/leave'>the leave page</a>.</p></body></html>", "t.html").text
    assert text == "Read the leave page."


def test_link_targets_are_escaped_and_filtered():
    assert with_link("PDF", "https://en.wikipedia.org/wiki/PDF_(disambiguation)") == \
        "PDF (https://en.wikipedia.org/wiki/PDF_%28disambiguation%29)"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " data:text/html,<b>x</b>", "vbscript:x",
                "file:///etc/passwd", "/relative", "#anchor", "http:///nohost", ""):
        assert link_target(bad) is None, bad
        assert with_link("label", bad) == "label"
    assert with_link("https://example.com/a", "https://example.com/a") == "https://example.com/a"


def test_a_linked_sentence_keeps_its_url_in_the_answer_and_renders_safely():
    """What the extractive answerer quotes and what the UI renders: the URL survives both, shown, never hidden."""
    sentence = parse_bytes(_docx_with_links(), "travel.docx").sections[0].text.splitlines()[0]
    assert FORM in clean_inline(sentence)
    md = safe_markdown(sentence)
    assert FORM in md and "](" not in md


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
