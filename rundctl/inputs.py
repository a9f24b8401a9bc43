"""What a run command was given: ``-f PATH`` / ``-f -`` and the run flags, as one input.

The result is either one request body (a single create) or a validated bulk plan (NDJSON
or a JSON array: every record checked and spooled before anything is sent). Nothing here
talks to a service; ``create``, ``validate`` and ``update`` share it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from rundctl.errors import InvalidInput, Problem, UsageError

if TYPE_CHECKING:
    from rundctl.bulk import Plan
    from rundctl.model import Overrides

SMALL_INPUT = 1024 * 1024
FLAGS_HINT = ("a run needs --name, --start (a timestamp or now), --status and statistics "
              "(--statistics '{}' or --stat KEY=VALUE); or -f FILE / -f -")


class RunFlags(NamedTuple):
    """The run flags as typed (``--name`` ... ``--error-target``; None = not given)."""

    name: str | None = None
    start: str | None = None
    end: str | None = None
    status: str | None = None
    statistics: str | None = None
    stat: list[str] | None = None
    blocking_error: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_target: str | None = None


class Stdin(NamedTuple):
    """Standard input as the command sees it."""

    stream: BinaryIO
    is_tty: bool


class Single(NamedTuple):
    payload: dict[str, Any]


class Bulk(NamedTuple):
    plan: Plan


def overrides(flags: RunFlags) -> Overrides:
    """The flags as field overrides (JSON flag values parsed, nothing validated yet)."""
    from rundctl import jsonio, model

    def json_arg(text: str | None, name: str) -> Any:
        return jsonio.parse_json_arg(text, name=name) if text is not None else None

    return model.Overrides(
        display_name=flags.name,
        start=flags.start,
        end=flags.end,
        status=flags.status,
        statistics=json_arg(flags.statistics, "--statistics"),
        stats=list(flags.stat or []),
        blocking_error=json_arg(flags.blocking_error, "--blocking-error"),
        error_code=flags.error_code,
        error_message=flags.error_message,
        error_target=flags.error_target,
    )


def read_run_input(
    file: str | None,
    flags: RunFlags,
    *,
    stdin: Stdin,
    now: datetime,
    cleanups: list[Callable[[], None]],
    token_file: str | None = None,
    refuse_bulk: str | None = None,
) -> Single | Bulk:
    """The run(s) to send: flags alone, or ``-f`` with the flags overriding each record.

    Temporary files (the stdin spool, the bulk spool) are registered in *cleanups*. With
    *refuse_bulk*, bulk input is a usage error with that message (before it is validated).
    """
    changes = overrides(flags)
    if file is None:
        return Single(build_payload(None, changes, now))
    record, source = read_file(file, stdin, cleanups, token_file=token_file)
    if not isinstance(record, _SpooledPath):
        return Single(build_payload(record, changes, now))
    if refuse_bulk is not None:
        raise UsageError(refuse_bulk)
    from rundctl import bulk

    plan = bulk.validate(str(record), changes, now=now, source=source)
    cleanups.append(lambda: _unlink(plan.spool))
    return Bulk(plan)


def build_payload(record: object | None, changes: Overrides, now: datetime) -> dict[str, Any]:
    """The request body of one create, with a hint on the flags when they were the input."""
    from rundctl import model

    try:
        return model.build_create_payload(record, changes, now=now)
    except InvalidInput as exc:
        if exc.hint is None and record is None:
            exc.hint = FLAGS_HINT
        raise


class _SpooledPath(str):
    """A path to bulk input (a file given with -f, or stdin spooled to a temporary file)."""


_BOM = b"\xef\xbb\xbf"


def read_file(file: str, stdin: Stdin, cleanups: list[Callable[[], None]], *,
              token_file: str | None = None) -> tuple[object, str]:
    """What ``-f`` names: ``(record, source)`` for one JSON object, ``(path, source)`` for
    bulk input (NDJSON or an array).

    A path, ``-`` (stdin), ``/dev/stdin`` or a pipe like ``<(…)`` all get the same verdict
    for the same bytes: input that fits in memory (1 MiB, plus one BOM) is classified
    there; anything larger is bulk if it is NDJSON or an array, else a document that is too
    large. Input that is not a regular file is spooled to a temporary file first.
    """
    from rundctl import bulk, jsonio

    source = "stdin" if file == "-" else file
    with _open_input(file, stdin, token_file) as stream:
        head = stream.read(SMALL_INPUT + len(_BOM) + 1)
        regular = file != "-" and os.path.isfile(file)
        if len(head) <= SMALL_INPUT + len(_BOM):
            document = head[len(_BOM):] if head.startswith(_BOM) else head
            if not bulk.is_bulk(head):
                import io

                return jsonio.read_document(io.BytesIO(document), source=source), source
            if regular:
                return _SpooledPath(file), source
        if not regular:
            spooled = bulk.spool_stdin(stream, head)
            cleanups.append(lambda: _unlink(spooled))
            path = spooled
        else:
            path = file
    if bulk.is_bulk(path):
        return _SpooledPath(path), source
    with open(path, "rb") as handle:  # one document: the reader says it is too large
        return jsonio.read_document(handle, source=source), source


def _open_input(file: str, stdin: Stdin, token_file: str | None) -> BinaryIO:
    if file == "-":
        if token_file == "-":  # noqa: S105 - "-" means stdin
            raise UsageError("-f - and --token-file - cannot both read stdin")
        if stdin.is_tty:
            raise UsageError(
                "-f -: stdin is a terminal, not a pipe",
                hint="pipe the JSON in (… | rundctl create -f -) or give -f PATH",
            )
        import contextlib

        return contextlib.nullcontext(stdin.stream)  # type: ignore[return-value]
    try:
        if os.path.isdir(file):
            raise IsADirectoryError(file)
        return open(file, "rb")
    except FileNotFoundError:
        why = "no such file"
    except IsADirectoryError:
        why = "it is a directory"
    except OSError as exc:
        why = exc.strerror or str(exc)
    raise InvalidInput([Problem("", f"cannot read '{file}': {why}")],
                       hint="-f takes a path, or - for stdin")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
