"""Documents → sections with heading paths and page numbers (what a citation needs).

The format is decided by sniffing the bytes, never by trusting the extension: a `.docx` that is really a PNG
is rejected as such, an extensionless text file is read as text. Every refusal is an IngestError whose message
is the reason shown to the user.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import zipfile
import zlib
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from dataclasses import dataclass

import filetype
from charset_normalizer import from_bytes

from ingest.types import IngestError, ParsedDocument, Section

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
TEXT_EXTENSIONS = {"", ".txt", ".text", ".log", ".md", ".markdown", ".mdx", ".rst", ".html", ".htm", ".csv", ".tsv"}
OFFICE_EXTENSIONS = {".docx": "DOCX", ".pptx": "PPTX", ".pdf": "PDF"}
MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "html": "text/html", "markdown": "text/markdown", "csv": "text/csv", "text": "text/plain",
}
# Typographic ligatures (one glyph for "fi", "ffl", … in PDFs set by LaTeX and in text pasted from them) as their
# letters: stored as glyphs, "first" and "speciﬁc" never matched in search. And no NUL (PDF metadata holds some):
# PostgreSQL text refuses it.
_GLYPH_FIXES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\ufb05": "st", "\ufb06": "st", "\x00": None})
_MIN_PDF_CHARS_PER_PAGE = 10  # below this on every page, the PDF is a scan without a text layer


@dataclass(frozen=True)
class DocumentLimits:
    """What one document may cost, checked before (or while) the expensive work happens, never after it.

    max_chars: characters of text per document (a text file is refused from its byte size alone when even
      4-byte UTF-8 could not fit under it, without decoding it).
    max_office_xml_bytes: decompressed size of the XML parts of a DOCX/PPTX (declared sizes are checked first,
      then the real stream is counted, so a lying zip header does not help).
    max_office_elements: XML elements (start tags) across those parts: a 57 KB DOCX of 5 million empty
      paragraphs is refused after counting, without building a tree.
    max_csv_rows / max_csv_cells: CSV rows, and rows x columns, counted from the raw bytes before parsing.
    max_pdf_pages: pages of a PDF, read from its page tree before any text is extracted.
    """
    max_chars: int = 2_000_000
    max_office_xml_bytes: int = 64 << 20
    max_office_elements: int = 1_000_000
    max_csv_rows: int = 100_000
    max_csv_cells: int = 1_000_000
    max_pdf_pages: int = 2_000


DEFAULT_LIMITS = DocumentLimits()


def sniff(data: bytes, name: str, *, complete: bool = True) -> str:
    """The real format of `data`: pdf, docx, pptx, html, markdown, csv or text; IngestError otherwise.
    With `complete=False`, `data` is only the file's head: a zip is reported as "zip" without opening it."""
    ext = Path(name).suffix.lower()
    claimed = OFFICE_EXTENSIONS.get(ext)
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04") and not complete:
        return "zip"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                members = set(zf.namelist())
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError):
            raise IngestError(f"{_what(claimed, ext)}corrupt zip container") from None
        if "word/document.xml" in members:
            return "docx"
        if "ppt/presentation.xml" in members:
            return "pptx"
        if "xl/workbook.xml" in members:
            raise IngestError("Excel workbooks (XLSX) are not supported: export the sheet as CSV")
        raise IngestError(f"{_what(claimed, ext)}a zip archive that is not a DOCX or PPTX document"
                          + ("; unpack it and add the documents themselves (a .zip is read as a Slack export only)"
                             if ext == ".zip" else ""))
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise IngestError(f"{_what(claimed, ext)}a legacy Microsoft OLE file (Outlook .msg, .doc, .ppt, .xls), "
                          f"which is not supported: save it as PDF, DOCX or text")
    kind = filetype.guess(data[:8192])
    if kind is not None and not kind.mime.startswith("text/"):
        raise IngestError(f"{_what(claimed, ext)}binary {kind.mime} content, not a supported document")
    if claimed:
        # Claims to be PDF/DOCX/PPTX but carries none of their signatures.
        raise IngestError(f"has a {ext} extension but its content is not {claimed} (renamed or corrupt file)")
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")) and not _utf16_without_bom(data):
        raise IngestError("binary content (NUL bytes), not a supported document")
    if ext in (".md", ".markdown", ".mdx"):
        return "markdown"
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext in (".html", ".htm"):
        return "html"
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "text"


def _what(claimed: str | None, ext: str) -> str:
    return f"has a {ext} extension but is " if claimed else "is "


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' for UTF-16 text written without a byte-order mark (some Windows tools do): text in
    Latin, Cyrillic or Greek script has a zero byte in nearly every other position, on one side only."""
    head = data[:8192]
    head = head[:len(head) - len(head) % 2]
    if len(head) < 8:
        return None
    half = len(head) // 2
    even, odd = head[0::2].count(0) / half, head[1::2].count(0) / half
    encoding = "utf-16-le" if odd > 0.4 and even < 0.02 else "utf-16-be" if even > 0.4 and odd < 0.02 else None
    if encoding:
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError:
            return None
        if sum(c.isprintable() or c.isspace() for c in text) < 0.98 * len(text):
            return None
    return encoding


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 without BOM, else the encoding charset-normalizer is confident about,
    else refuse."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    encoding = _utf16_without_bom(data) if b"\x00" in data[:8192] else None
    if encoding:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    matches = list(from_bytes(data[:1_000_000]))
    if not matches or matches[0].chaos > 0.3:
        raise IngestError("text is not UTF-8 and its encoding could not be determined reliably; "
                          "re-save the file as UTF-8")
    encoding = matches[0].encoding
    # Short Western text fits several single-byte code pages about equally well; among near-ties prefer
    # Windows-1252, by far the most common non-UTF-8 encoding of documents.
    for m in matches:
        if m.chaos <= matches[0].chaos + 0.1 and "cp1252" in m.could_be_from_charset:
            encoding = "cp1252"
            break
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return data.decode(matches[0].encoding, errors="replace")


def parse_document(path: str | Path, *, display_path: str | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES, limits: DocumentLimits = DEFAULT_LIMITS) -> ParsedDocument:
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise IngestError(f"file is {size:,} bytes, over the limit of {max_bytes:,} bytes")
    if size == 0:
        raise IngestError("empty file")
    with path.open("rb") as fh:
        head = fh.read(8192)
    fmt = sniff(head, display_path or str(path), complete=size <= len(head))
    if fmt in _TEXT_FORMATS:
        # Cheap refusal from the size alone: even at 4 bytes a character the text could not fit the limit.
        _check_text_size(size, limits)
    data = path.read_bytes()
    return parse_bytes(data, display_path or str(path), limits=limits)


_TEXT_FORMATS = {"html", "markdown", "csv", "text"}


def _check_text_size(n_bytes: int, limits: DocumentLimits) -> None:
    if n_bytes > 4 * limits.max_chars:
        raise IngestError(f"text of {n_bytes:,} bytes is over the limit of {limits.max_chars:,} characters per "
                          f"document; split it into smaller files")


def _check_chars(n_chars: int, limits: DocumentLimits) -> None:
    if n_chars > limits.max_chars:
        raise IngestError(f"document has {n_chars:,} characters of text, over the limit of {limits.max_chars:,} "
                          f"per document; split it into smaller files")


def parse_bytes(data: bytes, name: str, *, limits: DocumentLimits = DEFAULT_LIMITS) -> ParsedDocument:
    fmt = sniff(data, name)
    if fmt in _TEXT_FORMATS:
        _check_text_size(len(data), limits)
    if fmt == "csv":
        _check_csv_shape(data, limits)
    if fmt in ("docx", "pptx"):
        _check_office_package(data, fmt, limits)
    parser = {"pdf": _parse_pdf, "docx": _parse_docx, "pptx": _parse_pptx, "html": _parse_html,
              "markdown": _parse_markdown, "csv": _parse_csv, "text": _parse_text}[fmt]
    if fmt == "pdf":
        title, sections, pages = parser(data, name, max_pages=limits.max_pdf_pages)
    elif fmt in _TEXT_FORMATS:
        title, sections, pages = parser(data, name, max_chars=limits.max_chars)
    else:
        title, sections, pages = parser(data, name)
    sections = [Section([h.translate(_GLYPH_FIXES) for h in s.heading_path], s.page, s.text.translate(_GLYPH_FIXES))
                for s in sections if s.text.strip()]
    title = title.translate(_GLYPH_FIXES).strip() if title else title
    if not sections:
        raise IngestError(f"no text found in this {fmt.upper() if fmt != 'text' else 'text'} file")
    _check_chars(sum(len(s.text) for s in sections), limits)
    return ParsedDocument(path=name, title=(title or Path(name).stem or name)[:500], mime=MIME[fmt],
                          sections=sections, pages=pages, size_bytes=len(data),
                          content_hash=hashlib.sha256(data).hexdigest())


# --- titles ------------------------------------------------------------------------------------------
# A title comes from the document's metadata when that is a real title, else from the document itself (its first
# heading, a PDF's largest-font line on page 1), else from the file name. Metadata often holds a file name
# ("sample_pdf", "Microsoft Word - policy.doc"), a template default ("PowerPoint Presentation", "Untitled") or
# nothing: none of those is what a reader calls the document.

_PLACEHOLDER_TITLES = re.compile(r"^(?:untitled(?:\s*document)?|title|document\s*\d*|presentation\s*\d*|"
                                 r"powerpoint presentation|slide\s*\d+|microsoft word|none|null|unknown)$", re.I)
_FILE_LIKE = re.compile(r"^[\w.\-~$]+\.(?:docx?|pdf|pptx?|odt|rtf|txt|tex|dvi|ps|indd|pages|key|xlsx?|html?|md)$|"
                        r"^[\w\-]*_[\w\-]*$|^\S+\.(?:dvi|tex)$", re.I)


def _sensible_title(title: str | None, name: str) -> str | None:
    """`title` when a reader would call the document that; None for file names, placeholders and noise."""
    t = " ".join((title or "").replace("\x00", "").split())
    t = re.sub(r"^Microsoft (?:Word|PowerPoint) - ", "", t, flags=re.I)
    if len(re.sub(r"\W", "", t)) < 3 or _PLACEHOLDER_TITLES.match(t) or _FILE_LIKE.match(t):
        return None
    if t.lower() == Path(name).stem.lower():
        return None
    return t


# --- links -------------------------------------------------------------------------------------------
# A link keeps its target in the text as `label (url)` — the form Slack links take in cleaning.py — so a quoted
# sentence ("fill in the travel form (https://…)") still says where to go, and search finds the address. Only
# web and mail addresses are kept: javascript:, data:, file: and relative targets mean nothing (or harm) to a
# reader, so those links keep their label alone. Clients render the text with links shown, never hidden.

def link_target(url: str | None, base: str | None = None) -> str | None:
    """The address worth showing for a link's target, or None: absolute http(s) (relative ones resolved against
    an absolute http(s) `base`), or a mail address; parentheses and spaces escaped so `label (url)` stays one
    unambiguous piece of text."""
    url = (url or "").strip()
    if not url or url.startswith("#"):
        return None
    try:
        if base and not urlsplit(url).scheme and urlsplit(base).scheme in ("http", "https"):
            url = urljoin(base, url)
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        address = parts.path.strip()
        return address if "@" in address and not re.search(r"[\s<>()]", address) else None
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return re.sub(r"[\s()<>\"]", lambda m: "%{:02X}".format(ord(m.group())), url)


def with_link(label: str, url: str | None, base: str | None = None) -> str:
    """`label (url)`; the label alone when the target is not worth showing; the url alone when the label is it."""
    target = link_target(url, base)
    label = label.strip() if label.strip() else ""
    if not target:
        return label
    if not label:
        return target
    bare = re.sub(r"^(?:https?://|mailto:)", "", target, flags=re.I).rstrip("/")
    if re.sub(r"^(?:https?://|mailto:)", "", label, flags=re.I).rstrip("/") in (bare, target):
        return label
    return f"{label} ({target})"


# --- PDF ---------------------------------------------------------------------------------------------

def _parse_pdf(data: bytes, name: str, max_pages: int = DEFAULT_LIMITS.max_pdf_pages):
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An owner-password-only PDF opens with the empty user password; anything else we cannot read.
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                raise IngestError("encrypted (password-protected) PDF: its text cannot be read; "
                                  "upload an unprotected copy")
        n_pages = len(reader.pages)
        if n_pages > max_pages:
            raise IngestError(f"PDF has {n_pages:,} pages, over the limit of {max_pages:,} per document; "
                              f"split it into smaller files")
        meta_title = None
        try:
            meta_title = _sensible_title(reader.metadata.title if reader.metadata else None, name)
        except Exception:  # broken metadata should not cost us the text
            pass
        pages = []
        first_page_runs: list[tuple[float, str]] = []  # (rendered font size, text) on page 1, for the title
        for number, page in enumerate(reader.pages, start=1):
            uris = _pdf_uri_links(page)
            placed: list[tuple[float, float, str]] = []

            def visit(text, cm, tm, font, size, uris=uris, placed=placed, number=number):
                if number == 1 and not meta_title and abs(tm[1]) + abs(tm[2]) + abs(cm[1]) + abs(cm[2]) < 1e-6:
                    # upright text only: a rotated margin stamp (arXiv's) is no title
                    first_page_runs.append((size * math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]), text))
                if uris:
                    placed.append((tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5], text))

            wants_visitor = uris or (number == 1 and not meta_title)
            text = page.extract_text(visitor_text=visit if wants_visitor else None) or ""
            if uris:
                text = _pdf_place_links(text, uris, placed)
            pages.append(text)
    except IngestError:
        raise
    except FileNotDecryptedError:
        raise IngestError("encrypted (password-protected) PDF: its text cannot be read; upload an unprotected copy") from None
    except (PdfReadError, ValueError, KeyError, TypeError, NotImplementedError) as exc:  # a damaged filter name
        raise IngestError(f"corrupt or unreadable PDF ({exc})") from None
    if not pages:
        raise IngestError("PDF has no pages")
    if all(len(re.sub(r"\s", "", p)) < _MIN_PDF_CHARS_PER_PAGE for p in pages):
        raise IngestError(f"PDF has no text layer ({len(pages)} page(s), scanned images?): it needs OCR before it "
                          f"can be ingested")
    pages = [_unshift_glyphs(t) for t in pages]
    vocab = _body_words(pages)
    pages = ["\n".join(_mend_split_words(ln, vocab) if _CAPS_LINE.match(ln) else ln for ln in t.splitlines())
             for t in pages]
    title = meta_title or _pdf_title_from_fonts(first_page_runs, vocab)
    pages = _drop_running_lines(pages)
    return title, _pdf_sections(pages, _pdf_outline(reader)), len(pages)


def _pdf_outline(reader) -> list[tuple[int, int, str]]:
    """The PDF's bookmarks as (page index, level, title) in reading order; [] when it has none or they are broken."""
    out: list[tuple[int, int, str]] = []

    def walk(items, level):
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            page = reader.get_destination_page_number(item)
            heading = " ".join(str(item.title or "").split())
            if page is not None and page >= 0 and heading and len(out) < 5000:
                out.append((page, level, heading))

    try:
        walk(reader.outline, 0)
    except Exception:  # a damaged outline costs the headings, never the text
        return []
    return sorted(out, key=lambda e: e[0])  # stable: bookmarks of one page keep their order


def _norm_heading(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def _pdf_sections(pages: list[str], outline: list[tuple[int, int, str]]) -> list[Section]:
    """One section per page, cut further where a bookmarked heading starts on that page: each section carries the
    heading path in force (its bookmarks' titles), so a citation says "page 5 · 3 Knowledge-Intensive Reasoning
    Tasks › 3.3 Results and Observations". A bookmark whose heading is not found as a line is taken to start
    at the top of its page."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    by_page: dict[int, list[tuple[int, str]]] = {}
    for page, level, heading in outline:
        by_page.setdefault(page, []).append((level, heading))

    def enter(level: int, heading: str) -> None:
        nonlocal path
        path = [(lv, h) for lv, h in path if lv < level] + [(level, heading)]

    for i, text in enumerate(pages):
        pending = by_page.get(i, [])
        lines = text.split("\n")
        keys = [_norm_heading(ln) for ln in lines] if pending else []
        found: dict[int, list[tuple[int, str]]] = {}
        start_of_page: list[tuple[int, str]] = []
        at = 0
        if len(pending) > 200:  # a machine-made outline: no line search (it would cost bookmarks x lines)
            for level, heading in pending:
                enter(level, heading)
            pending = []
        for level, heading in pending:
            want = _norm_heading(heading)
            hit = next((j for j in range(at, len(lines)) if want and keys[j] == want), None)
            if hit is None:
                (found.setdefault(at, []) if at else start_of_page).append((level, heading))
            else:
                found.setdefault(hit, []).append((level, heading))
                at = hit + 1
        for level, heading in start_of_page:
            enter(level, heading)
        buf: list[str] = []
        for j, ln in enumerate(lines):
            if j in found:
                if "\n".join(buf).strip():
                    sections.append(Section([h for _, h in path], i + 1, _tidy("\n".join(buf))))
                buf = []
                for level, heading in found[j]:
                    enter(level, heading)
                if keys[j] == _norm_heading(found[j][-1][1]):
                    continue  # the heading line itself: it is the section's heading path now
            buf.append(ln)
        if "\n".join(buf).strip() or not any(s.page == i + 1 for s in sections):
            sections.append(Section([h for _, h in path], i + 1, _tidy("\n".join(buf))))
    return sections


def _drop_running_lines(pages: list[str]) -> list[str]:
    """Running headers and footers out: a line among the first or last two of a page that recurs (digits aside:
    "Page 3 of 24") on at least half of the pages, and on at least three. They would sit in every chunk."""
    if len(pages) < 3:
        return pages
    from collections import Counter

    def edges(lines: list[str]) -> set[int]:
        filled = [j for j, ln in enumerate(lines) if ln.strip()]
        return set(filled[:2] + filled[-2:])

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.split())).lower()

    split = [t.split("\n") for t in pages]
    edge_sets = [edges(lines) for lines in split]
    seen: Counter = Counter()
    for lines, at in zip(split, edge_sets):
        seen.update({key(lines[j]) for j in at})
    running = {k for k, n in seen.items() if n >= max(3, len(pages) / 2) and k}
    if not running:
        return pages
    out = []
    for lines, at, text in zip(split, edge_sets, pages):
        drop = {j for j in at if key(lines[j]) in running}
        kept = "\n".join(ln for j, ln in enumerate(lines) if j not in drop)
        out.append(kept if kept.strip() else text)  # a page of nothing but those lines keeps them
    return out


def _pdf_uri_links(page) -> list[tuple[tuple[float, float, float, float], str]]:
    """(rect, url) of the page's link annotations that open a web or mail address."""
    out = []
    try:
        for ref in page.get("/Annots") or []:
            annot = ref.get_object()
            if annot.get("/Subtype") != "/Link":
                continue
            action = annot.get("/A")
            action = action.get_object() if action is not None else None
            uri = action.get("/URI") if action is not None and action.get("/S") == "/URI" else None
            if isinstance(uri, bytes):
                uri = uri.decode("latin-1")
            if uri and link_target(str(uri)):
                x0, y0, x1, y1 = (float(v) for v in annot["/Rect"])
                out.append(((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), str(uri)))
    except Exception:  # a damaged annotation loses its link, never the page's text
        return out
    return out


def _pdf_place_links(text: str, uris, placed: list[tuple[float, float, str]]) -> str:
    """Put each link's address after its label in the page text (`label (url)`), the label being the text drawn
    inside the link's rectangle; a link whose address the page already shows, or whose label is not found, is
    added as a line of its own only when the page does not show the address at all."""
    squeezed = re.sub(r"\s+", "", text)
    extra: list[str] = []
    done: set[str] = set()
    for (x0, y0, x1, y1), uri in uris:
        target = link_target(uri)
        if target in done or re.sub(r"\s+", "", target) in squeezed or re.sub(r"^https?://", "", target) in squeezed:
            continue
        done.add(target)
        label = " ".join("".join(t for x, y, t in placed if x0 - 2 <= x < x1 - 1 and y0 - 2 <= y <= y1 + 2).split())
        if label and re.sub(r"\s+", "", label) in squeezed and label in text:
            i = text.index(label) + len(label)
            text = f"{text[:i]} ({target}){text[i:]}"
        else:
            extra.append(with_link(label, target))
    return text + ("\n" + "\n".join(extra) if extra else "")


# A PDF whose embedded font maps codes to glyph ids without a usable ToUnicode table (figures exported from some
# tools) yields text shifted by 29 code points: "$FW\x03\x14" is "Act 1", spaces come out as \x03. Such a line
# holds control characters and no ASCII past "a"; shifted back it reads.
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f]")


def _unshift_glyphs(text: str) -> str:
    if not _CONTROL.search(text):
        return text
    out = []
    for ln in text.split("\n"):
        if _CONTROL.search(ln) and not re.search(r"[b-z{|}~\x7f]", ln):  # glyphs past "a" (…) stay as they are
            shifted = "".join(chr(ord(c) + 29) if 3 <= ord(c) <= 0x61 else c for c in ln)
            if sum(c.isalnum() or c == " " for c in shifted) >= 0.7 * len(shifted):
                ln = shifted
        out.append(_CONTROL.sub(" ", ln))
    return "\n".join(out)


_CAPS_LINE = re.compile(r"^[^a-z]*[A-Z]{2}[^a-z]*$")  # a line in capitals: a heading, often set in small caps


def _body_words(pages: list[str]) -> dict[str, str]:
    """Lower-cased word -> its most common spelling in the running text (lines not in capitals)."""
    from collections import Counter
    forms: Counter = Counter()
    for t in pages:
        for ln in t.splitlines():
            if not _CAPS_LINE.match(ln):
                forms.update(re.findall(r"[A-Za-z]+", ln))
    best: dict[str, str] = {}
    for form, _ in forms.most_common():
        best.setdefault(form.lower(), form)
    return best


def _mend_split_words(line: str, vocab: dict[str, str]) -> str:
    """Join the pieces of words that letter-spaced small capitals broke ("REAC T :" -> "REACT:", "AC T ING" ->
    "ACTING"): two neighbours are joined when together they are a word of the running text and one of them alone
    is not."""
    line = re.sub(r"(?<=\w) +(?=[:;,.!?](?:\s|$))", "", line)
    tokens = line.split(" ")
    i = 0
    while i + 1 < len(tokens):
        a, b = tokens[i], tokens[i + 1]
        ca, cb = re.sub(r"\W", "", a).lower(), re.sub(r"\W", "", b).lower()
        if (a.isalpha() and ca and cb and b[:1].isalpha() and (ca + cb) in vocab
                and (ca not in vocab or cb not in vocab)):
            tokens[i:i + 2] = [a + b]
            continue
        i += 1
    return " ".join(tokens)


_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "via", "with"}


def _pdf_title_from_fonts(runs: list[tuple[float, str]], vocab: dict[str, str]) -> str | None:
    """The text set in the largest font at the top of page 1, when it stands out from the body text; a title in
    capitals gets the spelling the running text uses ("REACT: SYNERGIZING" -> "ReAct: Synergizing")."""
    from collections import Counter
    letters: Counter = Counter()
    for size, text in runs:
        letters[round(size, 1)] += len(re.findall(r"\w", text))
    letters = Counter({s: n for s, n in letters.items() if n})
    if not letters:
        return None
    body = letters.most_common(1)[0][0]
    big = [s for s, n in letters.items() if n >= 4 and s >= body * 1.15]
    if not big:
        return None
    threshold = max(0.7 * max(big), body * 1.15)
    picked: list[str] = []
    for size, text in runs:
        if not re.search(r"\w", text):
            if picked:
                picked.append(text)
            continue
        if round(size, 1) >= threshold:
            picked.append(text)
        elif picked:
            break
    title = _mend_split_words(" ".join("".join(picked).split()), vocab)
    if not re.search(r"[A-Za-z]{2}", title) or len(title) > 300:
        return None
    if not re.search(r"[a-z]", title) and len(title.split()) > 1:
        words = []
        for i, w in enumerate(title.split()):
            core = re.sub(r"\W", "", w)
            known = vocab.get(core.lower())
            if i and core.lower() in _SMALL_WORDS:
                form = core.lower()
            elif known and known != known.lower() and known != known.capitalize():
                form = known  # the running text's own spelling: ReAct, LLMs, GSA
            elif known or len(core) > 3:
                form = core.capitalize()
            else:
                form = core
            words.append(w.replace(core, form, 1) if core else w)
        title = " ".join(words)
    return title


# --- DOCX --------------------------------------------------------------------------------------------

def _heading_level(style_name: str) -> int | None:
    if style_name == "Title":
        return 0
    m = re.match(r"Heading (\d)", style_name or "")
    return int(m.group(1)) if m else None


def _parse_docx(data: bytes, name: str):
    import docx
    from docx.oxml.ns import qn
    try:
        document = docx.Document(io.BytesIO(data))
        links = {rid: rel.target_ref for rid, rel in document.part.rels.items() if rel.is_external}
    except Exception as exc:  # python-docx raises a zoo of errors for broken packages
        raise IngestError(f"corrupt or unreadable DOCX ({exc})") from None
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buf: list[str] = []
    page = 1
    title = _sensible_title(document.core_properties.title, name)
    numbered = _docx_numbered_lists(document)
    counters: dict[tuple[str, str], int] = {}
    style_numpr: dict = {}

    def flush():
        if buf:
            sections.append(Section([h for _, h in path], page, _tidy("\n".join(buf))))
            buf.clear()

    body = document.element.body
    # Word records where each page began when it last laid the document out (w:lastRenderedPageBreak): those give
    # the page numbers a reader sees, soft breaks included. Documents written by other tools have none: then only
    # hard page breaks count.
    rendered = body.find(".//" + qn("w:lastRenderedPageBreak")) is not None
    for child in _docx_blocks(body):
        if child.tag == qn("w:p"):
            para = docx.text.paragraph.Paragraph(child, document)
            if rendered:
                before, breaks = _docx_rendered_breaks(child)
                if before:
                    flush()
                    page += before
            else:
                breaks = len(child.findall(".//" + qn("w:br") + "[@" + qn("w:type") + "='page']"))
            level = _heading_level(para.style.name if para.style is not None else "")
            if level is not None and para.text.strip():
                text = para.text.strip()  # a heading names a place: no link targets in it
                flush()
                if level == 0:
                    title = title or text
                path = [(lv, h) for lv, h in path if lv < max(level, 1)] + [(max(level, 1), text)]
            else:
                text = _docx_text(child, links).strip()
                if text:
                    buf.append(_docx_list_marker(child, para, numbered, counters, style_numpr) + text)
            buf.extend(_docx_text_boxes(child, links))
            if breaks:
                flush()
                page += breaks
        elif child.tag == qn("w:tbl"):
            table = docx.table.Table(child, document)
            rows = []
            for row in table.rows:
                cells, seen = [], set()
                for cell in row.cells:  # a merged cell is listed once per grid column it spans: once is enough
                    if id(cell._tc) not in seen:
                        seen.add(id(cell._tc))
                        cells.append(" ".join(_docx_text(p, links).strip() for p in cell._tc.iter(qn("w:p"))))
                rows.append(cells)
            buf.append(_table_rows(rows))
            if rendered and (breaks := len(child.findall(".//" + qn("w:lastRenderedPageBreak")))):
                flush()  # a table running over pages is cited at the page it starts on
                page += breaks
    flush()
    if not title:
        title = next((h for s in sections for h in s.heading_path), None) or _docx_big_first_line(document)
    return title, sections, page


def _docx_big_first_line(document) -> str | None:
    """A short line among the first paragraphs set in a clearly larger font than the body (a title typed as
    a big bold Normal paragraph, no heading style): the document's 'largest-font line'."""
    try:
        normal = document.styles["Normal"].font.size
    except KeyError:
        normal = None
    body_pt = normal.pt if normal is not None else 11.0
    seen = 0
    for para in document.paragraphs:
        text = " ".join(para.text.split())
        if not text:
            continue
        sizes = [r.font.size.pt for r in para.runs if r.text.strip() and r.font.size is not None]
        if sizes and min(sizes) >= 1.3 * body_pt and len(text) <= 150:
            return text
        seen += 1
        if seen >= 5:
            return None
    return None


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_blocks(parent):
    """The body's paragraphs and tables in order, including those inside block-level content controls (forms and
    templates wrap whole sections in w:sdt) and custom XML: they were skipped, and their text lost."""
    for child in parent.iterchildren():
        if child.tag in (_W + "sdt", _W + "sdtContent", _W + "customXml"):
            yield from _docx_blocks(child)
        elif child.tag in (_W + "p", _W + "tbl"):
            yield child


_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def _docx_text_boxes(p, links: dict[str, str]) -> list[str]:
    """The text of the text boxes anchored in a paragraph (call-outs, sidebars, form labels), after it. Word writes
    each box twice (DrawingML, and a VML copy under mc:Fallback for old readers): the copy is skipped."""
    out: list[str] = []
    for box in p.iter(_W + "txbxContent"):
        if any(a.tag == _MC_FALLBACK for a in box.iterancestors()):
            continue
        for inner in _docx_blocks(box):
            if inner.tag == _W + "p":
                text = _docx_text(inner, links).strip()
                if text:
                    out.append(text)
    return out


def _docx_rendered_breaks(p) -> tuple[int, int]:
    """Word's rendered page breaks in a paragraph: (before its first text: it starts on a new page, after it: the
    paragraph runs over onto the next page)."""
    before = after = 0
    seen_text = False
    for el in p.iter(_W + "t", _W + "lastRenderedPageBreak"):
        if el.tag == _W + "t":
            seen_text = seen_text or bool(el.text and el.text.strip())
        elif seen_text:
            after += 1
        else:
            before += 1
    return before, after
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_HYPERLINK_FIELD = re.compile(r'^\s*HYPERLINK\s+(?:\\[a-z]\s+)*"?([^"\s]+)"?', re.I)


def _docx_text(p, links: dict[str, str]) -> str:
    """A paragraph's text with its links as `label (url)`: w:hyperlink elements (their target in the part's
    relationships), simple fields and complex fields whose instruction is HYPERLINK. Deleted revisions are left out,
    inserted ones kept, as Word shows them."""
    from docx.text.run import Run
    out: list[str] = []
    field: list[dict] = []  # open complex fields: {"instr": str, "start": index in out or None}

    def walk(el):
        for c in el.iterchildren():
            tag = c.tag
            if tag == _W + "r":
                for fc in c.iterchildren(_W + "fldChar"):
                    kind = fc.get(_W + "fldCharType")
                    if kind == "begin":
                        field.append({"instr": "", "start": None})
                    elif kind == "separate" and field:
                        field[-1]["start"] = len(out)
                    elif kind == "end" and field:
                        f = field.pop()
                        m = _HYPERLINK_FIELD.match(f["instr"])
                        if m and f["start"] is not None:
                            label = "".join(out[f["start"]:])
                            del out[f["start"]:]
                            out.append(with_link(label, m.group(1)))
                for it in c.iterchildren(_W + "instrText"):
                    if field:
                        field[-1]["instr"] += it.text or ""
                if field and field[-1]["start"] is None:
                    continue  # inside a field's instruction, not its shown result
                out.append(Run(c, None).text)
            elif tag == _W + "hyperlink":
                start = len(out)
                walk(c)
                label = "".join(out[start:])
                del out[start:]
                rid = c.get(_R_ID)
                out.append(with_link(label, links.get(rid)) if rid else label)
            elif tag == _W + "fldSimple":
                start = len(out)
                walk(c)
                label = "".join(out[start:])
                del out[start:]
                m = _HYPERLINK_FIELD.match(c.get(_W + "instr") or "")
                out.append(with_link(label, m.group(1)) if m else label)
            elif tag in (_W + "ins", _W + "smartTag", _W + "sdt", _W + "sdtContent", _W + "customXml"):
                walk(c)

    walk(p)
    return "".join(out)


def _docx_numbered_lists(document) -> dict[tuple[str, str], bool]:
    """(numId, ilvl) -> whether that list level is numbered (decimal, letters, roman) rather than bulleted."""
    out: dict[tuple[str, str], bool] = {}
    try:
        numbering = document.part.numbering_part.element
    except Exception:  # no numbering part: no lists
        return out
    formats = {}
    for absn in numbering.iterchildren(_W + "abstractNum"):
        for lvl in absn.iterchildren(_W + "lvl"):
            fmt = lvl.find(_W + "numFmt")
            formats[(absn.get(_W + "abstractNumId"), lvl.get(_W + "ilvl"))] = (
                fmt is not None and fmt.get(_W + "val") not in ("bullet", "none"))
    for num in numbering.iterchildren(_W + "num"):
        absid = num.find(_W + "abstractNumId")
        if absid is not None:
            for (a, ilvl), is_num in formats.items():
                if a == absid.get(_W + "val"):
                    out[(num.get(_W + "numId"), ilvl)] = is_num
    return out


def _docx_list_marker(p, para, numbered: dict[tuple[str, str], bool], counters: dict[tuple[str, str], int],
                      style_numpr: dict) -> str:
    """'- ' for a bulleted list item, '3. ' for the third item of a numbered list (indented by level), '' else:
    list items stay recognisable as items (the answerer keeps an item whole). `style_numpr` caches each
    paragraph style's own numbering (looking a style up is slow in python-docx)."""
    numpr = p.find(f"{_W}pPr/{_W}numPr")
    if numpr is None:
        ps = p.find(f"{_W}pPr/{_W}pStyle")
        style_id = ps.get(_W + "val") if ps is not None else None
        if style_id not in style_numpr:
            found, style = None, para.style
            while found is None and style is not None:  # list styles ("List Number") carry the numbering
                found = style.element.find(f"{_W}pPr/{_W}numPr")
                style = style.base_style
            style_numpr[style_id] = found
        numpr = style_numpr[style_id]
    if numpr is None:
        return ""
    num_id = numpr.find(_W + "numId")
    ilvl = numpr.find(_W + "ilvl")
    key = (num_id.get(_W + "val") if num_id is not None else "", ilvl.get(_W + "val") if ilvl is not None else "0")
    if key[0] in ("", "0"):
        return ""  # numId 0: numbering switched off for this paragraph
    indent = "  " * int(key[1]) if key[1].isdigit() else ""
    if numbered.get(key):
        for k in [k for k in counters if k[0] == key[0] and k[1] > key[1]]:
            del counters[k]  # a deeper level restarts under each new parent item
        counters[key] = counters.get(key, 0) + 1
        return f"{indent}{counters[key]}. "
    return f"{indent}- "


def _table_rows(rows: list[list[str]]) -> str:
    """A table as Markdown rows, the first row as the header: each row stays one line and keeps its columns'
    names (the answerer quotes a row with them)."""
    rows = [[re.sub(r"\s+", " ", c).replace("|", "/").strip() for c in r] for r in rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return ""
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    if len(rows) > 1:
        lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


# --- PPTX --------------------------------------------------------------------------------------------

def _parse_pptx(data: bytes, name: str):
    from pptx import Presentation
    try:
        prs = Presentation(io.BytesIO(data))
    except Exception as exc:
        raise IngestError(f"corrupt or unreadable PPTX ({exc})") from None
    sections = []
    title = _sensible_title(prs.core_properties.title, name)
    for number, slide in enumerate(prs.slides, start=1):
        links = {rid: rel.target_ref for rid, rel in slide.part.rels.items() if rel.is_external}
        title_shape = slide.shapes.title
        slide_title = None
        if title_shape is not None and title_shape.has_text_frame:
            slide_title = " ".join(title_shape.text_frame.text.split()) or None
        parts: list[str] = []
        for shape in _pptx_shapes(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            text = ""
            if shape.has_text_frame:
                content = shape.is_placeholder and shape.placeholder_format.type in (2, 7)  # BODY, OBJECT
                text = _pptx_text(shape.text_frame._txBody, links, bulleted=content)
            if getattr(shape, "has_table", False) and shape.has_table:
                parts.append(_table_rows([[" ".join(_pptx_text(c.text_frame._txBody, links).split()) for c in row.cells]
                                          for row in shape.table.rows]))
            try:  # a whole shape (a button, a picture) can be the link
                address = shape.click_action.hyperlink.address
            except Exception:  # shapes without click actions (graphic frames) raise
                address = None
            if address and link_target(address):
                text = with_link(text, address) if "\n" not in text.strip() else f"{text}\n{link_target(address)}"
            parts.append(text)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = _pptx_text(slide.notes_slide.notes_text_frame._txBody,
                               {rid: rel.target_ref for rid, rel in slide.notes_slide.part.rels.items()
                                if rel.is_external}).strip()
            if notes:
                parts.append(f"Notes: {notes}")
        text = _tidy("\n".join(p for p in parts if p.strip()))
        if slide_title and not text:
            text = slide_title
        sections.append(Section([slide_title] if slide_title else [], number, text))
        title = title or slide_title
    return title, sections, len(prs.slides)


def _pptx_shapes(shapes):
    """Every shape of a slide, the shapes inside groups included, in reading order of the shape tree."""
    for shape in shapes:
        if hasattr(shape, "shapes"):  # a group shape
            yield from _pptx_shapes(shape.shapes)
        else:
            yield shape


_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"


def _pptx_text(tx_body, links: dict[str, str], bulleted: bool = False) -> str:
    """A text body's paragraphs with their line breaks, fields, and links as `label (url)` (a run's a:hlinkClick
    target from the slide's relationships; consecutive runs of one link are one label). Bulleted paragraphs (an
    explicit bullet, or by default in a content placeholder) start with '- ', numbered ones with '1. '."""
    paras = []
    numbers: dict[int, int] = {}
    for p in tx_body.iterchildren(_A + "p"):
        ppr = p.find(_A + "pPr")
        level = int(ppr.get("lvl", "0")) if ppr is not None and ppr.get("lvl", "0").isdigit() else 0
        if ppr is not None and ppr.find(_A + "buNone") is not None:
            marker = ""
        elif ppr is not None and ppr.find(_A + "buAutoNum") is not None:
            numbers = {lv: n for lv, n in numbers.items() if lv <= level}
            numbers[level] = numbers.get(level, 0) + 1
            marker = f"{numbers[level]}. "
        else:
            marker = "- " if bulleted or (ppr is not None and ppr.find(_A + "buChar") is not None) else ""
        out: list[str] = []
        link_label: list[str] = []
        link_rid = None

        def end_link():
            nonlocal link_rid
            if link_label:
                out.append(with_link("".join(link_label), links.get(link_rid)))
                link_label.clear()
            link_rid = None

        for c in p.iterchildren():
            if c.tag == _A + "br":
                end_link()
                out.append("\n")
            elif c.tag in (_A + "r", _A + "fld"):
                t = "".join(x.text or "" for x in c.iterchildren(_A + "t"))
                h = c.find(f"{_A}rPr/{_A}hlinkClick")
                rid = h.get(_R_ID) if h is not None else None
                if rid != link_rid:
                    end_link()
                if rid:
                    link_rid = rid
                    link_label.append(t)
                else:
                    out.append(t)
        end_link()
        text = "".join(out).replace("\v", "\n")
        paras.append("  " * min(level, 8) + marker + text if marker and text.strip() else text)
    return "\n".join(paras)


# --- HTML --------------------------------------------------------------------------------------------

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {"p", "div", "li", "pre", "blockquote", "tr", "td", "th", "dd", "dt", "section", "article", "br",
           "table", "ul", "ol", "figcaption", "header", "main", "footer", "aside", "form", "fieldset", "figure",
           "details", "summary", "address", "hr", "dl"}


def _parse_html(data: bytes, name: str, max_chars: int = DEFAULT_LIMITS.max_chars):
    from bs4 import BeautifulSoup, NavigableString, Comment
    soup = BeautifulSoup(_decode_bounded(data, max_chars), "lxml")
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav", "iframe"]):
        tag.decompose()
    title = _sensible_title(soup.title.get_text(" ", strip=True), name) if soup.title else None
    # Relative links resolve against the page's own address when it states an absolute one; else they are dropped.
    base = None
    for el, attr in ((soup.find("base", href=True), "href"), (soup.find("link", rel="canonical", href=True), "href"),
                     (soup.find("meta", property="og:url", content=True), "content")):
        if el is not None and link_target(el.get(attr)):
            base = el.get(attr)
            break
    # The page's main content when it marks one (<main>, else a single <article>): site chrome — banners, menus,
    # footers, sidebars — is what every page of a site repeats and no answer should quote.
    mains = soup.find_all("main")
    articles = soup.find_all("article")
    root = mains[0] if len(mains) == 1 else articles[0] if len(articles) == 1 else (soup.body or soup)
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buf: list[str] = []
    line: list[str] = []

    def end_line():
        if line:
            text = re.sub(r"\s+", " ", "".join(line)).strip()
            if text and not re.fullmatch(r"-|\d+\.", text):  # not an empty list item (an icon, an image)
                buf.append(text)
            line.clear()

    def flush():
        end_line()
        if buf:
            sections.append(Section([h for _, h in path], None, "\n".join(buf)))
            buf.clear()

    def inline_text(node) -> str:
        """Text of an inline element, its links as `label (url)`."""
        parts = []
        for d in node.children:
            if isinstance(d, Comment):
                continue
            if isinstance(d, NavigableString):
                parts.append(str(d))
            elif d.name == "a":
                parts.append(with_link(re.sub(r"\s+", " ", inline_text(d)), d.get("href"), base))
            elif d.name == "br":
                parts.append(" ")
            else:
                parts.append(inline_text(d))
        return "".join(parts)

    def walk(node):
        nonlocal path
        counter = 0
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                line.append(str(child))
                continue
            if child.name in _HEADINGS:
                flush()
                level = _HEADINGS[child.name]
                text = child.get_text(" ", strip=True)
                if text:
                    path = [(lv, h) for lv, h in path if lv < level] + [(level, text)]
                continue
            if child.name == "pre":
                end_line()
                code = child.get_text().strip("\n")
                if code.strip():
                    buf.append(f"```\n{code}\n```")
                continue
            if child.name == "table" and not _layout_table(child):
                end_line()
                rows = [[re.sub(r"\s+", " ", inline_text(c)).strip() for c in tr.find_all(["td", "th"], recursive=False)]
                        for tr in child.find_all("tr") if tr.find_parent("table") is child]
                table = _table_rows(rows)
                if table:
                    buf.append(table)
                continue
            if child.name == "a" and not child.find(_BLOCKS | set(_HEADINGS)):
                line.append(with_link(re.sub(r"\s+", " ", inline_text(child)), child.get("href"), base))
                continue
            block = child.name in _BLOCKS
            if block:
                end_line()
            if child.name == "li" and node.name in ("ul", "ol"):
                counter += 1
                line.append(f"{counter}. " if node.name == "ol" else "- ")
            walk(child)
            if block:
                end_line()

    walk(root)
    flush()
    h1s = [h.get_text(" ", strip=True) for h in soup.find_all("h1")]
    if title and len(h1s) == 1 and h1s[0] and title != h1s[0] and (
            re.match(re.escape(h1s[0]) + r"\s*[|\-–—·:»]", title) or re.search(r"[|\-–—·:«]\s*" + re.escape(h1s[0]) + "$", title)):
        title = h1s[0]  # "What is Haystack? | Haystack": the page's own heading, without the site's name
    if not title:
        title = next((h for s in sections for h in s.heading_path), None)
    return title, sections, None


_CELL_BLOCKS = ["table", "p", "div", "ul", "ol", "pre", "br", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"]


def _layout_table(table) -> bool:
    """A table used to lay out a page (old sites put the whole article in one cell) rather than to hold data: a
    cell holds paragraphs, lists, line breaks or another table, or runs long."""
    for cell in table.find_all(["td", "th"]):
        if cell.find(_CELL_BLOCKS) is not None or len(cell.get_text()) > 400:
            return True
    return False


# --- Markdown ----------------------------------------------------------------------------------------

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _parse_markdown(data: bytes, name: str, max_chars: int = DEFAULT_LIMITS.max_chars):
    text = _decode_bounded(data, max_chars)
    title = None
    # YAML front matter (Jekyll, Hugo, 11ty): take its title, keep it out of the text.
    fm = re.match(r"^---\s*\n(.*?)\n---\s*(?:\n|$)", text, re.S)
    front: dict[str, str] = {}
    if fm:
        front = _front_matter(fm.group(1))
        title = front.get("title") or None
        text = text[fm.end():]
        if not text.strip():
            # A redirect or stub page: its front matter is all it says ("moved to …"), which is still worth finding.
            said = [front.get(k) for k in ("title", "description", "summary") if front.get(k)]
            if front.get("redirect_to"):
                said.append(f"This page has moved to {front['redirect_to']}")
            text = ".\n".join(said)
    lines = text.splitlines()
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buf: list[str] = []
    in_fence = False
    first_heading = None

    def flush():
        body = _tidy("\n".join(buf))
        if body:
            sections.append(Section([h for _, h in path], None, body))
        buf.clear()

    i = 0
    while i < len(lines):
        ln = lines[i]
        if _FENCE.match(ln):
            in_fence = not in_fence
            buf.append(ln)
            i += 1
            continue
        heading = None
        if not in_fence:
            m = _ATX.match(ln)
            if m:
                heading = (len(m.group(1)), m.group(2))
            elif (i + 1 < len(lines) and ln.strip() and re.fullmatch(r"=+\s*|-{2,}\s*", lines[i + 1])
                  and not ln.lstrip().startswith(("-", "*", "|"))):
                heading = (1 if lines[i + 1].startswith("=") else 2, ln.strip())
                i += 1
        if heading:
            flush()
            level, htext = heading
            htext = re.sub(r"[*_`]", "", htext).strip()
            path = [(lv, h) for lv, h in path if lv < level] + [(level, htext)]
            if level == 1 and not title:
                title = htext
            first_heading = first_heading or htext
        else:
            buf.append(ln)
        i += 1
    flush()
    return title or first_heading, sections, None


def _front_matter(block: str) -> dict[str, str]:
    """Top-level scalar keys of a YAML front matter block, values on the key's line or folded onto the indented
    lines below it (`title:\n  Play 10 - Promote …`, `title: >-`); lists and nested maps are skipped."""
    out: dict[str, str] = {}
    key = None
    folded: list[str] = []

    def end():
        if key is not None and folded:
            out[key] = " ".join(folded).strip().strip("\"'")

    for ln in block.splitlines():
        m = re.match(r"^([A-Za-z_][\w-]*):[ \t]*(.*?)\s*$", ln)
        if m:
            end()
            key, folded = None, []
            value = m.group(2)
            if value in ("", ">", ">-", ">+", "|", "|-", "|+"):
                key = m.group(1)
            elif not value.startswith(("[", "{", "&", "*")):
                out[m.group(1)] = value.strip("\"'")
        elif key is not None and ln[:1] in (" ", "\t") and not ln.strip().startswith(("- ", "#")) and \
                not re.match(r"^\s+[\w-]+:(\s|$)", ln):
            folded.append(ln.strip())
        elif ln.strip():
            end()
            key, folded = None, []
    end()
    return out


# --- CSV and plain text ------------------------------------------------------------------------------

_CSV_ROWS_PER_SECTION = 100


def _parse_csv(data: bytes, name: str, max_chars: int = DEFAULT_LIMITS.max_chars):
    text = _decode_bounded(data, max_chars)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if name.lower().endswith(".tsv") else csv.excel
    try:  # newline="": a bare \r ends a row like \n does instead of breaking the reader
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), dialect) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise IngestError(f"malformed CSV ({exc})") from None
    if not rows:
        return None, [], None
    header, body = rows[0], rows[1:]
    sections = []
    # Each row as "column: value" pairs, so a retrieved chunk still says what its numbers mean.
    for start in range(0, max(len(body), 1), _CSV_ROWS_PER_SECTION):
        chunk = body[start:start + _CSV_ROWS_PER_SECTION]
        lines = ["; ".join(f"{h.strip() or f'column {j + 1}'}: {v.strip()}" for j, (h, v) in
                           enumerate(zip(header, row)) if v.strip()) for row in chunk]
        if not body:
            lines = [", ".join(header)]
        sections.append(Section([], None, "\n".join(lines)))
    return None, sections, None


def _parse_text(data: bytes, name: str, max_chars: int = DEFAULT_LIMITS.max_chars):
    return None, [Section([], None, _tidy(_decode_bounded(data, max_chars)))], None


def _decode_bounded(data: bytes, max_chars: int) -> str:
    text = decode_text(data)
    _check_chars(len(text), DocumentLimits(max_chars=max_chars))
    return text


# --- cheap pre-parse checks ----------------------------------------------------------------------------

_START_TAG = re.compile(rb"<[A-Za-z_]")
_OFFICE_XML = (".xml", ".rels")


def _check_office_package(data: bytes, fmt: str, limits: DocumentLimits) -> None:
    """Refuse DOCX/PPTX bombs before python-docx/python-pptx build a tree: the XML parts' declared sizes, then
    their real decompressed bytes and element count, streamed in 1 MiB blocks and stopped at the first limit."""
    label = fmt.upper()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if i.filename.lower().endswith(_OFFICE_XML)]
            declared = sum(i.file_size for i in infos)
            if declared > limits.max_office_xml_bytes:
                raise IngestError(f"{label} unpacks to {declared:,} bytes of XML, over the limit of "
                                  f"{limits.max_office_xml_bytes:,} (a decompression bomb or an oversized document)")
            total = elements = 0
            for info in infos:
                tail = b""
                with zf.open(info) as fh:
                    while True:
                        block = fh.read(1 << 20)
                        if not block:
                            break
                        total += len(block)
                        if total > limits.max_office_xml_bytes:
                            raise IngestError(f"{label} unpacks to more than {limits.max_office_xml_bytes:,} bytes "
                                              f"of XML (its zip headers understate the size)")
                        # a tag split across blocks is counted once: the tail carries at most one '<'+letter
                        window = tail + block
                        elements += len(_START_TAG.findall(window)) - len(_START_TAG.findall(tail))
                        tail = window[-1:]
                        if elements > limits.max_office_elements:
                            raise IngestError(f"{label} has more than {limits.max_office_elements:,} XML elements "
                                              f"(a decompression bomb or an oversized document)")
    except IngestError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, ValueError,
            zlib.error, RuntimeError) as exc:  # a damaged deflate stream, a member flagged as encrypted
        raise IngestError(f"corrupt or unreadable {label} ({exc})") from None


def _check_csv_shape(data: bytes, limits: DocumentLimits) -> None:
    """Rows (line breaks: an upper bound) and rows x columns (columns from the header line), from raw bytes."""
    rows = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if rows > limits.max_csv_rows:
        raise IngestError(f"CSV has {rows:,} rows, over the limit of {limits.max_csv_rows:,}; split it or load it "
                          f"into a database")
    first = data[:data.find(b"\n")] if b"\n" in data else data
    columns = max(first.count(sep) for sep in (b",", b";", b"\t", b"|")) + 1
    if rows * columns > limits.max_csv_cells:
        raise IngestError(f"CSV has {rows:,} rows x {columns:,} columns = {rows * columns:,} cells, over the limit "
                          f"of {limits.max_csv_cells:,}")


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
