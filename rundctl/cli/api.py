"""``rundctl api``: any Graph request with rundctl's endpoint, auth, retries and exit codes."""

from __future__ import annotations

from typing import Annotated

import typer

from rundctl.cli.options import ConnArgs, with_connection
from rundctl.errors import UsageError


@with_connection
def api(
    method_or_path: Annotated[str, typer.Argument(metavar="[METHOD] PATH", help="GET by default.")],
    *,
    conn_args: ConnArgs,
) -> int:
    """Send any Graph request (GET by default) with rundctl's sign-in and safety rules.

    Not implemented yet.

    \b
    Examples:
      rundctl api /external/industryData/dataConnectors
    """
    raise UsageError("rundctl api is not implemented yet")
