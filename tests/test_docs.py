"""The documentation stays true to the code: every rule the code cites is in docs/domain.md, every
function and test named there exists, no file points outside the repository, and every relative
link of a Markdown page (the README, docs/, the notes beside the code) leads somewhere."""

from __future__ import annotations

import ast
import importlib
import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

from services.results import Rule

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ROOT / "docs" / "domain.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

# Folders that are not the project's own files (tools, caches, local data).
NOT_THE_PROJECT = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".benchmarks",
    "build",
    "dist",
}
# Design notes that once lived beside the repository; written here in pieces so that this file
# does not name them itself.
OUTSIDE_NOTES = [name + ".md" for name in ("DOMAIN", "ARCHITECTURE", "INTENTS", "MATCHING")]
OUTSIDE_FOLDER = ".." + "/shared"

TABLE_ROW = re.compile(r'^\| <a id="(?P<id>[a-z0-9_]+)"></a>`(?P=id)` \| (?P<rule>.+?) \| (?P<cells>.+) \|$')
CITATION = re.compile(r"docs/domain\.md#([a-z0-9_]+)")
PAGE_CITATION = re.compile(r"docs/([a-z_]+\.md)(?:#([\w-]+))?")
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def project_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if parts[0] == "data" or any(
            part in NOT_THE_PROJECT or part.endswith(".egg-info") for part in parts[:-1]
        ):
            continue  # /data/ is a developer's local data folder
        if path.is_file() and path.stat().st_size < 2_000_000:
            files.append(path)
    return files


def pages() -> list[Path]:
    """Every Markdown page of the project: the README, docs/ and the notes beside the code."""
    return sorted(path for path in project_files() if path.suffix == ".md")


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # an image, a model file


@cache
def domain_rows() -> dict[str, tuple[str, str]]:
    """rule id -> (enforcing function, test) of every row of docs/domain.md's tables."""
    rows: dict[str, tuple[str, str]] = {}
    for line in DOMAIN.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| <a id="):
            continue
        match = TABLE_ROW.match(line)
        assert match, f"docs/domain.md: a rule row is not `| id | rule | function | test |`: {line}"
        cells = [cell.strip().strip("`") for cell in match["cells"].split(" | ")]
        assert len(cells) == 2, f"docs/domain.md: {match['id']} needs one function and one test"
        assert match["id"] not in rows, f"docs/domain.md: {match['id']} is listed twice"
        rows[match["id"]] = (cells[0], cells[1])
    return rows


def anchors(page: Path) -> set[str]:
    """The targets a link may name in a page: explicit ids and GitHub's heading anchors."""
    text = page.read_text(encoding="utf-8")
    found = set(re.findall(r'<a id="([^"]+)"></a>', text))
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (heading := re.match(r"#{1,6} (.+)", line)):
            words = heading[1].strip().lower().replace("`", "")
            kept = "".join(ch for ch in words if ch in " -_" or unicodedata.category(ch)[0] in "LN")
            found.add(kept.replace(" ", "-"))
    return found


def test_the_rule_table_is_not_empty_and_names_every_refusal() -> None:
    assert len(domain_rows()) >= len(Rule)
    missing = sorted(rule.value for rule in Rule if rule.value not in domain_rows())
    assert not missing, f"refusal rules of services.results.Rule missing from docs/domain.md: {missing}"


def test_every_rule_cited_in_the_code_is_in_the_table() -> None:
    """Code cites a rule as docs/domain.md#<rule id>; a Markdown page's links are checked below."""
    cited: dict[str, list[str]] = {}
    for path in project_files():
        if path.suffix != ".md" and (text := text_of(path)) is not None:
            for rule_id in CITATION.findall(text):
                cited.setdefault(rule_id, []).append(str(path.relative_to(ROOT)))
    assert len(cited) >= 10, "the services cite their rules as docs/domain.md#<rule id>"
    unknown = {rule_id: files for rule_id, files in cited.items() if rule_id not in domain_rows()}
    assert not unknown, f"cited rules missing from docs/domain.md: {unknown}"


def test_every_page_the_code_cites_exists_with_its_anchor() -> None:
    broken = []
    for path in project_files():
        if path.suffix != ".md" and (text := text_of(path)) is not None:
            for page, anchor in PAGE_CITATION.findall(text):
                target = ROOT / "docs" / page
                if not target.exists() or (anchor and anchor not in anchors(target)):
                    broken.append(f"{path.relative_to(ROOT)}: docs/{page}#{anchor}")
    assert not broken, f"citations of pages or sections that do not exist: {broken}"


@pytest.mark.parametrize("rule_id", sorted(domain_rows()))
def test_the_function_and_the_test_of_a_rule_exist(rule_id: str) -> None:
    function, test = domain_rows()[rule_id]
    module_name, _, name = function.rpartition(".")
    assert callable(getattr(importlib.import_module(module_name), name, None)), f"{rule_id}: no {function}"
    file, _, test_name = test.partition("::")
    tree = ast.parse((ROOT / file).read_text(encoding="utf-8"))
    tests = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    assert test_name.startswith("test") and test_name in tests, f"{rule_id}: no {test}"


def test_no_file_points_outside_the_repository() -> None:
    offenders = []
    for path in project_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_FOLDER in line or any(note in line for note in OUTSIDE_NOTES):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "references to files outside the repository:\n" + "\n".join(offenders)


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_an_anchor(page: Path) -> None:
    broken = []
    for match in LINK.finditer(page.read_text(encoding="utf-8")):
        target = match["target"]
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        destination = (page.parent / file).resolve() if file else page
        if not destination.exists():
            broken.append(target)
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_the_readme_leads_to_every_page_of_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {(ROOT / m["target"].partition("#")[0]).resolve() for m in LINK.finditer(readme)}
    missing = [page.name for page in DOCS if page.resolve() not in linked]
    assert not missing, f"README.md does not link to docs/{missing}"
