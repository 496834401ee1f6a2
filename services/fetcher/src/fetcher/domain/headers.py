"""Reading a parsed message's headers as text, whatever bytes they hold.

The legacy parser (``policy.compat32``) hands over 8-bit header bytes as surrogate
escapes, which no JSON can carry; every header value the core reads comes through here
and is made readable (``readable_header``) in the message's own charset when it is not
UTF-8. Only non-ASCII values pay for it.
"""

from email.message import Message

from fetcher.domain.text import readable_header


def message_charset(message: Message) -> str | None:
    """The charset the message's Content-Type names, if it names a readable one."""
    try:
        charset = message.get_content_charset()
    except (LookupError, UnicodeError, ValueError, TypeError, AttributeError):
        return None
    return charset if charset and charset.isascii() else None


class Headers:
    """A parsed message's headers by lower-cased name, indexed in one pass (the core
    reads about twenty of them), each value made readable when it is read."""

    def __init__(self, message: Message) -> None:
        self._message = message
        self._by_name: dict[str, list[str]] = {}
        for key, value in message.raw_items():
            self._by_name.setdefault(key.lower(), []).append(str(value))

    def readable(self, value: str) -> str:
        """A value of this message (a header, a parameter) as readable text."""
        return value if value.isascii() else readable_header(value, message_charset(self._message))

    def values(self, name: str) -> list[str]:
        """Every value of a header (``name`` lower-cased), folded as they came, readable."""
        return [self.readable(value) for value in self._by_name.get(name, ())]

    def first(self, name: str) -> str:
        """A header's first value, unfolded and readable, or '' when it is absent."""
        values = self._by_name.get(name)
        return " ".join(self.readable(values[0]).split()) if values else ""
