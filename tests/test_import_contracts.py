"""The import contracts of pyproject.toml ([tool.importlinter]), one test each: the layers
(services < faq < handlers < bot), chat libraries only in their adapters, no import cycles.

Each contract is checked by import-linter's command in a process of its own: run in the test
process, it reconfigures logging and the tests after it lose their captured logs."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
CONTRACTS = [c["id"] for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract_is_kept(contract: str) -> None:
    done = subprocess.run(
        [str(LINT_IMPORTS), str(PYPROJECT), "--contract", contract, "--no-cache", "--no-logo"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
