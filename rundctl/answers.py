"""What comes back over HTTP, read without trusting it: Retry-After, Graph's error envelope,
JSON media types, origins and ``@odata.nextLink``, and bodies decoded (gzip, deflate) under
a size limit. Pure functions and small decoders: no session, no requests import.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from rundctl import jsonio
from rundctl.errors import ApiErrorInfo, BadResponse, InvalidInput, SecurityRefused
from rundctl.redact import safe_message

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # after decoding (gzip/deflate)
ACCEPT_ENCODING = "gzip, deflate"
_READ_CHUNK = 65536


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Retry-After (seconds or HTTP date), then retry-after-ms, x-ms-retry-after-ms."""
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        try:
            seconds = float(value)
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            reference = time.time() if now is None else now
            return max(0.0, when.timestamp() - reference)
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                millis = float(value.strip())
            except ValueError:
                continue
            if math.isfinite(millis) and millis >= 0:
                return millis / 1000.0
    return None


def parse_error(status: int, headers: Mapping[str, str], raw: bytes) -> ApiErrorInfo:
    """The Graph error envelope, tolerant of anything else a proxy may have answered."""
    info = ApiErrorInfo(
        status=status,
        request_id=headers.get("request-id"),
        client_request_id=headers.get("client-request-id"),
        date=headers.get("Date"),
    )
    try:  # the one strict reader: no RecursionError, no NaN, no lone surrogate gets through
        doc = jsonio.loads_service(raw) if raw.strip(b" \t\r\n") else None
    except InvalidInput:
        doc = None
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        info.code = code if isinstance(code, str) else None
        info.message = message if isinstance(message, str) else None
        inner = error.get("innerError") or error.get("innererror")
        if isinstance(inner, dict):
            info.request_id = info.request_id or _str_or_none(inner.get("request-id"))
            info.client_request_id = info.client_request_id or _str_or_none(
                inner.get("client-request-id")
            )
        details = error.get("details")
        if isinstance(details, list):
            for d in details[:50]:
                if isinstance(d, dict) and isinstance(d.get("message"), str):
                    target = d.get("target")
                    prefix = f"{target}: " if isinstance(target, str) and target else ""
                    text = d["message"]
                    info.details.append(safe_message(text if prefix in text else prefix + text))
    elif raw:
        snippet = raw[:200].decode("utf-8", "replace").strip()
        info.message = snippet or None
    if info.message:
        info.message = safe_message(info.message)
    if info.code:
        info.code = safe_message(info.code)
    return info


def json_media_type(content_type: str | None) -> bool:
    """True when a Content-Type names JSON (``application/json``, ``text/json``, ``*+json``),
    or is missing: such a body is read as JSON."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


_DEFAULT_PORTS = {"https": 443, "http": 80}
# [user-info@] then a bracketed IP literal or a plain host, then an optional :port
_NETLOC = r"(?:[^@/?#\s]*@)?(?:\[[0-9A-Za-z:.%_~-]+\]|[^\[\]:@/?#\s]+)(?::[0-9]*)?"


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an absolute http(s) URL, host normalised (lower case, IP
    literals in their compressed form); None for anything that does not parse as one (a
    port out of range or not a number, a broken IPv6 literal, no host, another scheme)."""
    import ipaddress
    import re

    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return None
    if not re.fullmatch(_NETLOC, parts.netloc):  # e.g. "[::1]x", which urlsplit lets through
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    try:
        host = ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port; False (never an exception) when either does not parse."""
    oa, ob = origin(a), origin(b)
    return oa is not None and oa == ob


def check_next_link(link: object, base_url: str) -> str:
    """The ``@odata.nextLink`` to follow, or the error for one that must not be followed.

    BadResponse (exit 11) when it is not a usable absolute http(s) URL: not a string, relative,
    spaces or control characters, a bad port, a broken IPv6 literal. SecurityRefused (exit 10)
    when it is one but points elsewhere (scheme, host or port) or carries user info.
    """
    if not isinstance(link, str) or not link:
        raise BadResponse("unreadable response: @odata.nextLink is not a URL")
    shown = safe_message(link[:200])
    if any(ch.isspace() or not ch.isprintable() for ch in link):
        raise BadResponse(f"unreadable response: @odata.nextLink contains spaces or control "
                          f"characters ({shown})")
    where = origin(link)
    if where is None:
        raise BadResponse(f"unreadable response: @odata.nextLink is not a valid absolute "
                          f"http(s) URL ({shown})")
    parts = urlsplit(link)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise SecurityRefused("@odata.nextLink carries user info; refusing to follow it")
    if where != origin(base_url):
        raise SecurityRefused(
            f"@odata.nextLink points to another host ({safe_message(parts.netloc)}); "
            "refusing to follow it"
        )
    return link


class Unreadable(Exception):
    """A body that cannot be read as sent: too large, an encoding rundctl did not ask for, or
    a corrupt or truncated compressed stream. The status decides what that means."""


def _too_large(limit: int) -> Unreadable:
    return Unreadable(f"the response is larger than {_size_text(limit)}; refusing to read it")


def _size_text(limit: int) -> str:
    mib = limit / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{limit} bytes"


class _Inflater:
    """One gzip or deflate layer that never produces more than ``limit`` bytes in all.

    Each ``decompress`` call is given the remaining budget plus one as ``max_length``, so a
    decompression bomb stops as soon as its decoded size passes the limit: it is never
    inflated into memory first. gzip may have several members. "deflate" is zlib-wrapped
    by the standard (RFC 9110) and raw in many servers: the zlib form is tried first and,
    when it fails before producing anything, the same bytes are read as raw deflate.
    """

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.size = 0
        self._obj = zlib.decompressobj(31 if coding == "gzip" else 15)
        # deflate: the bytes seen before the first output, to replay them as raw deflate
        self._replay: bytes | None = b"" if coding == "deflate" else None

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            if self._obj.eof:
                if self.coding != "gzip":
                    raise Unreadable("data after the end of the deflate stream")
                self._obj = zlib.decompressobj(31)  # the next gzip member
            if self._replay is not None:
                self._replay += data
                if len(self._replay) > self.limit:
                    raise _too_large(self.limit)
            try:
                piece = self._obj.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                if self._replay is not None and self.size == 0:
                    data, self._replay = self._replay, None  # not zlib-wrapped: raw deflate
                    self._obj = zlib.decompressobj(-15)
                    continue
                raise Unreadable(f"corrupt {self.coding} data ({exc})") from None
            if piece:
                self._replay = None
                self.size += len(piece)
                if self.size > self.limit:
                    raise _too_large(self.limit)
                out.append(piece)
            data = self._obj.unused_data if self._obj.eof else b""
        return b"".join(out)

    def finish(self) -> None:
        if not self._obj.eof:
            raise Unreadable(f"the {self.coding} data is truncated")


class BodyDecoder:
    """Undo the ``Content-Encoding`` of a body as it streams in, bounded by ``limit``.

    Only what rundctl asks for (:data:`ACCEPT_ENCODING`) is decoded: gzip (``x-gzip``),
    deflate, and ``identity``, in any chain (``Content-Encoding: deflate, gzip`` is undone
    right to left). Anything else is :class:`Unreadable`. ``limit`` bounds the bytes
    received and each layer's output, so neither a long body nor a bomb can exhaust memory.
    """

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self.limit = limit
        self.received = 0
        self.size = 0
        self._layers: list[_Inflater] = []
        for token in reversed((content_encoding or "").split(",")):
            coding = token.strip().lower()
            if coding in ("", "identity"):
                continue
            if coding in ("gzip", "x-gzip"):
                self._layers.append(_Inflater("gzip", limit))
            elif coding == "deflate":
                self._layers.append(_Inflater("deflate", limit))
            else:
                raise Unreadable(
                    f"the body is encoded as {coding!r}, which rundctl did not ask for "
                    f"(Accept-Encoding: {ACCEPT_ENCODING})"
                )

    def feed(self, chunk: bytes) -> bytes:
        self.received += len(chunk)
        if self.received > self.limit:
            raise _too_large(self.limit)
        for layer in self._layers:
            if not chunk:
                break
            chunk = layer.feed(chunk)
        self.size += len(chunk)
        if self.size > self.limit:
            raise _too_large(self.limit)
        return chunk

    def finish(self) -> None:
        """Raise Unreadable when a compressed body ended before its stream did."""
        if self.received == 0:
            return  # no body at all (e.g. 204 with Content-Encoding: gzip)
        for layer in self._layers:
            layer.finish()


def decode_body(raw: bytes, content_encoding: str | None, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """Decode a whole body at once with the same rules and bounds as a streamed one."""
    decoder = BodyDecoder(content_encoding, limit)
    data = decoder.feed(raw)
    decoder.finish()
    return data
