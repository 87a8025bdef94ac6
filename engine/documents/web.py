"""A web page's text: its main article when one is found, else all its visible text.

The article (its title and body, without menus, cookie banners, share buttons, related links,
comments or newsletter pitches) comes from trafilatura (the ``documents`` extra, imported when a
page is read). A page it finds no article in (a short note, a list, a page with no prose: under
``MIN_ARTICLE_CHARS``) gives its whole visible text instead, read by the standard library's
``HTMLParser``: no tags, scripts, styles or navigation, entities decoded. Knows nothing of files or encodings: it takes
text.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

from engine.documents.text import tidy

log = logging.getLogger(__name__)


# Less article than this is no article: trafilatura's own threshold (MIN_EXTRACTED_SIZE), under
# which it distrusts what it found and rescues it with the whole page. A short note or list gives
# a sliver of itself as its "article"; its visible text is the better reading, and has little
# boilerplate to drop.
MIN_ARTICLE_CHARS = 250


def html_to_text(html: str) -> str:
    """The main article of a page (title, then paragraphs), or its visible text when none."""
    article = article_text(html)
    return article if len(article) >= MIN_ARTICLE_CHARS else visible_text(html)


def article_text(html: str) -> str:
    """The page's main article as trafilatura finds it, title first; "" when it finds none."""
    import trafilatura

    # favor_precision: boilerplate summarized as if it were the article does more harm than a
    # paragraph missed; it also keeps trafilatura from "rescuing" a short page with its own
    # whole-page baseline, whose text breaks lines at every <b>: visible_text does that better.
    try:
        document = trafilatura.bare_extraction(
            html,
            favor_precision=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            with_metadata=True,
            deduplicate=False,
        )
    except Exception:  # a page that trips the extractor is still a page: read its visible text
        log.warning("trafilatura failed on a page; reading its visible text", exc_info=True)
        return ""
    if document is None or document.body is None:
        return ""
    blocks = [block for block in map(_block_text, document.body) if block]
    if not blocks:
        return ""
    title = re.sub(r"\s+", " ", document.title or "").strip()
    if title and blocks[0] != title:
        blocks.insert(0, title)
    return tidy("\n\n".join(blocks))


def _block_text(element) -> str:
    """One of trafilatura's body elements (p, head, list, quote, table…) as lines of text."""
    if element.tag == "list":
        return "\n".join(filter(None, (_inline_text(item) for item in element.iter("item"))))
    if element.tag == "table":
        rows = (
            " | ".join(_inline_text(cell) for cell in row.iter("cell")) for row in element.iter("row")
        )
        return "\n".join(row for row in rows if row.strip(" |"))
    return _inline_text(element)


def _inline_text(element) -> str:
    """An element's words, spaces collapsed, with trafilatura's line breaks (<lb/>) kept."""
    parts: list[str] = []

    def walk(node) -> None:
        if node.tag == "lb":
            parts.append("\n")
        elif node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if node.tag in ("p", "item", "head", "list") and node is not element:
            parts.append("\n")

    walk(element)
    lines = (re.sub(r"\s+", " ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg", "nav", "footer"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "tr",
            "table",
            "section",
            "article",
            "header",
            "blockquote",
            "pre",
            "hr",
            "dd",
            "dt",
            "figcaption",
            "title",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skipping += 1
        if tag in self._BLOCK:
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6") else "\n")

    def handle_startendtag(self, tag, attrs):
        if tag in ("br", "hr"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP and self._skipping:
            self._skipping -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def visible_text(html: str) -> str:
    """The visible text of a page: no tags, scripts, styles or navigation; entities decoded."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    body = tidy("\n".join(lines))
    return body or parser.title.strip()

