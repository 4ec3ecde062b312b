"""The operator commands and `history` meet an unreachable journal with one clear line and
exit 1, as `once` and `explain` do: no traceback, and nothing of what the failing answer
quoted that is a secret (the endpoint here quotes the request's headers, session token
included)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.integration.test_engine_support import config_dict
from tests.integration.test_planted_secrets import KEY, SESSION, endpoint_quoting_its_request
from watcher.cli import main
from watcher.clock import ManualClock

COMMANDS = [
    ["proposals"],
    ["pause", "--reason", "maintenance"],
    ["resume"],
    ["approve", "p-0000"],
    ["reject", "p-0000"],
    ["history"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_an_unreachable_journal_is_one_line_and_exit_1(
    argv: list[str],
    t0: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION)
    monkeypatch.delenv("AWS_SECURITY_TOKEN")  # botocore would send this one instead
    path = tmp_path / "watcher.yaml"
    data = config_dict(tmp_path / "unused.db", state={"journal": "dynamodb://plan-watcher"})
    path.write_text(yaml.safe_dump(data))
    with endpoint_quoting_its_request() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        code = main([*argv, "--config", str(path)], clock=ManualClock(t0))
    out, err = capsys.readouterr()

    assert code == 1, out + err
    assert "plan-watcher: the journal is unavailable: DynamoDB journal" in err, err[-2000:]
    assert "Traceback" not in err
    assert SESSION not in out + err and KEY not in out + err
