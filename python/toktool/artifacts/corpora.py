"""Text corpora from files this machine already has.

:func:`stdlib_corpus`: the CPython stdlib's ``*.py`` sources.
:func:`multilingual_corpus`: Debian's "Debian Reference" guide in the
:data:`LANGUAGES`, its installed HTML pages turned into plain text (cached).
"""

from __future__ import annotations

import html.parser
import pathlib
import sysconfig
from collections.abc import Iterable

from toktool.artifacts.cache import CONVERTER_VERSION, INSTALL_HINT, atomic_write, cache_dir, fingerprint
from toktool.errors import ArtifactError

__all__ = ["LANGUAGES", "multilingual_corpus", "stdlib_corpus"]

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
    target = cache_dir() / "corpus" / f"debian-reference-{lang}-{fingerprint(CONVERTER_VERSION, stats)}.txt"
    if target.is_file():
        return target.read_text(encoding="utf-8")
    text = _html_to_text(f.read_text(encoding="utf-8") for f in present)
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
