"""GraphClient: one requests.Session, timeouts, paging, and errors turned into typed exceptions.

Every request carries ``User-Agent: rundctl/<version>`` and a fresh ``client-request-id``.
Redirects are never followed. The token travels only through the ``auth`` object given to
the client (a :class:`requests.auth.AuthBase`), never through ``headers=``, so a stale
``~/.netrc`` can never replace it.

Failures are classified by what the caller may safely do next (docs/reliability.md): a read
that failed is re-run safe (exit 8); a create that failed after the request may have reached
the service is "outcome unknown" (exit 9), unless the answer proves it was not applied
(:func:`rundctl.retry.outcome`). A redirect to a read is refused (exit 10); to a create or
update, which was already sent, it is outcome unknown.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests  # noqa: TID253 - this module is only imported on paths that send requests
import requests.auth  # noqa: TID253
import urllib3.exceptions
import urllib3.response

from rundctl import jsonio
from rundctl.answers import ACCEPT_ENCODING as ACCEPT_ENCODING
from rundctl.answers import MAX_RESPONSE_BYTES as MAX_RESPONSE_BYTES
from rundctl.answers import BodyDecoder as BodyDecoder
from rundctl.answers import Unreadable as Unreadable
from rundctl.answers import check_next_link as check_next_link
from rundctl.answers import decode_body as decode_body
from rundctl.answers import json_media_type as json_media_type
from rundctl.answers import origin as origin
from rundctl.answers import parse_error as parse_error
from rundctl.answers import retry_after_seconds as retry_after_seconds
from rundctl.answers import same_origin as same_origin
from rundctl.errors import (
    ApiErrorInfo,
    AuthRejected,
    BadResponse,
    Forbidden,
    InvalidInput,
    NotFound,
    OutcomeUnknown,
    PreconditionFailed,
    Rejected,
    RundctlError,
    SecurityRefused,
    TemporaryFailure,
)
from rundctl.redact import ci_safe_line, safe_message
from rundctl.retry import Failure, Kind, decide, outcome
from rundctl.transport import Deadline as Deadline
from rundctl.transport import Gate as Gate
from rundctl.transport import NoAuth as NoAuth
from rundctl.transport import TokenAuth as TokenAuth
from rundctl.wire import RequestPlan, plan_request

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_PAGES = 1000
# What rundctl decodes, and so all it asks for (whatever the session's defaults would add).
_READ_CHUNK = 65536

PERMISSION_READ = "IndustryData-Run.Read.All"
PERMISSION_START = "IndustryData-Run.Start"
PERMISSION_FLOWS = "IndustryData-InboundFlow.Read.All"
PERMISSION_CREATE_NOTE = (
    "the seed's create/update endpoint documents no permission; the published API's closest "
    f"are {PERMISSION_START} and {PERMISSION_READ}"
)

# Response headers worth showing under --debug (nothing else is printed).
DEBUG_REQUEST_HEADERS = ("client-request-id", "Retry-Attempt", "Content-Type", "User-Agent")
DEBUG_HEADERS = (
    "request-id",
    "client-request-id",
    "date",
    "retry-after",
    "location",
    "content-type",
    "x-ms-ags-diagnostic",
)


class Response(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: Any
    client_request_id: str
    request_id: str | None
    sent_at: float


class AttemptFailed(Exception):
    """One attempt failed: how (for the retry decision) and the error to raise if final."""

    def __init__(self, failure: Failure, error: Exception) -> None:
        super().__init__(str(error))
        self.failure = failure
        self.error = error


class GraphClient:
    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session,
        auth: requests.auth.AuthBase,
        deadline: Deadline,
        debug: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_retry_wait: float = 60.0,
        rand: Callable[[], float] = random.random,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.auth = auth
        self.deadline = deadline
        self.debug = debug
        self.sleep = sleep
        self.now = now
        self.max_retry_wait = max_retry_wait
        self.rand = rand
        self.max_response_bytes = max_response_bytes
        # A create that has been sent and not yet answered (for Ctrl-C messages).
        self.in_flight: tuple[str, str, float] | None = None
        # Shared by bulk workers: a 429/503 Retry-After pauses all of them together.
        self.gate: Gate | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- one request, with retries -------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        kind: Kind = "read",
        permission: str = PERMISSION_READ,
        headers: Mapping[str, str] | None = None,
        json_only: bool = True,
    ) -> Response:
        """Send with the retries of docs/reliability.md; one client-request-id for every attempt.

        *headers* are added to every attempt (e.g. ``If-Match`` for an update). With
        ``json_only=False`` a body whose Content-Type names a media type other than JSON is
        returned as it came (``bytes``) instead of being refused as unreadable."""
        if not same_origin(url, self.base_url):
            raise SecurityRefused(f"refusing to send a request to a foreign host: {url}")
        plan = plan_request(method, url, body)
        plan.headers.update(headers or {})
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers = dict(plan.headers)
            headers["Accept-Encoding"] = ACCEPT_ENCODING
            if attempt > 1:
                headers["Retry-Attempt"] = str(attempt - 1)
            if self.gate is not None:
                self.gate.wait()
            try:
                return self._attempt(plan, headers, params, kind, permission, json_only)
            except AttemptFailed as failed:
                failure = failed.failure
                if failure.status == 401 and not refreshed and _refresh(self.auth):
                    refreshed = True  # a rejected token is not applied: resend once
                    attempt -= 1
                    self._log("token rejected (401); refreshed it, sending again")
                    continue
                decision = decide(kind, attempt, failure, max_retry_wait=self.max_retry_wait,
                                  rand=self.rand)
                if decision.too_long:
                    raise self._wait_too_long(decision.wait, failed.error) from None
                if not decision.retry:
                    raise failed.error from None
                if decision.wait >= self.deadline.remaining():
                    raise self._out_of_time(failed.error) from None
                self._log(f"retrying in {decision.wait:.2f} s (attempt {attempt + 1})")
                if failure.status == 503 and self.gate is None:
                    self.session.close()  # Graph: retry a 503 over a new connection
                if self.gate is not None and failure.retry_after is not None:
                    self.gate.pause(decision.wait)  # every worker waits, not just this one
                else:
                    self.sleep(decision.wait)

    def _wait_too_long(self, wait: float, error: Exception) -> TemporaryFailure:
        when = self.now() + timedelta(seconds=min(wait, 10 * 365 * 86400))
        stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        info = getattr(error, "info", None)
        return TemporaryFailure(
            f"the service asked to wait {wait:.0f} s before retrying, more than "
            f"--max-retry-wait ({self.max_retry_wait:.0f} s)",
            hint=f"nothing was applied; run the command again after {stamp}",
            info=info,
            retry_after=wait,
        )

    def _out_of_time(self, error: Exception) -> Exception:
        if isinstance(error, TemporaryFailure):
            error.hint = (error.hint or "") + " (the --timeout budget ran out before a retry)"
        return error

    def _attempt(
        self,
        plan: RequestPlan,
        headers: dict[str, str],
        params: Mapping[str, str] | None,
        kind: Kind,
        permission: str,
        json_only: bool = True,
    ) -> Response:
        method, url = plan.method, plan.url
        crid = headers["client-request-id"]
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise TemporaryFailure(
                "the command's time budget (--timeout) ran out before the request was sent",
                hint="nothing was sent; raise --timeout",
            )
        sent_at = self.now().timestamp()
        started = self.deadline.monotonic()
        shown = [f"{k}={v}" for k, v in headers.items() if k in DEBUG_REQUEST_HEADERS]
        if isinstance(self.auth, TokenAuth):
            shown.append("Authorization=Bearer ***")
        self._log(f"> {method} {url}{_query(params)} " + " ".join(shown))
        if plan.body is not None:
            self._log("> body " + plan.body[:2000].decode("utf-8", "replace"))
        if kind in ("create", "post"):
            self.in_flight = (crid, url, sent_at)
        try:
            resp = self.session.request(
                method,
                url,
                params=params,
                data=plan.body,
                headers=headers,
                auth=self.auth,
                timeout=(min(CONNECT_TIMEOUT, remaining), min(READ_TIMEOUT, remaining)),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            raise SecurityRefused(
                f"TLS verification failed for {urlsplit(url).hostname}: {error_reason(exc)}",
                hint="TLS is always verified; set REQUESTS_CA_BUNDLE to your CA bundle if a "
                "proxy re-signs traffic",
            ) from None
        except requests.exceptions.RequestException as exc:
            sent = not _not_sent(exc)
            error = self._transport_error(exc, method, url, kind, crid, sent_at)
            raise AttemptFailed(Failure(sent=sent), error) from None
        unreadable: Unreadable | None = None
        try:
            raw = self._read_body(resp, kind, crid, sent_at)
        except Unreadable as exc:
            raw, unreadable = b"", exc
        finally:
            resp.close()
        if kind in ("create", "post"):
            self.in_flight = None
        elapsed = self.deadline.monotonic() - started
        rheaders = resp.headers
        self._log(
            f"< {resp.status_code} {resp.reason} in {elapsed * 1000:.0f} ms "
            + " ".join(f"{h}={rheaders[h]}" for h in DEBUG_HEADERS if h in rheaders)
        )
        if raw:
            self._log("< body " + raw[:2000].decode("utf-8", "replace"))
        status = resp.status_code
        if status < 200:  # http.client hands back any 1xx but 100 as if it were final
            error = self._unreadable(kind, status, "an informational (1xx) answer instead of "
                                     "a final one", crid, sent_at)
            raise AttemptFailed(Failure(sent=True, status=status), error)
        if 300 <= status < 400:
            error = self._redirect_error(status, rheaders, kind, crid, sent_at)
            raise AttemptFailed(Failure(sent=True, status=status), error)
        if status >= 400:
            error = self._status_error(status, rheaders, raw, kind, permission, crid, sent_at)
            wait = retry_after_seconds(rheaders, self.now().timestamp())
            raise AttemptFailed(Failure(sent=True, status=status, retry_after=wait), error)
        if unreadable is not None:  # an error status decided above; a success needs its body
            raise self._unreadable(kind, status, str(unreadable), crid, sent_at)
        parsed: Any = None
        if not json_only and raw and not json_media_type(rheaders.get("Content-Type")):
            parsed = raw  # e.g. $metadata (XML) or $count (text/plain), for rundctl api
        elif raw.strip(b" \t\r\n"):
            try:
                parsed = jsonio.loads_service(raw, max_bytes=self.max_response_bytes)
            except InvalidInput as exc:
                raise self._unreadable(kind, status, _problems_text(exc), crid, sent_at) from None
        if kind == "create" and status in (200, 201) and not _has_id(parsed):
            raise OutcomeUnknown(
                f"outcome unknown: the service answered HTTP {status} without the id of what "
                "it created, so it may have been applied",
                hint=_unknown_hint(crid, sent_at),
            )
        return Response(status, rheaders, parsed, crid, rheaders.get("request-id"), sent_at)

    def _unreadable(
        self, kind: Kind, status: int, reason: str, crid: str, sent_at: float
    ) -> RundctlError:
        """A success (or odd) answer that cannot be read: exit 11 on a read; on a create or
        update, which the service received, outcome unknown (exit 9)."""
        what = f"HTTP {status}, not JSON" if 200 <= status < 300 else f"HTTP {status}"
        msg = f"unreadable response from the service ({what}): {reason}"
        if kind != "read":
            return OutcomeUnknown("outcome unknown: " + msg + "; it may have been applied",
                                  hint=_unknown_hint(crid, sent_at))
        return BadResponse(msg, hint="run the command again with --debug")

    def _read_body(
        self, resp: requests.Response, kind: Kind, crid: str, sent_at: float
    ) -> bytes:
        """Read and decode the body chunk by chunk, checking --timeout between chunks (slow
        drip) and the size limit on the DECODED size as it grows (decompression bombs).

        Raises :class:`Unreadable` for a body that is too large, encoded in a way rundctl did
        not ask for, or corrupt; AttemptFailed when the connection fails while reading.
        """
        decoder = BodyDecoder(resp.headers.get("Content-Encoding"), self.max_response_bytes)
        read = _raw_reader(resp)
        chunks: list[bytes] = []
        try:
            while True:
                if self.deadline.expired():
                    raise requests.exceptions.ReadTimeout("--timeout reached while reading")
                chunk = read()
                if not chunk:
                    break
                decoded = decoder.feed(chunk)
                if decoded:
                    chunks.append(decoded)
            decoder.finish()
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                OSError) as exc:
            req_exc = exc if isinstance(exc, requests.exceptions.RequestException) else \
                requests.exceptions.ConnectionError(exc)
            error = self._transport_error(req_exc, resp.request.method or "GET", resp.url, kind,
                                          crid, sent_at, reading=True)
            raise AttemptFailed(Failure(sent=True), error) from None
        return b"".join(chunks)

    def _transport_error(
        self,
        exc: requests.exceptions.RequestException,
        method: str,
        url: str,
        kind: Kind,
        crid: str,
        sent_at: float,
        *,
        reading: bool = False,
    ) -> Exception:
        host = urlsplit(url).netloc
        if not reading and _not_sent(exc):
            return TemporaryFailure(
                f"could not connect to {host}: {error_reason(exc)}",
                hint="nothing was sent; check the endpoint and your network, then run again",
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            what = "no answer in time (read timeout or --timeout reached)"
        else:
            what = f"the connection failed after sending: {error_reason(exc)}"
        if kind != "read":
            return OutcomeUnknown(
                f"outcome unknown: {method} {url}: {what}; it may have been applied",
                hint=_unknown_hint(crid, sent_at),
            )
        return TemporaryFailure(
            f"{method} {url}: {what}",
            hint="reads are safe to repeat; run the command again (or raise --timeout)",
        )

    def _redirect_error(
        self, status: int, headers: Mapping[str, str], kind: Kind, crid: str, sent_at: float
    ) -> Exception:
        """A 3xx is never followed. For a read that is a refusal (exit 10); a create or update
        was already sent, and the service (or a proxy) may have applied it before answering
        (e.g. 303 See Other): outcome unknown (exit 9), so the caller looks before re-sending."""
        where = f"{status} to {headers.get('Location', '?')}"
        if kind != "read":
            info = ApiErrorInfo(status=status, request_id=headers.get("request-id"),
                                client_request_id=headers.get("client-request-id") or crid,
                                date=headers.get("Date"))
            return OutcomeUnknown(
                f"outcome unknown: the service answered a redirect ({where}) after receiving "
                "the request, so it may have been applied; rundctl never follows redirects",
                hint=_unknown_hint(crid, sent_at),
                info=info,
            )
        return SecurityRefused(
            f"the service answered a redirect ({where}); rundctl never follows redirects",
            hint="check --endpoint: it should be the API base URL itself",
        )

    def _status_error(
        self,
        status: int,
        headers: Mapping[str, str],
        raw: bytes,
        kind: Kind,
        permission: str,
        crid: str,
        sent_at: float,
    ) -> Exception:
        info = parse_error(status, headers, raw)
        info.client_request_id = info.client_request_id or crid
        what = info.message or f"HTTP {status}"
        if status == 401:
            return AuthRejected(
                f"not authenticated: {what}",
                info,
                hint="the token was rejected (expired, or issued for another audience); "
                "get a fresh token and run again",
            )
        if status == 403:
            needed = (PERMISSION_CREATE_NOTE if kind in ("create", "update")
                      and permission == PERMISSION_READ else f"needs {permission}")
            return Forbidden(f"forbidden: {what}", info,
                             hint=f"this call {needed}; {self._granted()}")
        if status == 404:
            return NotFound(f"not found: {what}", info, hint="check the flow and run IDs")
        if status == 412:
            return PreconditionFailed(f"the resource changed since it was read: {what}", info)
        wait = retry_after_seconds(headers, self.now().timestamp())
        if status == 429 or (status == 503 and wait is not None):
            when = f" in {wait:.0f} s" if wait is not None else " later"
            return TemporaryFailure(
                f"the service is busy (HTTP {status}): {what}",
                hint=f"nothing was applied; run the command again{when}",
                info=info,
                retry_after=wait,
            )
        if status >= 500 or status == 408:
            if kind != "read" and outcome(Failure(sent=True, status=status)) == "unknown":
                return OutcomeUnknown(
                    f"outcome unknown: the service failed (HTTP {status}) after receiving the "
                    f"request, so it may have been applied: {what}",
                    hint=_unknown_hint(crid, sent_at),
                    info=info,
                )
            return TemporaryFailure(
                f"the service failed (HTTP {status}): {what}",
                hint="reads are safe to repeat; run the command again",
                info=info,
            )
        return Rejected(f"rejected by the service: {what}", info)

    def _granted(self) -> str:
        """The roles/scopes the token in use carries (from its claims), for 403 hints."""
        token = getattr(self.auth, "last", None)
        if not token:
            return "no token was sent"
        from rundctl.auth import decode_claims

        claims = decode_claims(token)
        raw_roles = claims.get("roles")
        roles = [str(r) for r in raw_roles] if isinstance(raw_roles, list) else []
        granted = roles + str(claims.get("scp") or "").split()
        if not claims:
            return "the token is not a JWT, so its permissions cannot be shown"
        return "your token carries: " + (", ".join(granted) if granted else "no roles or scopes")

    def _log(self, line: str) -> None:
        """One --debug line: headers and body excerpts come from the server, so they are
        neutralised (no escape sequence, no second line, no workflow command)."""
        if self.debug is not None:
            self.debug(ci_safe_line(line))

    # -- operations ----------------------------------------------------------------------

    def get_json(self, path_or_url: str, **kwargs: Any) -> Any:
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        body = self.send("GET", url, **kwargs).body
        if not isinstance(body, dict):
            raise BadResponse("unreadable response from the service: expected a JSON object")
        return body

    def iter_collection(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        permission: str = PERMISSION_READ,
        on_page: Callable[[dict[str, Any]], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of a paged collection, following ``@odata.nextLink`` safely."""
        url: str | None = self.url(path)
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        pages = 0
        while url is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise BadResponse(f"more than {MAX_PAGES} pages; stopping")
            page = self.get_json(url, params=query, permission=permission)
            if on_page is not None:
                on_page(page)
            value = page.get("value")
            if not isinstance(value, list):
                raise BadResponse("unreadable response from the service: no 'value' list")
            for item in value:
                if isinstance(item, dict):
                    yield item
            if page.get("@odata.nextLink") is None:
                return
            next_link = check_next_link(page["@odata.nextLink"], self.base_url)
            if next_link in seen:
                raise BadResponse("the service returned the same page link twice (a page loop)")
            seen.add(next_link)
            url, query = next_link, None


def _raw_reader(resp: requests.Response) -> Callable[[], bytes]:
    """A function returning the next chunk of the body exactly as sent (still encoded):
    rundctl decodes it itself, bounded, rather than letting urllib3 inflate it unbounded."""
    raw = resp.raw
    if isinstance(raw, urllib3.response.BaseHTTPResponse):
        return lambda: raw.read1(_READ_CHUNK, decode_content=False)
    return lambda: raw.read(_READ_CHUNK)


def _has_id(body: object) -> bool:
    """A created entity: a JSON object with a non-empty string ``id``."""
    if not isinstance(body, dict):
        return False
    value = body.get("id")
    return isinstance(value, str) and bool(value.strip())


def _problems_text(exc: InvalidInput) -> str:
    first = str(exc.problems[0]) if exc.problems else exc.message
    more = len(exc.problems) - 1
    return first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else "")


def _refresh(auth: requests.auth.AuthBase) -> bool:
    """Ask a refreshable credential for a new token; False when it cannot refresh."""
    refresh = getattr(auth, "refresh", None)
    return bool(refresh()) if callable(refresh) else False


def _query(params: Mapping[str, str] | None) -> str:
    if not params:
        return ""
    return "?" + "&".join(f"{k}={v}" for k, v in params.items())


def error_reason(exc: BaseException) -> str:
    """The innermost readable cause of a requests/urllib3 error, without the URL noise."""
    seen: set[int] = set()
    current: BaseException | None = exc
    text = str(exc)
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            text = str(reason)
            continue
        args = getattr(current, "args", ())
        if args and isinstance(args[0], BaseException):
            current = args[0]
            text = str(current)
            continue
        break
    if "Connection refused" in text:
        return "connection refused"
    return safe_message(text)


def _not_sent(exc: requests.exceptions.RequestException) -> bool:
    """True when the request certainly never reached the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        import urllib3.exceptions

        current: object = exc
        for _ in range(6):
            if isinstance(current, urllib3.exceptions.NewConnectionError):
                return True
            nxt = getattr(current, "reason", None)
            if nxt is None:
                args = getattr(current, "args", ())
                nxt = args[0] if args else None
            if nxt is None:
                break
            current = nxt
    return False


def _unknown_hint(crid: str, sent_at: float | None) -> str:
    when = ""
    if sent_at is not None:
        when = " sent at " + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent_at))
    return (
        f"client-request-id {crid}{when}; list the flow's runs to check before running again"
    )
