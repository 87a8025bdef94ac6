"""engine.documents: saved web pages give their article, not the page around it; and the engine
never reaches up into the app. The pages are built here, each with the same three-paragraph
article inside a different layout and the boilerplate a saved news page carries. No Qt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine.documents import html_to_text, read_document
from engine.documents import web as web_module
from engine.documents.web import visible_text

REPO = Path(__file__).resolve().parents[1]

TITLE = "Floods close schools in Cologne"
PARAGRAPHS = [
    "Rivers in Cologne rose three metres overnight after two days of heavy rain, the city's flood "
    "office said on Tuesday, and the riverside promenade of the old town was closed to traffic.",
    "Schools in four districts stayed shut, and the fire brigade pumped water out of more than two "
    "hundred cellars. Officials expected the Rhine to peak on Wednesday afternoon.",
    "The mayor asked residents near the river to move cars and valuables to higher ground, and "
    "promised emergency payments to shop owners whose stock was damaged by the water.",
]
# Each boilerplate phrase a page below carries; none may reach the summarizer.
BOILERPLATE = [
    "We use cookies",
    "Accept all cookies",
    "Share on Facebook",
    "Share on X",
    "Related stories",
    "Storm warning issued for the north coast",
    "How to protect your home from flooding",
    "231 comments",
    "stay safe everyone",
    "should have built better flood walls",
    "Sign up for our newsletter",
    "best stories every morning",
    "Home",
    "Sport",
    "All rights reserved",
]

COOKIES = (
    "<div id='cookie-banner' class='cookie-consent'><p>We use cookies to improve your experience "
    "and to show you personalised advertising. By continuing you agree to our cookie policy.</p>"
    "<button>Accept all cookies</button> <button>Manage settings</button></div>"
)
NAV = (
    "<nav class='menu'><ul><li><a href='/'>Home</a></li><li><a href='/world'>World</a></li>"
    "<li><a href='/sport'>Sport</a></li><li><a href='/culture'>Culture</a></li></ul></nav>"
)
SHARE = (
    "<div class='share-buttons'><a href='#fb'>Share on Facebook</a> <a href='#x'>Share on X</a> "
    "<a href='#mail'>Email</a></div>"
)
RELATED = (
    "<h2>Related stories</h2><ul>"
    "<li><a href='/a'>Storm warning issued for the north coast as winds pick up overnight</a></li>"
    "<li><a href='/b'>How to protect your home from flooding this winter season</a></li>"
    "<li><a href='/c'>Rail lines along the Rhine reopen after last month's landslide</a></li></ul>"
)
COMMENTS = (
    "<h2>231 comments</h2>"
    "<div class='comment'><p class='author'>riverwatcher</p><p>Terrible news, stay safe everyone "
    "in the old town tonight, and check on your elderly neighbours if you can.</p></div>"
    "<div class='comment'><p class='author'>k_meyer</p><p>The city should have built better flood "
    "walls years ago; this was predictable after the last two winters and nobody listened.</p></div>"
)
NEWSLETTER = (
    "<h3>Sign up for our newsletter</h3><p>Get the best stories every morning in your inbox, free. "
    "Unsubscribe at any time.</p><form><input type='email'><button>Subscribe</button></form>"
)
FOOTER = "<p>© 2024 The Daily Gazette. All rights reserved.</p>"
BODY = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
HEAD = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
    f"<title>{TITLE} | The Daily Gazette</title><style>.x {{ color: red }}</style>"
    "<script>window.dataLayer = [];</script></head>"
)


def semantic() -> str:
    """HTML5 landmarks: header/nav, main/article, aside, a comments section, footer."""
    return (
        f"{HEAD}<body>{COOKIES}<header>{NAV}</header><main><article><h1>{TITLE}</h1>"
        f"<div class='byline'>By Anna Weber, 12 March 2024</div>{SHARE}{BODY}{SHARE}</article>"
        f"<aside class='related'>{RELATED}</aside><section id='comments' class='comments'>"
        f"{COMMENTS}</section><div class='newsletter'>{NEWSLETTER}</div></main>"
        f"<footer>{FOOTER}</footer></body></html>"
    )


def div_soup() -> str:
    """No landmarks at all: nested divs whose classes alone say what they hold."""
    return (
        f"{HEAD}<body><div id='page'>{COOKIES}<div class='top-bar'><div class='links'>"
        f"{NAV.replace('nav', 'div')}</div></div><div id='wrap'><div class='col-main'>"
        f"<div class='headline'><h1>{TITLE}</h1></div><div class='social'>{SHARE}</div>"
        f"<div class='story-body'>{BODY}</div><div class='promo'>{NEWSLETTER}</div>"
        f"<div class='more'>{RELATED}</div><div id='comment-list'>{COMMENTS}</div></div></div>"
        f"<div class='bottom'>{FOOTER}</div></div></body></html>"
    )


def blog() -> str:
    """A blog theme: the sidebar first, share buttons and the newsletter pitch inside the entry,
    then related posts and an ordered list of comments."""
    comments = COMMENTS.replace("<div class='comment'>", "<li class='comment'>").replace(
        "</div>", "</li>"
    )
    return (
        f"{HEAD}<body class='single-post'>{COOKIES}<div id='sidebar' class='widget-area'>"
        f"<div class='widget'>{NEWSLETTER}</div><div class='widget'>{NAV}</div></div>"
        f"<div id='content'><div class='post hentry'><h1 class='entry-title'>{TITLE}</h1>"
        f"<div class='entry-meta'>Posted on 12 March 2024 by Anna</div><div class='entry-content'>"
        f"{BODY}<div class='sharedaddy'>{SHARE}</div></div><div class='related-posts'>{RELATED}"
        f"</div></div><div id='comments'><ol class='commentlist'>{comments}</ol></div></div>"
        f"<div id='footer'>{FOOTER}</div></body></html>"
    )


def microdata() -> str:
    """schema.org markup, with the newsletter pitch and a related link set between the article's
    paragraphs, and the comments loaded into a widget after it."""
    first, second, third = (f"<p>{p}</p>" for p in PARAGRAPHS)
    return (
        f"{HEAD}<body>{COOKIES}<div class='header'>{NAV}</div><div itemscope "
        f"itemtype='https://schema.org/NewsArticle'><h1 itemprop='headline'>{TITLE}</h1>{SHARE}"
        f"<div itemprop='articleBody'>{first}<div class='inline-promo newsletter'>{NEWSLETTER}"
        f"</div>{second}<aside class='related-inline'>{RELATED}</aside>{third}</div></div>"
        f"<div id='disqus_thread' class='comments'>{COMMENTS}</div><div class='footer'>{FOOTER}"
        f"</div></body></html>"
    )


LAYOUTS = {"semantic": semantic, "div soup": div_soup, "blog": blog, "microdata": microdata}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_saved_page_gives_its_article_and_nothing_else(tmp_path, layout):
    page = tmp_path / "article.html"
    page.write_text(LAYOUTS[layout](), encoding="utf-8")
    text = read_document(page)
    blocks = text.split("\n\n")
    assert blocks[0] == TITLE  # the headline, not "… | The Daily Gazette"
    for paragraph in PARAGRAPHS:
        assert paragraph in blocks, (paragraph, text)
    for phrase in BOILERPLATE:
        assert phrase not in text, (phrase, text)
    assert text.count(PARAGRAPHS[0]) == 1 and text.count(TITLE) == 1


def test_the_page_title_comes_first_when_the_article_has_no_headline():
    page = semantic().replace(f"<h1>{TITLE}</h1>", "")
    text = html_to_text(page)
    assert text.split("\n\n")[:2] == [TITLE, PARAGRAPHS[0]]


def test_a_page_without_an_article_gives_its_visible_text():
    """A short note or a list is no article: all its visible text is read, as before."""
    page = (
        "<html><head><title>Shopping</title></head><body><nav><a href='/'>Home</a></nav>"
        "<ul><li>Milk</li><li>Bread</li></ul><p>Back at <b>six</b>.</p></body></html>"
    )
    text = html_to_text(page)
    assert text == visible_text(page)
    assert all(word in text for word in ("Milk", "Bread", "Back at six.")) and "Home" not in text


def test_the_visible_text_is_the_fallback_when_the_extractor_finds_nothing(monkeypatch):
    import trafilatura

    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *a, **k: None)
    text = html_to_text(semantic())
    assert PARAGRAPHS[0] in text and "Related stories" in text  # the whole page: nothing dropped
    assert "Home" not in text  # navigation is still left out


def test_a_page_the_extractor_fails_on_is_still_read(monkeypatch):
    import trafilatura

    def broken(*args, **kwargs):
        raise ValueError("lxml gave up")

    monkeypatch.setattr(trafilatura, "bare_extraction", broken)
    assert PARAGRAPHS[2] in html_to_text(semantic())


def test_article_lists_tables_and_line_breaks_keep_their_lines():
    rows = "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in (("Day", "Level"), ("Mon", "6.1 m")))
    page = (
        f"{HEAD}<body>{NAV}<article><h1>{TITLE}</h1>{BODY}<p>Closed roads:<br>Rheinufer<br>"
        f"Frankenwerft</p><ul><li>Deutz</li><li>Porz</li></ul><table>{rows}</table></article>"
        f"<footer>{FOOTER}</footer></body></html>"
    )
    blocks = html_to_text(page).split("\n\n")
    assert "Closed roads:\nRheinufer\nFrankenwerft" in blocks
    assert "Deutz\nPorz" in blocks
    assert "Day | Level\nMon | 6.1 m" in blocks


def test_the_extractor_is_imported_only_for_web_pages():
    """The engine and the CLI start without the readers' packages: they load on first use."""
    source = Path(web_module.__file__).read_text(encoding="utf-8")
    top_level = [node for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = {alias.name for node in top_level for alias in node.names}
    names |= {node.module for node in top_level if isinstance(node, ast.ImportFrom)}
    assert "trafilatura" not in names


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
            "import_module",
            "__import__",
        ):
            modules.update(arg.value for arg in node.args if isinstance(arg, ast.Constant))
    return modules


def test_nothing_in_the_engine_imports_the_app():
    """engine/ is a library the app uses, never the reverse: no import of pegasus_desktop, at the
    top of a module or inside a function, anywhere under engine/."""
    sources = sorted((REPO / "engine").rglob("*.py"))
    assert len(sources) > 20  # the scan found the engine
    offenders = {
        str(path.relative_to(REPO)): sorted(m for m in _imported_modules(path) if m.split(".")[0] == "pegasus_desktop")
        for path in sources
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    """The scan above would pass vacuously if it missed lazy imports: check it on one."""
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from pegasus_desktop.documents import read_document\n"
        "    import importlib\n    importlib.import_module('pegasus_desktop.app')\n"
    )
    assert {"pegasus_desktop.documents", "pegasus_desktop.app"} <= _imported_modules(module)
