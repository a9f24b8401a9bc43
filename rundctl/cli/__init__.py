"""The command layer: one module per command family, and the options they share.

Commands parse flags (``options``, ``context``), call one function of :mod:`rundctl.ops` or a
library module, and hand the result to :mod:`rundctl.render`. Nothing below this package
imports it; :mod:`rundctl.app` assembles the commands into the Typer app.
"""
