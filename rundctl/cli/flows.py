"""``rundctl flows list`` and ``flows get``: inbound flows of the published API."""

from __future__ import annotations

from typing import Annotated

import typer

from rundctl.cli.context import guid
from rundctl.cli.options import ColumnsOpt, ConnArgs, OutputOpt, QueryOpt, with_connection
from rundctl.cli.runs import show_fetched

FlowArg = Annotated[str, typer.Argument(metavar="ID", help="Flow ID (a GUID).", show_default=False)]


@with_connection
def flows_list(output: OutputOpt = None, query: QueryOpt = None, columns: ColumnsOpt = None, *,
               conn_args: ConnArgs) -> int:
    """List inbound flows.

    The flows of the published industryData API, with their readiness and data domain.

    \b
    Examples:
      rundctl flows list
      rundctl flows list -o id | head -1
    """
    from rundctl import runs

    return show_fetched(conn_args, output, runs.list_flows, "flow", many=True, query=query,
                        columns=columns)


@with_connection
def flows_get(flow: FlowArg, output: OutputOpt = None, query: QueryOpt = None,
              columns: ColumnsOpt = None, *, conn_args: ConnArgs) -> int:
    """Show one inbound flow.

    Its display name, readiness, data domain, type and validity window.

    \b
    Examples:
      rundctl flows get $FLOW
    """
    from rundctl import runs

    flow_id = guid(flow, "ID")
    return show_fetched(conn_args, output, lambda c: runs.get_flow(c, flow_id), "flow",
                        query=query, columns=columns)
