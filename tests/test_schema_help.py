"""rundctl schema, rundctl help TOPIC and rundctl version: generated from the code, so they
cannot drift from it.

There is no jsonschema package here: the schema is checked by its structural facts, its
patterns against model.parse_timestamp, and a tiny validator for the keywords it uses,
which must agree with model.validate_run on a table of runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rundctl
from rundctl import about, helptext, model
from rundctl.errors import EXIT_CODE_TABLE, ExitCode
from rundctl.schema import DISPLAY_NAME_PATTERN, TIMESTAMP_PATTERN, run_schema

PACKAGE = Path(rundctl.__file__).parent

# -- a tiny validator for the keywords run_schema() uses ----------------------------------

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}
KNOWN_KEYWORDS = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "default", "examples", "format",
    "type", "enum", "const", "pattern", "minLength", "required", "properties",
    "patternProperties", "additionalProperties", "items", "anyOf", "not", "if", "then",
}


def valid(instance: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    unknown = set(schema) - KNOWN_KEYWORDS
    assert not unknown, f"the tiny validator does not know {unknown}"
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/")
        if not valid(instance, root["$defs"][ref.removeprefix("#/$defs/")], root):
            return False
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](instance) for t in types):
            return False
    if "enum" in schema and instance not in schema["enum"]:
        return False
    if "const" in schema and instance != schema["const"]:
        return False
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            return False
    if isinstance(instance, list) and "items" in schema:
        if not all(valid(item, schema["items"], root) for item in instance):
            return False
    if isinstance(instance, dict):
        if any(key not in instance for key in schema.get("required", [])):
            return False
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key, value in instance.items():
            matched = False
            if key in properties:
                matched = True
                if not valid(value, properties[key], root):
                    return False
            for pattern, sub in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    if not valid(value, sub, root):
                        return False
            if not matched and schema.get("additionalProperties", True) is False:
                return False
    if "anyOf" in schema and not any(valid(instance, s, root) for s in schema["anyOf"]):
        return False
    if "not" in schema and valid(instance, schema["not"], root):
        return False
    if "if" in schema and valid(instance, schema["if"], root) and "then" in schema:
        return valid(instance, schema["then"], root)
    return True


def schema_accepts(instance: Any) -> bool:
    schema = run_schema()
    return valid(instance, schema, schema)


# -- the schema -----------------------------------------------------------------------------


def test_schema_is_json_with_identity() -> None:
    schema = run_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://rundctl.invalid/schema/run.json"
    assert schema["title"] and schema["description"]
    assert {"publicError", "errorDetail", "innerError", "timestamp"} <= set(schema["$defs"])
    assert run_schema() is not run_schema()  # callers may modify their copy


def test_schema_mirrors_the_model_structure() -> None:
    schema = run_schema()
    props = schema["properties"]
    assert schema["type"] == "object"
    assert schema["required"] == list(model.REQUIRED_FIELDS)
    assert set(schema["required"]) == {"displayName", "startDateTime", "status", "statistics"}
    assert set(props) == {*model.RUN_FIELDS, "@odata.type"}
    assert schema["additionalProperties"] is False
    assert list(schema["patternProperties"]) == ["@odata\\."]
    assert schema["not"]["anyOf"] == [{"required": [name]} for name in model.SERVER_FIELDS]
    assert {n for item in schema["not"]["anyOf"] for n in item["required"]} == \
        {"id", "@odata.context", "@odata.etag"}
    assert props["status"]["enum"] == list(model.RUN_STATUSES)
    assert "any case" in props["status"]["description"]
    assert model.RESERVED_STATUS in props["status"]["description"]
    assert model.RESERVED_STATUS not in props["status"]["enum"]
    assert props["displayName"]["type"] == "string" and props["displayName"]["minLength"] == 1
    for name, types in (("startDateTime", "string"), ("endDateTime", ["string", "null"])):
        assert props[name]["type"] == types
        assert props[name]["format"] == "date-time"
        assert props[name]["pattern"] == TIMESTAMP_PATTERN
    assert props["statistics"] == {"type": "object", "description": props["statistics"]["description"]}
    assert props["@odata.type"]["type"] == "string"
    error = schema["$defs"]["publicError"]
    assert set(error["properties"]) == {"code", "message", "target", "details", "innerError",
                                        "@odata.type"}
    assert error["additionalProperties"] is False and "@odata\\." in error["patternProperties"]
    inner = schema["$defs"]["innerError"]
    assert set(inner["properties"]) == {"code", "message", "target", "details", "@odata.type"}
    detail = schema["$defs"]["errorDetail"]
    assert set(detail["properties"]) == {"code", "message", "target", "@odata.type"}


TIMESTAMPS = [
    "2026-11-01T10:00:00Z",
    "2026-11-01T10:00:00+01:00",
    "2026-11-01T10:00:00-05:30",
    "2026-11-01t10:00:00z",
    "2026-11-01T10:00:00.1234567Z",
    "2026-11-01T10:00:00.12345678Z",  # 8 fractional digits
    "2026-11-01T10:00:00",  # naive
    "2026-11-01",  # date only
    "2026-11-01 10:00:00Z",  # space
    "2026-W44-1T10:00:00Z",  # week date
    "20261101T100000Z",  # basic format
    "2026-11-01T10:00:00+0100",  # offset without colon
    "2026-11-01T10:00:00+01",
    "2026-11-01T24:00:00Z",
    "2026-11-01T23:59:60Z",  # leap second
    "2026-02-29T10:00:00Z",  # not a leap year
    "2024-02-29T10:00:00Z",
    "2000-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2026-04-31T10:00:00Z",
    "2026-13-01T10:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-11-01T10:00:00+24:00",
    "2026-11-01T10:00:00Z\n",
    "now",
]


@pytest.mark.parametrize("text", TIMESTAMPS)
def test_timestamp_pattern_agrees_with_parse_timestamp(text: str) -> None:
    try:
        model.parse_timestamp(text)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.fullmatch(TIMESTAMP_PATTERN, text)) is accepted
    assert bool(re.search(TIMESTAMP_PATTERN, text)) is accepted  # as validators apply it


def test_timestamp_table_has_both_outcomes() -> None:
    outcomes = {bool(re.search(TIMESTAMP_PATTERN, t)) for t in TIMESTAMPS}
    assert outcomes == {True, False} and len(TIMESTAMPS) >= 15


def test_documented_gap_utc_overflow() -> None:
    """The one rule the pattern cannot say: the instant must stay in 0001-9999 in UTC."""
    text = "0001-01-01T00:30:00+01:00"
    assert re.search(TIMESTAMP_PATTERN, text)
    with pytest.raises(ValueError, match="out of range"):
        model.parse_timestamp(text)
    assert "0001-9999" in run_schema()["$defs"]["timestamp"]["description"]


@pytest.mark.parametrize("name", ["x", " x ", "Nightly import", "", " ", "\t\n", "\u00a0",
                                  "\u2003x"])
def test_display_name_pattern_agrees_with_the_model(name: str) -> None:
    schema_ok = len(name) >= 1 and re.search(DISPLAY_NAME_PATTERN, name) is not None
    model_ok = not [p for p in model.validate_run(
        {"displayName": name, "startDateTime": "2026-11-01T10:00:00Z", "status": "running",
         "statistics": {}}) if p.path == "displayName"]
    assert schema_ok is model_ok


BASE: dict[str, Any] = {"displayName": "Nightly", "startDateTime": "2026-11-01T10:00:00Z",
                        "status": "completed", "statistics": {"people": 3}}
RUNS: list[dict[str, Any]] = [
    BASE,
    {**BASE, "@odata.type": "#microsoft.industryData.run"},
    {**BASE, "endDateTime": "2026-11-01T11:00:00+01:00"},
    {**BASE, "endDateTime": None},
    {**BASE, "status": "running"},
    {**BASE, "status": "running", "endDateTime": "2026-11-01T11:00:00Z"},
    {**BASE, "status": "unknownFutureValue"},
    {**BASE, "status": "complete"},
    {**BASE, "displayName": "   "},
    {**BASE, "displayName": 5},
    {**BASE, "startDateTime": "2026-11-01T10:00:00"},
    {**BASE, "statistics": []},
    {**BASE, "statistics": {"nested": {"any": [1, "x", None]}}},
    {k: v for k, v in BASE.items() if k != "statistics"},
    {k: v for k, v in BASE.items() if k != "displayName"},
    {**BASE, "dispalyName": "typo"},
    {**BASE, "id": "8c3c1e9a-1f2b-4c8d-9e0f-123456789abc"},
    {**BASE, "@odata.context": "https://graph/$metadata#runs/$entity"},
    {**BASE, "@odata.etag": "W/\"1\""},
    {**BASE, "statistics@odata.type": "#microsoft.industryData.runStatistics"},
    {**BASE, "@odata.type": 7},
    {**BASE, "blockingError": None},
    {**BASE, "blockingError": {"code": "E1", "message": "bad", "target": None,
                               "details": [{"code": "d", "message": "m", "target": "t"}],
                               "innerError": {"code": "i", "details": None}}},
    {**BASE, "blockingError": {"code": 5}},
    {**BASE, "blockingError": {"cde": "x"}},
    {**BASE, "blockingError": {"details": [{"code": "d", "extra": 1}]}},
    {**BASE, "blockingError": {"details": "not a list"}},
    {**BASE, "blockingError": {"innerError": {"innerError": {}}}},
    {**BASE, "blockingError": {"details@odata.type": "#Collection(x)", "@odata.type": "#x"}},
    {**BASE, "blockingError": "oops"},
    {**BASE, "blockingError": {"details": ["not an object"]}},
]


@pytest.mark.parametrize("index", range(len(RUNS)))
def test_schema_and_model_agree_on_runs(index: int) -> None:
    run = RUNS[index]
    assert schema_accepts(run) is (model.validate_run(run) == []), run


def test_schema_is_stricter_only_where_documented() -> None:
    # rundctl accepts any case of a status; the schema lists the canonical spelling.
    lower = {**BASE, "status": "COMPLETED"}
    assert model.validate_run(lower) == [] and not schema_accepts(lower)
    # end before start: rundctl checks it; JSON Schema cannot compare two fields.
    backwards = {**BASE, "endDateTime": "2026-11-01T09:00:00Z"}
    assert model.validate_run(backwards) != [] and schema_accepts(backwards)
    assert "endDateTime is not before startDateTime" in run_schema()["description"]


def test_schema_examples_are_valid_runs() -> None:
    examples = run_schema()["examples"]
    assert examples
    for example in examples:
        assert model.validate_run(example) == []
        assert schema_accepts(example)


def test_patterns_avoid_python_only_syntax() -> None:
    """ECMA-262 (what JSON Schema validators use) has no (?P<...>), \\A, \\Z or inline flags."""
    text = json.dumps(run_schema())
    for pattern in re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', text):
        assert "(?P" not in pattern and "\\\\A" not in pattern and "\\\\Z" not in pattern
        assert not re.search(r"\(\?[aiLmsux]", pattern)


# -- help topics ------------------------------------------------------------------------------


def test_every_topic_exists() -> None:
    assert helptext.topic_names() == ["exit-codes", "environment", "formatting", "ci"]
    for name in helptext.topic_names():
        text = helptext.TOPICS[name]
        assert text.strip() and text.endswith("\n")


@pytest.mark.parametrize("name", ["exit-codes", "environment", "formatting", "ci"])
def test_topics_are_plain_text_within_90_columns(name: str) -> None:
    text = helptext.TOPICS[name]
    assert "\x1b" not in text and "\t" not in text
    assert not re.search(r"\[/?(bold|italic|dim|red|green|yellow|cyan|link)\b", text)
    long = [line for line in text.splitlines() if len(line) > 90]
    assert not long


def test_exit_codes_topic_lists_every_code() -> None:
    text = helptext.TOPICS["exit-codes"]
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"^  (\d+) .*$", text, re.M)}
    assert sorted(rows) == sorted(code for code, _, _ in EXIT_CODE_TABLE)
    assert sorted(rows) == sorted(int(code) for code in ExitCode)
    for code, meaning, safe in EXIT_CODE_TABLE:
        assert rows[code].rstrip().endswith(safe)
        assert " ".join(meaning.split()[:3]) in rows[code]


def _source_names(pattern: str) -> set[str]:
    """Names matching ``pattern`` in the package's code (the help pages themselves excluded)."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name != "helptext.py":
            names.update(re.findall(pattern, path.read_text(encoding="utf-8")))
    return names


def _mentioned(name: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None


def test_environment_topic_mentions_every_rundctl_variable() -> None:
    # _RUNDCTL_COMPLETE (Click's completion switch) is matched with its underscore.
    names = _source_names(r"_?RUNDCTL_[A-Z_]+") | {"RUNDCTL_PROFILE", "RUNDCTL_CONFIG_DIR"}
    assert {"RUNDCTL_ENDPOINT", "RUNDCTL_TOKEN", "RUNDCTL_AUTH"} <= names
    text = helptext.TOPICS["environment"]
    missing = sorted(name for name in names if not _mentioned(name, text))
    assert not missing


def test_environment_topic_mentions_every_other_variable_read() -> None:
    names = _source_names(r"\b(?:AZURE|ACTIONS_ID_TOKEN|XDG|GITHUB)_[A-Z_]+\b")
    names -= {"AZURE_"}
    names |= {"NO_COLOR", "FORCE_COLOR", "TERM", "CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY",
              "REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "HTTPS_PROXY",
              "NO_PROXY", "XDG_CONFIG_HOME", "XDG_DATA_HOME"}
    text = helptext.TOPICS["environment"]
    missing = sorted(name for name in names if not _mentioned(name, text))
    assert not missing
    assert "flag > environment > profile > default" in text


def test_environment_names_are_unique() -> None:
    names = helptext.environment_names()
    assert len(names) == len(set(names))


def test_formatting_topic() -> None:
    from rundctl.render import TSV_COLUMNS
    from rundctl.settings import OUTPUT_FORMATS

    text = helptext.TOPICS["formatting"]
    for fmt in OUTPUT_FORMATS:
        assert re.search(rf"^  {fmt}\b", text, re.M), fmt
    assert " ".join(TSV_COLUMNS) in text
    for needle in ("no header", "\\t", "\\n", "\\r", "\\\\", "NO_COLOR", "FORCE_COLOR",
                   "TERM=dumb", "stdout carries data only", "stderr", "ONE array",
                   "one compact JSON object per line", "rundctl: error:"):
        assert needle in text, needle


def test_ci_topic() -> None:
    text = helptext.TOPICS["ci"]
    for needle in ("id-token: write", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "github-oidc",
                   "AzureCLI@2", "--auth azure-cli", "--auth environment", "::error",
                   "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS=true", "--ci-annotations off",
                   "--status running", "--status \"$STATUS\" --end now"):
        assert needle in text, needle
    for code in range(13, 18):
        assert re.search(rf"^\s+{code}\)", text, re.M), code


# -- version info and cheap imports ------------------------------------------------------------


def test_versions() -> None:
    info = about.versions()
    assert list(info) == ["rundctl", "python", "platform", "typer", "rich", "requests",
                          "azure-identity", "msal", "urllib3", "jmespath"]
    assert info["rundctl"] == rundctl.__version__
    assert info["python"] and info["python"].startswith(".".join(map(str, sys.version_info[:2])))
    assert all(info[name] for name in about.PACKAGES)  # installed in the test venv
    assert about.package_version("surely-not-installed-rundctl-xyz") is None


def test_these_modules_import_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import rundctl.about, rundctl.schema, rundctl.helptext, rundctl.doctor\n"
        "rundctl.about.versions(); rundctl.schema.run_schema()\n"
        "heavy = {'requests', 'azure', 'rich', 'typer', 'msal', 'urllib3'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
