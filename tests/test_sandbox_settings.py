"""The fault settings are written once (FAULT_SETTINGS); options, flags and checks follow it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rundctl.sandbox.faults import FAULT_SETTINGS, FaultInjector, FaultOptions, fault_options
from rundctl.sandbox.server import Sandbox, SandboxOptions


def test_every_setting_is_a_fault_option_and_every_fault_option_a_setting() -> None:
    assert [f.name for f in dataclasses.fields(FaultOptions)] == [s.name for s in FAULT_SETTINGS]
    sandbox_fields = {f.name for f in dataclasses.fields(SandboxOptions)}
    assert {s.name for s in FAULT_SETTINGS} <= sandbox_fields


def test_flags_are_distinct_and_described() -> None:
    flags = [s.flag for s in FAULT_SETTINGS]
    assert len(set(flags)) == len(flags)
    for setting in FAULT_SETTINGS:
        assert setting.flag.startswith("--") and setting.help
        assert (setting.metavar == "") == (setting.kind is bool)
        assert setting.kind in (int, float, str, bool)


def test_no_flags_give_the_option_defaults() -> None:
    assert fault_options({}) == FaultOptions().fault_values()
    assert fault_options({s.name: None for s in FAULT_SETTINGS}) == FaultOptions().fault_values()


def test_flag_values_become_sandbox_options() -> None:
    values = {
        "seed": 7,
        "fail_rate": 0.25,
        "fail_codes": "503, 429",
        "retry_after": 2,
        "latency_ms": "10-20",
        "rate_limit": "5/1s",
        "retry_after_strict": True,
        "fault_after_commit": True,
    }
    options = fault_options(values)
    assert options == {
        "seed": 7,
        "fail_rate": 0.25,
        "fail_codes": (503, 429),
        "retry_after": 2.0,
        "latency_ms": (10, 20),
        "rate_limit": (5, 1.0),
        "retry_after_strict": True,
        "fault_after_commit": True,
    }
    sandbox = Sandbox(SandboxOptions(port=0, **options))
    assert sandbox.options.latency_ms == (10, 20)
    injector = FaultInjector(sandbox.options)
    assert injector.active and injector.fail_codes == (503, 429)


@pytest.mark.parametrize(
    ("values", "flag"),
    [
        ({"fail_rate": 1.5}, "--fail-rate"),
        ({"fail_rate": -0.1}, "--fail-rate"),
        ({"fail_rate": "nan"}, "--fail-rate"),
        ({"fail_rate": True}, "--fail-rate"),
        ({"fail_codes": "200"}, "--fail-codes"),
        ({"retry_after": -1}, "--retry-after"),
        ({"latency_ms": "300-100"}, "--latency"),
        ({"rate_limit": "0/1s"}, "--rate-limit"),
        ({"seed": "x"}, "--seed"),
        ({"retry_after_strict": "yes"}, "--retry-after-strict"),
    ],
)
def test_bad_flag_values_name_the_flag(values: dict[str, Any], flag: str) -> None:
    with pytest.raises(ValueError, match=f"^{flag}: "):
        fault_options(values)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="latency"):
        fault_options({"latency": "10"})  # the option is latency_ms; the flag is --latency


def test_the_injector_takes_options_or_keywords_not_both() -> None:
    assert FaultInjector(fail_rate=0.5).fail_rate == 0.5
    with pytest.raises(TypeError):
        FaultInjector(FaultOptions(), fail_rate=0.5)
