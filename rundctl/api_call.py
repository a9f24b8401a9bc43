"""``rundctl api``: the parse and do steps of any Graph request (the escape hatch).

:func:`build_request` turns the command line into a checked :class:`ApiRequest` (method,
target, query, body, headers) and reads what ``--input`` and ``-F key=@FILE`` name; nothing
is sent and every mistake is exit 2 (usage) or 3 (invalid input). :func:`run` sends it with
everything the other commands have — endpoint, cloud, profile, credential, sandbox,
``--timeout``, retries, redaction, exit codes — and returns an :class:`ApiResult`; it never
prints and never exits.

How often a request may be sent (RFC 9110, docs/reliability.md):

- GET and HEAD are safe: retried like every read (kind ``read``);
- PUT and DELETE are idempotent: retried like ``rundctl update`` (kind ``update``); a lost
  answer is outcome unknown (exit 9), but sending the same request again is harmless;
- POST and PATCH are not idempotent: sent again only when the service certainly did not
  apply them (never connected, 429, 503 with Retry-After), otherwise exit 9 (kind ``post``).
  There is no lookup after a lost answer: the shape of what was made is unknown.

Requests go only to the endpoint's scheme, host and port: a full URL anywhere else is refused
(exit 10) before a connection is opened, as a foreign ``@odata.nextLink`` is. The credential
is only ever added by the client's auth hook, never from ``-H``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from rundctl.errors import (
    InvalidInput,
    NotFound,
    OutcomeUnknown,
    Problem,
    SecurityRefused,
    UsageError,
)

if TYPE_CHECKING:
    from rundctl.client import GraphClient
    from rundctl.deps import Deps
    from rundctl.inputs import Stdin
    from rundctl.retry import Kind
    from rundctl.settings import ConnSettings

METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "PATCH", "PUT", "DELETE")
KINDS: dict[str, Kind] = {
    "GET": "read",
    "HEAD": "read",
    "PUT": "update",
    "DELETE": "update",
    "POST": "post",
    "PATCH": "post",
}
# Methods whose -f/-F fields become query parameters (gh does the same for GET).
QUERY_METHODS = frozenset({"GET", "HEAD"})
# The 403 hint: rundctl cannot know what an arbitrary path needs.
PERMISSION = "the permission Microsoft's API reference names for it"
MAX_INPUT_BYTES = 1024 * 1024  # --input and -F key=@FILE: one document, as everywhere else

# Headers -H may not set: the credential (it comes from --auth, never a flag value), and what
# the HTTP layer owns (framing, connection, the encodings rundctl can decode).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})
TRANSPORT_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
    "upgrade", "expect", "proxy-connection", "accept-encoding",
})
# Response headers shown by -i as *** whatever they hold.
SECRET_RESPONSE_HEADERS = frozenset({"authorization", "proxy-authorization", "set-cookie",
                                     "cookie"})

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP field name (RFC 9110 §5.1)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SUBKEY = re.compile(r"\[([^\[\]]*)\]")


class ApiFlags(NamedTuple):
    """The command line of ``rundctl api`` as typed."""

    args: Sequence[str]  # [METHOD] PATH
    method: str | None = None  # -X/--method
    raw_fields: Sequence[str] = ()  # -f/--raw-field KEY=VALUE
    typed_fields: Sequence[str] = ()  # -F/--field KEY=VALUE|@FILE
    input: str | None = None  # --input FILE|-
    headers: Sequence[str] = ()  # -H/--header 'Name: value'
    paginate: bool = False


class ApiRequest(NamedTuple):
    """A checked request: nothing left to parse, nothing sent yet."""

    method: str
    target: str  # "/relative/path?query" or a full URL, checked against the endpoint later
    params: dict[str, str]  # from -f/-F with GET/HEAD
    body: bytes | None  # JSON, encoded
    headers: dict[str, str]
    paginate: bool = False

    @property
    def kind(self) -> Kind:
        return KINDS[self.method]


class Exchange(NamedTuple):
    """The status and headers of one answer (one page with --paginate)."""

    status: int
    headers: Mapping[str, str]


class ApiResult(NamedTuple):
    url: str  # where the (first) request went
    exchanges: list[Exchange]  # one per request made, in order
    body: Any  # a JSON value, the merged pages, bytes for a body that is not JSON, or None

    @property
    def status(self) -> int:
        return self.exchanges[-1].status


# -- parse ----------------------------------------------------------------------------------


def build_request(flags: ApiFlags, *, stdin: Stdin | None = None,
                  token_file: str | None = None) -> ApiRequest:
    """The checked request for *flags*; reads ``--input`` and ``@FILE`` values. Raises
    UsageError (exit 2) or InvalidInput (exit 3); sends nothing."""
    method, target = split_args(flags.args, flags.method)
    has_fields = bool(flags.raw_fields or flags.typed_fields)
    if has_fields and flags.input is not None:
        raise UsageError("-f/-F and --input cannot be combined",
                         hint="build the body with -f/-F fields, or send a whole JSON document "
                         "with --input")
    if method is None:
        method = "POST" if has_fields or flags.input is not None else "GET"
    stdin_users = _stdin_users(flags, token_file)
    if len(stdin_users) > 1:
        raise UsageError(f"{' and '.join(stdin_users)} cannot both read stdin")
    if flags.paginate and method != "GET":
        raise UsageError(f"--paginate follows @odata.nextLink with GET; it does not go with "
                         f"{method}")
    reader = _ValueReader(stdin)
    params: dict[str, str] = {}
    body: bytes | None = None
    if method in QUERY_METHODS:
        if flags.input is not None:
            raise UsageError(f"--input sends a body; {method} has none",
                             hint="give the method that takes the body, e.g. -X POST")
        params = query_params(flags.raw_fields, flags.typed_fields, reader)
    elif has_fields:
        from rundctl.wire import encode_body

        body = encode_body(fields_body(flags.raw_fields, flags.typed_fields, reader))
    elif flags.input is not None:
        body = read_input(flags.input, reader)
    return ApiRequest(method, target, params, body, parse_headers(flags.headers),
                      flags.paginate)


def split_args(args: Sequence[str], option: str | None) -> tuple[str | None, str]:
    """``[METHOD] PATH`` and ``-X METHOD``: the method (None: decided by the body) and PATH."""
    if not args:
        raise UsageError("PATH is missing", hint="e.g. rundctl api /external/industryData/runs")
    if len(args) > 2:
        raise UsageError(f"too many arguments: {' '.join(args[2:])!r}",
                         hint="rundctl api [METHOD] PATH; quote a path that contains spaces")
    given = None
    if len(args) == 2:
        given = parse_method(args[0])
    elif args[0] in METHODS:
        raise UsageError(f"PATH is missing after {args[0]}")
    if option is not None:
        chosen = parse_method(option, "-X/--method")
        if given is not None and given != chosen:
            raise UsageError(f"two methods given: {given} and -X {chosen}")
        given = chosen
    return given, check_path(args[-1])


def parse_method(text: str, name: str = "METHOD") -> str:
    method = text.strip().upper()
    if method not in METHODS:
        raise UsageError(f"{name}: '{_shown(text)}' is not one of {', '.join(METHODS)}")
    return method


def check_path(text: str) -> str:
    """PATH as given: relative to the endpoint (a leading ``/`` added), or a full URL."""
    if not text.strip():
        raise UsageError("PATH is empty")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text):
        raise UsageError(f"PATH '{_shown(text)}' contains control characters")
    _utf8(text, "PATH")
    if "#" in text:
        raise UsageError("PATH contains '#': a fragment is never sent",
                         hint="write a literal # in a query as %23")
    if _URL.match(text):
        return text
    return text if text.startswith("/") else "/" + text


def resolve(base_url: str, target: str) -> str:
    """The URL *target* means for the endpoint *base_url*; SecurityRefused (exit 10) for a
    full URL on another scheme, host or port, or one that carries user info."""
    from urllib.parse import urlsplit

    from rundctl.client import origin

    if not _URL.match(target):
        return base_url.rstrip("/") + target
    where = origin(target)
    base = origin(base_url)
    try:
        parts = urlsplit(target)
        userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        userinfo = False
        parts = None
    if parts is not None and (userinfo or "@" in parts.netloc):
        raise SecurityRefused("PATH carries user info; refusing to send it",
                              hint="give a path relative to the endpoint")
    if where is None or base is None or where != base:
        netloc = parts.netloc if parts is not None else target
        shown_base = _origin_text(base) if base else base_url
        raise SecurityRefused(
            f"PATH points to another host ({_shown(netloc)}); rundctl api sends requests only "
            f"to the endpoint ({shown_base})",
            hint="give a path relative to the endpoint, or choose the endpoint with --endpoint "
            "or --cloud")
    return target


def _origin_text(where: tuple[str, str, int]) -> str:
    scheme, host, port = where
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if port == {"https": 443, "http": 80}[scheme] else f":{port}")


def parse_headers(items: Sequence[str]) -> dict[str, str]:
    """``-H 'Name: value'`` (repeatable), checked; never the credential."""
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for item in items:
        name, sep, value = item.partition(":")
        name, value = name.strip(), value.strip(" \t")
        if not sep or not _TOKEN.fullmatch(name):
            raise UsageError(f"-H: '{_shown(item)}' is not 'Name: value'",
                             hint="e.g. -H 'ConsistencyLevel: eventual'")
        lower = name.lower()
        if lower in CREDENTIAL_HEADERS:
            raise UsageError(
                f"-H cannot set {name}: rundctl adds the credential itself, for the endpoint's "
                "host only",
                hint="use --auth token with RUNDCTL_TOKEN or --token-file PATH|- (a token is "
                "never a flag value), or another --auth mode")
        if lower in TRANSPORT_HEADERS:
            raise UsageError(f"-H cannot set {name}: rundctl's HTTP layer sets it")
        if lower in seen:
            raise UsageError(f"-H: {name} is given twice")
        if not all(ch == "\t" or " " <= ch <= "~" for ch in value):
            raise UsageError(f"-H {name}: the value must be printable ASCII")
        seen.add(lower)
        headers[name] = value
    return headers


# -- fields ---------------------------------------------------------------------------------

Path = list[str | None]  # None: append to an array (key[])


def parse_key(key: str, flag: str) -> Path:
    """``a`` / ``a[b][c]`` / ``a[]`` (gh's syntax). Dots are part of a name: ``@odata.type``."""
    head, bracket, rest = key.partition("[")
    if not head:
        raise UsageError(f"{flag}: '{_shown(key)}' has no key name before '='"
                         if not key else f"{flag}: key '{_shown(key)}' starts with '['")
    path: Path = [head]
    if not bracket:
        return path
    rest = "[" + rest
    position = 0
    for match in _SUBKEY.finditer(rest):
        if match.start() != position:
            break
        position = match.end()
        sub = match.group(1)
        path.append(sub if sub else None)
    if position != len(rest):
        raise UsageError(f"{flag}: key '{_shown(key)}' is not NAME, NAME[KEY]... or NAME[]",
                         hint="e.g. -f 'displayName=x' -F 'statistics[people]=3' "
                         "-f 'tags[]=a'")
    if None in path[:-1]:
        raise UsageError(f"{flag}: key '{_shown(key)}': [] may only come last")
    return path


class _ValueReader:
    """Reads ``@FILE`` and ``@-`` values (stdin at most once)."""

    def __init__(self, stdin: Stdin | None) -> None:
        self.stdin = stdin

    def read(self, name: str, source: str) -> bytes:
        if source == "-":
            if self.stdin is None:
                raise UsageError(f"{name}: stdin is not available")
            if self.stdin.is_tty:
                raise UsageError(f"{name}: stdin is a terminal, not a pipe",
                                 hint="pipe the data in, or give a file")
            return _read_limited(self.stdin.stream, name, "stdin")
        import os

        try:
            if os.path.isdir(source):
                raise IsADirectoryError(source)
            with open(source, "rb") as handle:
                return _read_limited(handle, name, source)
        except FileNotFoundError:
            why = "no such file"
        except IsADirectoryError:
            why = "it is a directory"
        except OSError as exc:
            why = exc.strerror or str(exc)
        raise InvalidInput([Problem(name, f"cannot read '{_shown(source)}': {why}")])


def _read_limited(stream: Any, name: str, source: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_INPUT_BYTES:
        chunk = stream.read(MAX_INPUT_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_INPUT_BYTES:
        raise InvalidInput([Problem(name, f"{_shown(source)} is larger than 1 MiB (the limit for "
                                    "one document)")])
    return b"".join(chunks)


def typed_value(text: str, name: str, reader: _ValueReader) -> object:
    """-F: ``true``/``false``/``null``, a JSON number, JSON text starting with ``{``, ``[`` or
    ``"``, ``@FILE``/``@-`` (the content, a string); anything else is a string."""
    from rundctl import jsonio

    if text.startswith("@"):
        source = text[1:]
        if not source:
            raise UsageError(f"{name}: '@' needs a file name: @FILE, or @- for stdin")
        return jsonio.decode_utf8(reader.read(name, source), source=source)
    if text in ("true", "false", "null") or _NUMBER.fullmatch(text) or text[:1] in ('{', '[', '"'):
        try:
            return jsonio.loads_strict(text)
        except InvalidInput as exc:
            raise InvalidInput([Problem(name, str(p)) for p in exc.problems], exc.hint) from None
    return text


def _fields(raw: Sequence[str], typed: Sequence[str],
            reader: _ValueReader) -> list[tuple[str, Path, object]]:
    out: list[tuple[str, Path, object]] = []
    for flag, items in (("-f", raw), ("-F", typed)):
        for item in items:
            key, sep, text = item.partition("=")
            if not sep:
                raise UsageError(f"{flag}: '{_shown(item)}' is not KEY=VALUE")
            _utf8(item, flag)
            path = parse_key(key, flag)
            value = text if flag == "-f" else typed_value(text, f"{key} ({flag})", reader)
            out.append((key, path, value))
    return out


def fields_body(raw: Sequence[str], typed: Sequence[str], reader: _ValueReader) -> dict[str, Any]:
    """The JSON object built from -f (strings) and -F (typed) fields, nested by ``[KEY]``."""
    root: dict[str, Any] = {}
    for key, path, value in _fields(raw, typed, reader):
        _assign(root, key, path, value)
    return root


def query_params(raw: Sequence[str], typed: Sequence[str], reader: _ValueReader) -> dict[str, str]:
    """With GET/HEAD, the fields become query parameters (``-f '$top=5'``)."""
    import json

    params: dict[str, str] = {}
    for key, path, value in _fields(raw, typed, reader):
        if len(path) > 1:
            raise UsageError(f"'{_shown(key)}': with GET, fields are query parameters and cannot "
                             "nest")
        if key in params:
            raise UsageError(f"query parameter '{_shown(key)}' is given twice")
        if isinstance(value, dict | list):
            raise UsageError(f"'{_shown(key)}': a query parameter cannot be a JSON object or "
                             "array")
        params[key] = value if isinstance(value, str) else json.dumps(value)
    return params


def _assign(root: dict[str, Any], key: str, path: Path, value: object) -> None:
    append = path[-1] is None
    names = [part for part in path if part is not None]  # parse_key: [] only last
    node: dict[str, Any] = root
    for depth, part in enumerate(names[:-1]):
        if part not in node:
            node[part] = {}
        child = node[part]
        if not isinstance(child, dict):
            raise UsageError(f"field '{_shown(key)}': '{_shown(_path_text(names[:depth + 1]))}' "
                             "is already set to a value that is not an object")
        node = child
    last = names[-1]
    if append:
        array = node.setdefault(last, [])
        if not isinstance(array, list):
            raise UsageError(f"field '{_shown(key)}': '{_shown(_path_text(names))}' is already "
                             "set to a value that is not an array")
        array.append(value)
        return
    if last in node:
        raise UsageError(f"field '{_shown(_path_text(names))}' is given twice (or also as an "
                         "object or array)")
    node[last] = value


def _path_text(names: Sequence[str | None]) -> str:
    head, *rest = names
    return str(head) + "".join(f"[{part if part is not None else ''}]" for part in rest)


def read_input(source: str, reader: _ValueReader) -> bytes:
    """``--input FILE|-``: one JSON document, checked by the strict reader, sent as given (a
    leading BOM dropped)."""
    import io

    from rundctl import jsonio

    raw = reader.read("--input", source)
    jsonio.read_document(io.BytesIO(raw), source="stdin" if source == "-" else source)
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


def _stdin_users(flags: ApiFlags, token_file: str | None) -> list[str]:
    users = []
    if token_file == "-":  # noqa: S105 - "-" means stdin
        users.append("--token-file -")
    if flags.input == "-":
        users.append("--input -")
    users += [f"-F {item.partition('=')[0]}=@-" for item in flags.typed_fields
              if item.partition("=")[2] == "@-"]
    return users


def _utf8(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput([Problem(name, f"'{_shown(text)}' is not valid UTF-8")]) from None


def _shown(text: str) -> str:
    from rundctl.redact import neutralise

    return neutralise(text)


# -- do ---------------------------------------------------------------------------------------


def run(deps: Deps, conn: ConnSettings, request: ApiRequest) -> ApiResult:
    """Send *request* to the endpoint of *conn* (with --paginate: every page)."""
    from rundctl import ops

    if conn.endpoint.url is not None:
        resolve(conn.endpoint.url, request.target)  # another host: refused before connecting
    with ops.connect(deps, conn) as client:
        return call(client, request)


def call(client: GraphClient, request: ApiRequest) -> ApiResult:
    """One request (GET with paginate: one per page) through the client's retry rules."""
    url = resolve(client.base_url, request.target)
    try:
        return _call(client, request, url)
    except NotFound as exc:
        exc.hint = "check the path: it is relative to the endpoint (" + client.base_url + ")"
        raise
    except OutcomeUnknown as exc:
        if exc.hint:
            exc.hint = exc.hint.replace("list the flow's runs to check before running again",
                                        "check what the service holds before sending it again")
        raise


def _call(client: GraphClient, request: ApiRequest, url: str) -> ApiResult:
    from rundctl.client import MAX_PAGES, check_next_link
    from rundctl.errors import BadResponse

    def send(target: str, params: Mapping[str, str] | None) -> Any:
        resp = client.send(request.method, target, body=request.body, params=params or None,
                           kind=request.kind, permission=PERMISSION, headers=request.headers,
                           json_only=False)
        exchanges.append(Exchange(resp.status, resp.headers))
        return resp.body

    exchanges: list[Exchange] = []
    first = send(url, request.params)
    if not request.paginate or not _is_page(first):
        return ApiResult(url, exchanges, first)
    items: list[Any] = list(first["value"])
    page = first
    seen: set[str] = set()
    while page.get("@odata.nextLink") is not None:
        link = check_next_link(page["@odata.nextLink"], client.base_url)
        if link in seen:
            raise BadResponse("the service returned the same page link twice (a page loop)")
        if len(exchanges) >= MAX_PAGES:
            raise BadResponse(f"more than {MAX_PAGES} pages; stopping")
        seen.add(link)
        page = send(link, None)
        if not _is_page(page):
            raise BadResponse(f"unreadable response from the service: page {len(exchanges)} "
                              "is not a JSON object with a 'value' list")
        items.extend(page["value"])
    merged = {k: v for k, v in first.items() if k != "@odata.nextLink"}
    merged["value"] = items
    if "@odata.deltaLink" in page:
        merged["@odata.deltaLink"] = page["@odata.deltaLink"]
    return ApiResult(url, exchanges, merged)


def _is_page(body: object) -> bool:
    return isinstance(body, dict) and isinstance(body.get("value"), list)


# -- show (pure text) -----------------------------------------------------------------------


def head_text(exchange: Exchange) -> str:
    """``-i``: the status line and every response header, one line each, redacted and
    terminal-safe, then a blank line."""
    from http import HTTPStatus

    from rundctl.redact import REDACTED, ci_safe_line, redact

    try:
        phrase = HTTPStatus(exchange.status).phrase
    except ValueError:
        phrase = ""
    lines = [f"HTTP {exchange.status} {phrase}".rstrip()]
    for name, value in exchange.headers.items():
        shown = REDACTED if name.lower() in SECRET_RESPONSE_HEADERS else redact(str(value))
        lines.append(ci_safe_line(f"{name}: {shown}"))
    return "\n".join(lines) + "\n\n"


def raw_text(body: bytes, status: int) -> str:
    """A body that is not JSON, as text; BadResponse (exit 11) when it is not UTF-8."""
    from rundctl.errors import BadResponse

    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadResponse(f"the answer (HTTP {status}) is binary, not text; rundctl api writes "
                          "JSON and text only") from None
