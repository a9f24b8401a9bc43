"""``rundctl doctor``: check the installation, configuration, network and credential.

Each check answers pass / warn / fail with a concrete fix. The checks never print a secret
(tokens, proxy passwords), never prompt, and never contact Microsoft when the endpoint is the
sandbox or a loopback address. Network checks are bounded by ``timeout`` seconds each.

- :mod:`~rundctl.doctor.runner`: :func:`run_checks`, every check in report order;
- :mod:`~rundctl.doctor.local`: python, config, clock, keyring, terminal (no network);
- :mod:`~rundctl.doctor.proxy` and :mod:`~rundctl.doctor.network`: proxy, dns,
  reachability (or the embedded sandbox) and authority, over rundctl's own HTTP client;
- :mod:`~rundctl.doctor.credential`: the credential, built by ``Deps.credential``;
- :mod:`~rundctl.doctor.render`: the text and JSON of the result, and the exit code.
"""

from __future__ import annotations

from rundctl.doctor.check import CHECK_NAMES, FAIL, NETWORK_CHECKS, PASS, STATUSES, WARN, Check
from rundctl.doctor.credential import check_credential
from rundctl.doctor.local import (
    REQUIRED_PACKAGES,
    check_clock,
    check_config,
    check_keyring,
    check_python,
    check_terminal,
)
from rundctl.doctor.network import check_authority, check_dns, check_reachability
from rundctl.doctor.proxy import bypasses_proxy, check_proxy, proxy_for, without_userinfo
from rundctl.doctor.render import as_json, as_text, exit_code
from rundctl.doctor.runner import run_checks

__all__ = [
    "CHECK_NAMES",
    "FAIL",
    "NETWORK_CHECKS",
    "PASS",
    "REQUIRED_PACKAGES",
    "STATUSES",
    "WARN",
    "Check",
    "as_json",
    "as_text",
    "bypasses_proxy",
    "check_authority",
    "check_clock",
    "check_config",
    "check_credential",
    "check_dns",
    "check_keyring",
    "check_proxy",
    "check_python",
    "check_reachability",
    "check_terminal",
    "exit_code",
    "proxy_for",
    "run_checks",
    "without_userinfo",
]
