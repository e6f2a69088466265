"""The answer to one request, as the pool hands it back.

Header values arrive from the HPACK decoder possibly still Huffman-coded
(``hpack_decode``): a value is decoded the first time someone reads it, so
a caller that looks only at the status (an APNs success) never pays for
decoding the ``apns-id`` the server echoed. The price: a value with bad
Huffman coding that nobody reads cannot fail the connection as RFC 7541
§5.2 asks; read, it decodes to U+FFFD.
"""

from __future__ import annotations

from collections.abc import Iterable

from pushgate.transport.hpack_decode import Field
from pushgate.transport.huffman import HuffmanError, huffman_decode_text


class Response:
    """Status, headers (lowercase names, no pseudo-headers, in order) and body."""

    __slots__ = ("_fields", "_headers", "body", "status")

    def __init__(self, status: int, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.status = status
        self.body = body
        self._headers: list[tuple[str, str]] | None = list(headers)
        self._fields: list[Field] | None = None

    @classmethod
    def from_fields(cls, status: int, fields: list[Field], body: bytes) -> Response:
        """From the decoder's ``(name, value octets, Huffman-coded)`` fields, decoded on demand."""
        response = cls.__new__(cls)
        response.status = status
        response.body = body
        response._headers = None
        response._fields = fields
        return response

    @property
    def headers(self) -> list[tuple[str, str]]:
        headers = self._headers
        if headers is None:
            assert self._fields is not None
            headers = self._headers = [(name, header_text(v, coded)) for name, v, coded in self._fields]
        return headers

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lowercase), or None."""
        if self._headers is None:
            assert self._fields is not None
            for key, value, coded in self._fields:
                if key == name:
                    return header_text(value, coded)
            return None
        for key, text in self._headers:
            if key == name:
                return text
        return None

    def field(self, name: str) -> Field | None:
        """The first ``(name, value octets, Huffman-coded)`` of header ``name``, not decoded:
        for a caller that keeps the value and may never read it (:func:`header_text` reads it)."""
        fields = self._fields
        if fields is None:
            text = self.header(name)
            return None if text is None else (name, text.encode("utf-8"), False)
        for found in fields:
            if found[0] == name:
                return found
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status, self.headers, self.body) == (other.status, other.headers, other.body)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaced

    def __repr__(self) -> str:
        return f"Response(status={self.status!r}, headers={self.headers!r}, body={self.body!r})"


def header_text(value: bytes, coded: bool) -> str:
    """A header value's text from its octets, Huffman-decoded if ``coded`` (see the module's note)."""
    if coded:
        try:
            text = huffman_decode_text(value)
        except HuffmanError:
            return "\ufffd"
        if text.isascii():  # the usual case: the octets were ASCII, so this is their UTF-8 text
            return text
        value = text.encode("latin-1")
    return value.decode("utf-8", "replace")
