"""`sellerbot classify` and `sellerbot faq …`: the intent matcher from the command line.

`sellerbot classify [--train FILE.jsonl]` reads JSON lines with a `text` key on stdin and
writes, for each, one JSON line in the same order:

    {"text", "intent", "score", "decision", "candidates": [{"intent", "score"}, ...], "lang"}

`intent` is `out_of_scope` when the decision is `fallback`. Blank input lines are skipped. A
line that cannot be used (not JSON, not an object, no `text` string, over 10,000 characters,
not UTF-8) gets `{"line": N, "error": "..."}` in its place, so output lines still pair with
input lines; each is also reported on stderr, and the command then exits 2. An empty input
or a bad `--train` file is reported on stderr and exits 2 before anything is written.

`sellerbot faq check` lints the knowledge base (exit 1 on errors); `sellerbot faq eval FILE`
measures the matcher on labelled JSON lines; `sellerbot faq build` trains the matcher into the
cache ahead of the first start (e.g. when deploying a new knowledge base).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import BinaryIO

import click

from bot.commands.shared import fail, with_settings
from bot.config import Settings
from faq.evaluate import MAX_LINE_CHARS, DataError, evaluate, read_labelled
from faq.knowledge import KnowledgeBaseError, load_knowledge_base
from faq.matcher import Matcher, MatcherError

EXIT_LINT_ERRORS = 1


def cache_dir(settings: Settings) -> Path:
    return settings.data_path / "cache"


def build_matcher(settings: Settings, train: str | None) -> Matcher:
    """The matcher from a --train file, else from the configured knowledge base; exits 2 on bad input."""
    try:
        if train:
            rows = read_labelled(train)
            pairs = [(r["text"], r["intent"].strip()) for r in rows]
            return Matcher.train(pairs, settings.matcher, cache_dir=cache_dir(settings))
        kb = load_knowledge_base(settings.matcher.knowledge_base_dir or None)
        return Matcher.from_knowledge_base(kb, settings.matcher, cache_dir=cache_dir(settings))
    except (DataError, KnowledgeBaseError, MatcherError) as exc:
        fail(f"--train {exc}" if train and isinstance(exc, MatcherError) else str(exc))


def _lines(stream: BinaryIO):
    """(line number, decoded line or None, error or None) of a byte stream, bounded per line."""
    limit = MAX_LINE_CHARS * 4 + 2  # UTF-8 bytes
    number = 0
    while True:
        raw = stream.readline(limit)
        if not raw:
            return
        number += 1
        if not raw.endswith(b"\n") and len(raw) >= limit:
            while raw and not raw.endswith(b"\n"):  # skip the rest of the over-long line
                raw = stream.readline(limit)
            yield number, None, f"line longer than {MAX_LINE_CHARS} characters"
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None, "not UTF-8"
            continue
        if len(text) > MAX_LINE_CHARS + 2:
            yield number, None, f"line longer than {MAX_LINE_CHARS} characters"
            continue
        yield number, text, None


def _question(line: str) -> tuple[str | None, str | None]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg})"
    if not isinstance(row, dict):
        return None, 'expected a JSON object with a "text" key'
    if "text" not in row:
        return None, 'no "text" key'
    if not isinstance(row["text"], str):
        return None, '"text" must be a string'
    return row["text"], None


@click.command()
@click.option(
    "--train",
    type=click.Path(dir_okay=False),
    default=None,
    help='Build the matcher from this JSON-lines file ({"text", "intent"}; intent out_of_scope marks '
    "negative examples) instead of the knowledge base.",
)
@with_settings
def classify(settings: Settings, train: str | None) -> None:
    """Classify questions: JSON lines with a "text" key on stdin, one JSON result per line on stdout."""
    matcher = build_matcher(settings, train)
    stdin = sys.stdin.buffer
    out = sys.stdout.buffer  # UTF-8 whatever the locale
    seen = bad = 0
    for number, line, error in _lines(stdin):
        if line is not None and not line.strip():
            continue
        seen += 1
        text = None
        if error is None and line is not None:
            text, error = _question(line)
        if error is not None or text is None:
            bad += 1
            click.echo(f"error: line {number}: {error}", err=True)
            out.write(
                json.dumps({"line": number, "error": error}, ensure_ascii=False).encode(
                    "utf-8", "backslashreplace"
                )
                + b"\n"
            )
        else:
            out.write(
                json.dumps(matcher.match(text).to_dict(), ensure_ascii=False).encode(
                    "utf-8", "backslashreplace"
                )
                + b"\n"
            )
        out.flush()
    if seen == 0:
        fail('no input: expected JSON lines with a "text" key on stdin')
    if bad:
        fail(f"{bad} of {seen} input lines could not be classified (see the error lines above)")


@click.group()
def faq() -> None:
    """The FAQ knowledge base and the intent matcher."""


@faq.command()
@click.option("--kb", "kb_dir", type=click.Path(file_okay=False), default=None, help="Knowledge-base folder.")
@with_settings
def check(settings: Settings, kb_dir: str | None) -> None:
    """Lint the knowledge base: exits 1 if it has errors."""
    from faq.check import check_knowledge_base

    folder = kb_dir or settings.matcher.knowledge_base_dir or None
    try:
        kb = load_knowledge_base(folder)
    except KnowledgeBaseError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_LINT_ERRORS) from None
    result = check_knowledge_base(kb, settings.policy)
    for line in result.errors:
        click.echo(f"error: {line}", err=True)
    for line in result.warnings:
        click.echo(f"warning: {line}", err=True)
    examples = len(kb.labelled_examples())
    summary = (
        f"{len(kb.intents)} intents, {examples} examples: "
        f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    )
    click.echo(summary)
    if not result.ok:
        raise SystemExit(EXIT_LINT_ERRORS)


@faq.command()
@click.option(
    "--train",
    type=click.Path(dir_okay=False),
    default=None,
    help="Build the matcher from this JSON-lines file instead of the knowledge base.",
)
@with_settings
def build(settings: Settings, train: str | None) -> None:
    """Train the matcher now and keep it in the cache (so that the next start loads it)."""
    if not settings.matcher.cache:
        fail("the matcher cache is off ([matcher] cache = false): nothing to build")
    start = time.perf_counter()
    matcher = build_matcher(settings, train)
    seconds = time.perf_counter() - start
    click.echo(
        f"{len(matcher.intents)} intents, {len(matcher.model.vocabulary)} features; "
        f"ready in {seconds:.2f} s; cache: {cache_dir(settings)}"
    )


@faq.command(name="eval")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--train",
    type=click.Path(dir_okay=False),
    default=None,
    help="Build the matcher from this JSON-lines file instead of the knowledge base.",
)
@click.option("--worst", default=10, show_default=True, help="How many confusions to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@with_settings
def eval_(settings: Settings, file: str, train: str | None, worst: int, as_json: bool) -> None:
    """Measure the matcher on labelled JSON lines ({"text", "intent"}, intent out_of_scope for negatives)."""
    try:
        rows = read_labelled(file)
    except DataError as exc:
        fail(str(exc))
    matcher = build_matcher(settings, train)
    # The base's redirect intents decline out-of-scope questions (saying where to go instead);
    # a --train file has none.
    redirects = () if train else load_knowledge_base(settings.matcher.knowledge_base_dir or None).redirects
    report, _ = evaluate(matcher, rows, redirects)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        for line in report.lines(worst):
            click.echo(line)
