"""`make test` passes where none of the outside programs is installed, and says what it skipped.

Every test module that names one of the programs in tests/programs.py (the image tests too)
runs again in a child pytest whose PATH holds everything this machine has except those
programs. It must pass, and end with one line per program: a test that calls a program
without `require_program` fails here with "No such file or directory" even on a machine that
has them all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.programs import PROGRAMS, STRICT_VARIABLE

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve()
_NAMED = re.compile(r"require_program\(|[\"'](?:" + "|".join(map(re.escape, PROGRAMS)) + r")[\"']")


def modules_naming_a_program() -> list[Path]:
    """Test modules that name a program, or whose directory's conftest.py does."""
    tests = REPO / "tests"
    by_conftest = [
        c.parent
        for c in tests.rglob("conftest.py")
        if c.parent != tests and _NAMED.search(c.read_text())
    ]
    return sorted(
        path
        for path in tests.rglob("test_*.py")
        if path != HERE
        and (_NAMED.search(path.read_text()) or any(d in path.parents for d in by_conftest))
    )


def path_without_programs(shadow: Path) -> str:
    """A one-directory PATH: links to every executable on PATH but the outside programs."""
    shadow.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            target = os.path.join(directory, entry)
            link = shadow / entry
            if entry in PROGRAMS or link.exists() or link.is_symlink():
                continue
            if os.path.isfile(target) and os.access(target, os.X_OK):
                link.symlink_to(target)
    return str(shadow)


def test_the_suite_passes_and_names_what_it_skipped_without_outside_programs(
    tmp_path: Path,
) -> None:
    modules = modules_naming_a_program()
    # The modules known to drive outside programs must be among them (the pattern works).
    for known in ("test_prometheus_rules.py", "test_prometheus_scrape.py", "test_image.py"):
        assert any(m.name == known for m in modules), known
    env = {k: v for k, v in os.environ.items() if k != STRICT_VARIABLE}
    env["PATH"] = path_without_programs(tmp_path / "bin")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "image or not image"]
        + [str(m) for m in modules],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    last_lines = output.strip().splitlines()[-len(PROGRAMS) :]
    for program in PROGRAMS.values():
        line = f"{program.name} not on PATH: skipped {program.checks}; "
        line += f"install Debian package {program.package}"
        assert line in last_lines, f"no summary line for {program.name}:\n{output[-3000:]}"


def test_ci_installs_every_program_and_requires_them() -> None:
    script = (REPO / ".ci" / "run").read_text()
    installed = dict(re.findall(r"^\s*\[([\w-]+)\]=([\w.+-]+)\s*$", script, re.MULTILINE))
    assert installed == {p.name: p.package for p in PROGRAMS.values()}
    assert f"export {STRICT_VARIABLE}=1" in script


def test_the_readme_names_every_program_and_its_package() -> None:
    readme = (REPO / "README.md").read_text()
    for program in PROGRAMS.values():
        assert f"| `{program.name}` | `{program.package}` |" in readme, program.name
    assert STRICT_VARIABLE in readme
