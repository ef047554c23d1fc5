"""The import contracts of pyproject.toml ([tool.importlinter]), one test each: the layers
(services < faq < handlers < bot), chat libraries only in their adapters, no import cycles."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
CONTRACTS = [c["id"] for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]]


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract_is_kept(contract: str, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = lint_imports(str(PYPROJECT), limit_to_contracts=(contract,), no_cache=True, no_logo=True)
    assert exit_code == 0, capsys.readouterr().out
