"""Text helpers: header bytes read best-effort, HTML to text, and bounding by bytes."""

import codecs
import re
from html.parser import HTMLParser

# How the standard library's parsers hand over bytes that are not ASCII: each as a lone
# surrogate U+DC80..U+DCFF ("surrogateescape"). Any other lone surrogate is no text at all
# (a JSON "\ud83d" cut from its pair, say): it becomes U+FFFD.
_ESCAPED_OR_STRAY = re.compile("[\ud800-\udfff]")
_STRAY = re.compile("[\ud800-\udc7f\udd00-\udfff]")
_FALLBACK_CHARSET = "windows-1252"  # what unlabelled 8-bit mail mostly is; Latin-1 and more
_ASCII_PROBE = "Subject: Re: [x] +-~@=?<>"


def readable_header(value: str, charset: str | None = None) -> str:
    """A header value as text any JSON can carry, whatever bytes the header held.

    Raw 8-bit bytes (which the parsers hand over as surrogate escapes) are read again as
    UTF-8 when they are valid UTF-8 (RFC 6532 headers), else in the message's own
    ``charset`` when it reads them and reads ASCII as ASCII, else as windows-1252 with
    the few bytes it leaves undefined replaced by U+FFFD. Any other lone surrogate becomes
    U+FFFD. Values without either are returned as they are.
    """
    if value.isascii() or not _ESCAPED_OR_STRAY.search(value):
        return value
    raw = _STRAY.sub("\ufffd", value).encode("utf-8", "surrogateescape")
    for candidate in ("utf-8", charset):
        if candidate and _reads_ascii_as_ascii(candidate):
            try:
                return raw.decode(candidate)
            except UnicodeDecodeError:
                continue
    return raw.decode(_FALLBACK_CHARSET, errors="replace")


def _reads_ascii_as_ascii(charset: str) -> bool:
    """Whether a charset exists and leaves ASCII alone (not UTF-16, UTF-7 or an escape
    codec, which would turn a header's ASCII into something else)."""
    try:
        codec = codecs.lookup(charset)
        return codec.decode(_ASCII_PROBE.encode("ascii"))[0] == _ASCII_PROBE
    except (LookupError, UnicodeDecodeError, ValueError):
        return False


def without_stray_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (text from JSON may hold
    halves of a pair; no UTF-8 can carry them)."""
    if text.isascii():
        return text
    return _ESCAPED_OR_STRAY.sub("\ufffd", text)


_BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
_HIDDEN = {"script", "style", "head", "title"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden:
            self._hidden -= 1
        elif tag in _BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: tags, scripts and styles removed."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.chunks).splitlines())
    return "\n".join(line for line in lines if line)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``max_bytes`` (a lone
    surrogate, which UTF-8 cannot carry, counts as U+FFFD)."""
    text = without_stray_surrogates(text)
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")
