"""Bad input ends with exit code 2 and one line on stderr naming the option (or the
setting) and why: no traceback, nothing on stdout, nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cartback import SQLiteStore
from tests.cli.support import ROOT, SECRET_KEY, environment, invoke, run_together


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "cartback.sqlite3"
    SQLiteStore(path).close()
    return path


def test_the_real_command_refuses_bad_input_in_one_line(sqlite_file: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cases = [
        (["export", "--status", "lost"], environment(sqlite_file), ROOT, None, "--status"),
        # Installed from the wheel, away from a checkout: no server_example to run.
        (["demo"], environment(), elsewhere, str(ROOT / "sdk"), "ships with the repository"),
    ]
    outcomes = run_together([case[:4] for case in cases])
    for case, outcome in zip(cases, outcomes, strict=True):
        assert outcome.code == 2, (case, outcome)
        assert outcome.out == b""
        (line,) = outcome.err.splitlines()
        assert line.startswith(f"cartback {case[0][0]}: ")
        assert case[4] in line
    assert os.listdir(elsewhere) == []


@pytest.mark.parametrize(
    ("args", "extra", "named"),
    [
        (["export", "--from", "2026-02-30"], {}, "--from: '2026-02-30' is not a date"),
        (["export", "--to", "yesterday"], {}, "--to: 'yesterday' is not a date"),
        (["export", "--database", "missing.sqlite3"], {}, "--database: no SQLite file"),
        (["export", "--database", ""], {"CARTBACK_DATABASE": ""}, "--database: not given"),
        (["export", "--database", "mysql://shop"], {}, "--database: database is a path"),
        (["export", "--from", "2026-11-05", "--to", "2026-11-04"], {}, "--from: is after --to"),
        (["export", "--email", "a@example.com", "messages"], {}, "--email: filters carts"),
        (["export", "tickets", "--status", "lost"], {}, "invalid choice"),
        (["export", "--from", "2026-11-01", "tickets"], {}, "--from/--to"),
        (["export", "-o", "/no/such/folder/carts.csv"], {}, "--output: cannot write"),
        (["erase", "not an address"], {}, "EMAIL: not a valid email address"),
        (["purge", "--retention-days", "0"], {}, "--retention-days: must be at least 1"),
        (["purge"], {"CARTBACK_RETENTION_DAYS": "ninety"}, "CARTBACK_RETENTION_DAYS"),
        (["replay", "--endpoint", "nope"], {}, "--endpoint: no webhook endpoint"),
        (["replay"], {}, "one of the arguments --endpoint --all --consumer is required"),
        (["replay", "--all", "--consumer", "flows"], {}, "not allowed with"),
        (["tick"], {}, "CARTBACK_SECRET_KEY"),
        (["tick"], {"CARTBACK_SECRET_KEY": "short"}, "CARTBACK_SECRET_KEY"),
        (
            ["tick"],
            {"CARTBACK_SECRET_KEY": SECRET_KEY, "CARTBACK_SMTP_URL": "http://mail"},
            "smtp_url",
        ),
        (
            ["tick", "--config", str(Path(__file__))],  # not JSON
            {"CARTBACK_SECRET_KEY": SECRET_KEY},
            "config: not JSON (line 1)",
        ),
        (
            ["tick", "--config", "missing.json"],
            {"CARTBACK_SECRET_KEY": SECRET_KEY},
            "config: cannot read",
        ),
        (["figures", "--days", "7", "--from", "2026-11-01"], {}, "--days: counts back"),
        (["figures", "--currency", "dollars"], {}, "--currency: 'dollars' is not an ISO 4217"),
        (["figures", "--days", "-1"], {}, "--days: must be at least 1"),
        (["demo", "--port", "http"], {}, "--port"),
        (["nonsense"], {}, "invalid choice"),
    ],
)
def test_bad_input_is_named_in_one_line(
    capsysbinary: pytest.CaptureFixture[bytes],
    sqlite_file: Path,
    args: list[str],
    extra: dict[str, str],
    named: str,
) -> None:
    done = invoke(capsysbinary, *args, env=environment(sqlite_file, **extra))
    assert (done.code, done.out) == (2, b"")
    (line,) = done.err.splitlines()
    assert named in line
    assert line.startswith("cartback")


def test_a_bad_setting_in_the_config_is_named(
    capsysbinary: pytest.CaptureFixture[bytes], sqlite_file: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"shop": {"sender_email": "not an address"}}), encoding="utf-8")
    env = environment(sqlite_file, CARTBACK_SECRET_KEY=SECRET_KEY, CARTBACK_CONFIG=str(config))
    done = invoke(capsysbinary, "tick", env=env)
    assert done.code == 2
    (line,) = done.err.splitlines()
    assert line.startswith("cartback tick: shop: ")
    assert "not an address" not in line  # a value is never repeated back
