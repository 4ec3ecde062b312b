"""The CloudFormation templates under deploy/ecs and deploy/dynamodb pass cfn-lint, AWS's own
linter (resource schemas, property types, references, best practices), with no rule disabled
unless it is named in DISABLED with its reason. The hand-written tests beside this one check
what the templates mean; this checks that CloudFormation will take them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = (REPO / "deploy" / "ecs", REPO / "deploy" / "dynamodb")
# cfn-lint rule id -> why it does not apply to these templates. Empty: every rule applies.
DISABLED: dict[str, str] = {}


def templates() -> list[Path]:
    """Every CloudFormation template in those directories."""
    found = [
        path
        for directory in TEMPLATE_DIRS
        for path in sorted(directory.iterdir())
        if path.suffix in (".yaml", ".yml", ".json", ".template")
        and "Resources" in path.read_text()
    ]
    assert found, "no CloudFormation template found"
    return found


def cfn_lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    program = Path(sys.executable).with_name("cfn-lint")
    found = str(program) if program.exists() else shutil.which("cfn-lint")
    assert found, "cfn-lint not found: install the dev extras"
    ignore = ["--ignore-checks", *DISABLED] if DISABLED else []
    return subprocess.run(
        [found, "--format", "parseable", *ignore, "--", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


@pytest.mark.parametrize("template", templates(), ids=lambda p: str(p.relative_to(REPO)))
def test_template_passes_cfn_lint(template: Path) -> None:
    done = cfn_lint(template)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_reports_a_broken_template(tmp_path: Path) -> None:
    # The check above can fail: a template with misspelt AWS types does.
    original = next(p for p in templates() if p.suffix in (".yaml", ".yml"))
    broken = tmp_path / original.name
    broken.write_text(original.read_text().replace("Type: AWS::", "Type: AWS::Not"))
    done = cfn_lint(broken)
    assert done.returncode != 0 and ":E3006:" in done.stdout, done.stdout + done.stderr


def test_every_disabled_rule_has_a_reason() -> None:
    for rule, reason in DISABLED.items():
        assert rule[:1] in "EWI" and rule[1:].isdigit() and len(reason.split()) >= 5, rule
