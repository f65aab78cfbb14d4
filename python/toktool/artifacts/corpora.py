"""Text corpora from files this machine already has.

:func:`stdlib_corpus`: the CPython stdlib's ``*.py`` sources.
:func:`multilingual_corpus`: Debian's "Debian Reference" guide in the
:data:`LANGUAGES`, its installed HTML pages turned into plain text (cached).
:func:`manpage_corpus`: Debian's translated manual pages in the same languages, their roff
sources turned into plain text (cached): other text in the same languages, for checks that
nothing trained on the guide is only the guide's own words.
"""

from __future__ import annotations

import gzip
import html.parser
import pathlib
import re
import sysconfig
from collections.abc import Callable, Iterable

from toktool.artifacts.cache import CONVERTER_VERSION, INSTALL_HINT, atomic_write, cache_dir, fingerprint
from toktool.errors import ArtifactError

__all__ = ["LANGUAGES", "manpage_corpus", "multilingual_corpus", "stdlib_corpus"]

#: Languages of :func:`multilingual_corpus` (Debian package suffixes).
LANGUAGES: tuple[str, ...] = ("en", "de", "es", "fr", "id", "it", "ja", "pt", "zh-cn")


def _stdlib_files() -> list[pathlib.Path]:
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "__pycache__"}
    files = [
        p
        for p in root.rglob("*.py")
        if p.is_file() and not skip.intersection(p.relative_to(root).parts[:-1])
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def stdlib_corpus(max_bytes: int | None = None) -> list[str]:
    """Texts of the CPython stdlib ``*.py`` files on this machine.

    Files come from ``sysconfig.get_paths()["stdlib"]`` (recursively, without
    ``site-packages``), sorted by relative path, so the result is deterministic
    for a given Python installation.  Files that are not valid UTF-8 are
    skipped; texts are returned exactly as stored (newlines untouched).  With
    ``max_bytes``, texts are taken in order until their UTF-8 size reaches
    ``max_bytes``; the last one is cut (at a character boundary) to fit.
    """
    texts: list[str] = []
    total = 0
    for path in _stdlib_files():
        if max_bytes is not None and total >= max_bytes:
            break
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if max_bytes is not None and total + len(raw) > max_bytes:
            text = raw[: max_bytes - total].decode("utf-8", errors="ignore")
            raw = text.encode("utf-8")
        if text:
            texts.append(text)
            total += len(raw)
    return texts


_DEBIAN_REFERENCE_DIR = pathlib.Path("/usr/share/debian-reference")
# Document order of the HTML pages in each debian-reference-LANG package.
_DEBIAN_REFERENCE_PAGES = ("index", "pr01", *(f"ch{i:02d}" for i in range(1, 13)), "apa")


class _TextExtractor(html.parser.HTMLParser):
    """Plain text of an XHTML page.

    Drops head/script/style and DocBook navigation bars; each block element
    (paragraph, heading, list item, table cell, ...) becomes one line with its
    whitespace collapsed; ``<pre>`` blocks are kept verbatim.
    """

    _BLOCK = frozenset(
        "address article aside blockquote body br caption dd div dl dt figcaption figure footer "
        "h1 h2 h3 h4 h5 h6 header hr li ol p pre section table tbody td tfoot th thead tr ul".split()
    )
    _SKIP = frozenset({"head", "script", "style"})
    _VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._blocks: list[str] = []
        self._para: list[str] = []
        self._pre: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, starts a skipped region)
        self._skip_depth = 0
        self._pre_depth = 0

    def _flush(self) -> None:
        text = " ".join("".join(self._para).split())
        if text:
            self._blocks.append(text)
        self._para.clear()

    def _line_break(self) -> None:
        if self._pre_depth:
            self._pre.append("\n")
        else:
            self._flush()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._VOID:
            if tag in ("br", "hr"):
                self._line_break()
            return
        classes = (dict(attrs).get("class") or "").split()
        skipped = tag in self._SKIP or "navheader" in classes or "navfooter" in classes
        self._stack.append((tag, skipped))
        self._skip_depth += skipped
        if tag in self._BLOCK and not self._pre_depth:
            self._flush()
        if tag == "pre":
            self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr"):
            self._line_break()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._VOID or all(t != tag for t, _ in self._stack):
            return
        while self._stack:
            open_tag, skipped = self._stack.pop()
            self._skip_depth -= skipped
            if open_tag == "pre":
                self._pre_depth -= 1
                if not self._pre_depth:
                    text = "".join(self._pre).strip("\n").rstrip()
                    if text.strip():
                        self._blocks.append(text)
                    self._pre.clear()
            elif open_tag in self._BLOCK and not self._pre_depth:
                self._flush()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        (self._pre if self._pre_depth else self._para).append(data)

    def text(self) -> str:
        self._flush()
        return "\n".join(self._blocks) + "\n" if self._blocks else ""


def _html_to_text(pages: Iterable[str]) -> str:
    parts = []
    for page in pages:
        parser = _TextExtractor()
        parser.feed(page)
        parser.close()
        parts.append(parser.text())
    return "\n".join(parts)


def _debian_reference_text(lang: str) -> str:
    files = [_DEBIAN_REFERENCE_DIR / f"{page}.{lang}.html" for page in _DEBIAN_REFERENCE_PAGES]
    present = [f for f in files if f.is_file()]
    if not present:
        raise ArtifactError(
            f"Debian package debian-reference-{lang} is not installed "
            f"(`apt-get install --no-install-recommends debian-reference-{lang}`; {INSTALL_HINT})"
        )
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in present]
    return _cached_text(f"debian-reference-{lang}", stats, lambda: _html_to_text(
        f.read_text(encoding="utf-8") for f in present))


def _cached_text(name: str, stats: list[tuple[str, int, int]], convert: Callable[[], str]) -> str:
    """The text ``convert()`` makes from source files whose (name, size, mtime) are ``stats``,
    cached in ``cache_dir()/corpus`` under ``name`` and a fingerprint of them and the
    converters' version."""
    target = cache_dir() / "corpus" / f"{name}-{fingerprint(CONVERTER_VERSION, stats)}.txt"
    if target.is_file():
        return target.read_text(encoding="utf-8")
    text = convert()
    atomic_write(target, text.encode("utf-8"))
    return text


def multilingual_corpus() -> dict[str, str]:
    """Language code -> plain text of Debian's "Debian Reference" guide in that language.

    Languages: en, de, es, fr, id, it, ja, pt, zh-cn (Debian packages
    ``debian-reference-LANG``).  The installed HTML pages are converted to
    text with the stdlib :mod:`html.parser` (head, scripts and navigation
    bars dropped, ``<pre>`` blocks kept verbatim, other whitespace collapsed)
    and cached under ``cache_dir()/corpus``.  Raises :class:`ArtifactError`
    naming the apt package if one is missing.
    """
    return {lang: _debian_reference_text(lang) for lang in LANGUAGES}


#: Debian package and directory of each language's manual pages (Portuguese: the Brazilian
#: translation, the only one Debian ships; Chinese: the simplified one).
MANPAGE_PACKAGES: dict[str, tuple[str, str]] = {
    "en": ("manpages", "/usr/share/man/man"),
    "de": ("manpages-de", "/usr/share/man/de/"),
    "es": ("manpages-es", "/usr/share/man/es/"),
    "fr": ("manpages-fr", "/usr/share/man/fr/"),
    "id": ("manpages-id", "/usr/share/man/id/"),
    "it": ("manpages-it", "/usr/share/man/it/"),
    "ja": ("manpages-ja", "/usr/share/man/ja/"),
    "pt": ("manpages-pt-br", "/usr/share/man/pt_BR/"),
    "zh-cn": ("manpages-zh", "/usr/share/man/zh_CN/"),
}
_DPKG_INFO = pathlib.Path("/var/lib/dpkg/info")
# roff escapes that stand for a character; the others (fonts, sizes, strings, motions) print
# nothing
_ROFF_CHARS = {"-": "-", "e": "\\", "~": " ", " ": " ", "0": " ", "(em": "\u2014",
               "(en": "\u2013", "(aq": "'", "(dq": '"', "(lq": "\u201c", "(rq": "\u201d",
               "(oq": "\u2018", "(cq": "\u2019", "(bu": "\u2022", "(co": "\u00a9",
               "(mi": "-", "(hy": "-", "(ti": "~", "(ha": "^", "(rs": "\\", "(at": "@",
               "(sh": "#", "(Fo": "\u00ab", "(Fc": "\u00bb", "(pl": "+", "(eq": "="}
_ROFF_ESCAPE = re.compile(
    r"\\(?:f(?:\[[^\]]*\]|\(..|.)|s[-+]?(?:\d+|\(\d\d|\[[^\]]*\])|\*(?:\[[^\]]*\]|\(..|.)"
    r"|[nk](?:\[[^\]]*\]|\(..|.)|[hvwlLHS]'[^']*'|\[([^\]]*)\]|(\(..)|(.))")
# macros whose arguments are text (font alternation macros join theirs without spaces)
# pages written in BSD's mdoc macros (.Dd, .Sh, .Fl, ...), which the converter does not know
_MDOC = re.compile(r"^\.(?:Dd|Sh)\b", re.M)
_TEXT_MACROS = frozenset("SH SS B I SM SB TP IP HP PP LP P".split())
_JOINED_MACROS = frozenset("BR RB BI IB IR RI".split())


def _roff_escapes(line: str) -> str:
    def one(m: re.Match[str]) -> str:
        named, two, single = m.group(1), m.group(2), m.group(3)
        if named is not None:
            return _ROFF_CHARS.get("(" + named, "")
        if two is not None:
            return _ROFF_CHARS.get(two, "")
        if single is not None:
            return _ROFF_CHARS.get(single, "")
        return ""

    return _ROFF_ESCAPE.sub(one, line)


def _macro_args(rest: str) -> list[str]:
    """A macro line's arguments: words, or double-quoted strings."""
    return [quoted or word for quoted, word in re.findall(r'"([^"]*)"|(\S+)', rest)]


def _roff_to_text(source: str) -> str:
    """Plain text of a man page's roff source: the words it prints, one paragraph a line
    (``.nf`` blocks kept line by line), without its macros, comments and font changes."""
    blocks: list[str] = []
    para: list[str] = []
    verbatim = False

    def flush() -> None:
        text = " ".join(" ".join(para).split())
        if text:
            blocks.append(text)
        para.clear()

    for raw in source.splitlines():
        if raw.startswith((".\\\"", "'\\\"", "\\\"")):  # comments: .\" '\" \"
            continue
        line = raw.replace("\\\\", "\x00")  # an escaped backslash survives escape removal
        if line[:1] in (".", "'"):
            name, _, rest = line[1:].strip().partition(" ")
            if name in _JOINED_MACROS:
                para.append("".join(_roff_escapes(a) for a in _macro_args(rest)))
            elif name in _TEXT_MACROS:
                if name in ("SH", "SS", "PP", "LP", "P", "TP", "IP", "HP"):
                    flush()
                args = _macro_args(rest)
                if name in ("IP", "HP", "TP"):
                    args = args[:1]  # a tag, then an indent
                para.append(" ".join(_roff_escapes(a) for a in args))
                if name in ("SH", "SS"):
                    flush()
            elif name == "nf":
                flush()
                verbatim = True
            elif name == "fi":
                verbatim = False
            elif name in ("br", "sp", "RS", "RE", "in", "ti"):
                flush()
            continue
        text = _roff_escapes(line).replace("\x00", "\\")
        if verbatim:
            if text.strip():
                blocks.append(text.rstrip())
        elif not text.strip():
            flush()
        else:
            para.append(text)
    flush()
    return "\n".join(blocks) + "\n" if blocks else ""


def _package_pages(package: str, prefix: str) -> list[pathlib.Path]:
    """The gzipped pages a Debian package installed under ``prefix``, sorted (links and
    ``.so`` redirections are left out where they are read)."""
    for name in (f"{package}.list", f"{package}:all.list"):
        listing = _DPKG_INFO / name
        if listing.is_file():
            paths = [pathlib.Path(p) for p in listing.read_text().splitlines()
                     if p.startswith(prefix) and p.endswith(".gz")]
            pages = sorted(p for p in paths if p.is_file() and not p.is_symlink())
            if paths and not pages:
                raise ArtifactError(
                    f"Debian package {package} is installed but its pages under {prefix} are "
                    "not on disk (a dpkg path-exclude for /usr/share/man, as in slim images?)")
            return pages
    return []


def _manpage_text(lang: str) -> str:
    package, prefix = MANPAGE_PACKAGES[lang]
    pages = _package_pages(package, prefix)
    if not pages:
        raise ArtifactError(
            f"Debian package {package} is not installed (`apt-get install "
            f"--no-install-recommends {package}`; {INSTALL_HINT})")
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in pages]
    return _cached_text(f"manpages-{lang}", stats, lambda: _pages_to_text(pages))


def _pages_to_text(pages: list[pathlib.Path]) -> str:
    parts = []
    for page in pages:
        try:
            source = gzip.decompress(page.read_bytes()).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the few pages in a legacy encoding
        if source.lstrip().startswith(".so ") or _MDOC.search(source):
            continue  # a redirection to another page; a page in BSD's mdoc macros
        text = _roff_to_text(source)
        if text:
            parts.append(text)
    return "\n".join(parts)


def manpage_corpus(languages: Iterable[str] = LANGUAGES) -> dict[str, str]:
    """Language code -> plain text of Debian's manual pages in that language.

    Each language's pages come from one Debian package (:data:`MANPAGE_PACKAGES`: ``manpages``
    for English, ``manpages-LANG`` for the others), read in sorted path order from the
    package's file list, so the text depends only on the package's version. Roff sources are
    turned into text by a small converter of the man(7) macros: the words a page prints, one
    paragraph a line, without macros, comments and font changes; redirections (``.so``) and
    the few pages in BSD's mdoc macros are left out. Cached under
    ``cache_dir()/corpus``; raises :class:`ArtifactError` naming the apt package if one is
    missing.
    """
    return {lang: _manpage_text(lang) for lang in languages}
