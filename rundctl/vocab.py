"""The fixed vocabularies of rundctl, in one small module with no imports.

The domain modules (model, settings, wait, config, helptext) take their constants from here,
and so do the command layer's help texts and TAB completion, so a list is never typed twice
and ``rundctl --help`` need not import the domain modules to show them.
"""

from __future__ import annotations

RUN_STATUSES: tuple[str, ...] = (
    "running",
    "failed",
    "completed",
    "completedWithErrors",
    "completedWithWarnings",
)
OUTPUT_FORMATS: tuple[str, ...] = ("table", "wide", "json", "ndjson", "tsv", "id", "none")
AUTH_MODES: tuple[str, ...] = (
    "auto",
    "token",
    "none",
    "environment",
    "azure-cli",
    "device-code",
    "browser",
    "managed-identity",
    "workload-identity",
    "github-oidc",
)
CLOUD_NAMES: tuple[str, ...] = ("global", "usgov", "dod", "china")
CUSTOM_CLOUD = "custom"
FAIL_ON: tuple[str, ...] = ("errors", "warnings", "never")
PROFILE_KEYS: tuple[str, ...] = (
    "endpoint",
    "cloud",
    "flow",
    "auth",
    "tenant",
    "client_id",
    "output",
    "timeout",
)
HELP_TOPICS: tuple[str, ...] = ("exit-codes", "environment", "formatting", "ci")
SHELLS: tuple[str, ...] = ("bash", "zsh", "fish", "powershell")
CI_ANNOTATIONS: tuple[str, ...] = ("auto", "off")


def words(items: tuple[str, ...], last: str = "or") -> str:
    """``a, b, c or d``: a vocabulary as help text."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"
