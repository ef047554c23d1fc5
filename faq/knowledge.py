"""The knowledge base: one YAML file per intent under `faq/kb/`, edited by support leads.

Each file holds the intent id, a short title per language (used on buttons and in the topic
menu), the action the answer offers (if any), the answer as a Jinja2 template per language,
and example phrasings per language. `out_of_scope.yaml` holds only examples: questions the
bot must not answer (chit-chat, near misses). An intent marked `redirect: true` is out of
scope too, but common enough to deserve its own reply that says where to go instead (buyers'
own orders go to Joom's buyer support, other marketplaces to their own support): it has
examples, a title and an answer like any intent, and never an action.

Answers render policy values from configuration (`{{ policy.store_limit }}`), so the FAQ and
the service that enforces a rule quote the same number. Templates are written by staff;
user text is never rendered as a template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from services.cities import city_name
from services.policy import Policy

BUNDLED_DIR = Path(__file__).resolve().parent / "kb"
# libyaml's safe loader when PyYAML has it (5× faster: start-up reads every file), else Python's.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LANGUAGES = ("zh", "en")
OUT_OF_SCOPE = "out_of_scope"

# What an answer may offer; the conversation core maps each to a flow.
ACTIONS = {
    "send_reset_link",
    "change_email",
    "show_limits",
    "open_store",
    "request_increase",
    "show_stores",
    "book_pickup",
    "hand_off",
}


class KnowledgeBaseError(Exception):
    """A knowledge-base file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Intent:
    id: str
    title: dict[str, str]
    answer: dict[str, str]
    examples: dict[str, tuple[str, ...]]
    action: str | None = None
    source: Path | None = None
    # Out of scope, answered with where to go instead (see the module docstring).
    redirect: bool = False


@dataclass
class KnowledgeBase:
    intents: dict[str, Intent]
    negatives: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _env: SandboxedEnvironment = field(default_factory=lambda: _environment(), repr=False)
    # Compiled answers, by intent and language: compiling a template costs a hundred times more
    # than rendering it.
    _compiled: dict[tuple[str, str], Template] = field(default_factory=dict, repr=False)
    # Rendered answers without extra values, by intent and language, with the policy they were
    # rendered for: an answer depends on nothing else, and the policy is frozen.
    _rendered: dict[tuple[str, str], tuple[Policy, str]] = field(default_factory=dict, repr=False)

    def render(self, intent_id: str, lang: str, policy: Policy, **extra: Any) -> str:
        """The answer of an intent in a language, with policy values filled in."""
        if not extra and (done := self._rendered.get((intent_id, lang))) is not None and done[0] is policy:
            return done[1]
        template = self._compiled.get((intent_id, lang))
        if template is None:
            template = self._env.from_string(self.intents[intent_id].answer[lang])
            self._compiled[(intent_id, lang)] = template
        text = template.render(policy=policy, lang=lang, **extra).strip()
        if not extra:
            self._rendered[(intent_id, lang)] = (policy, text)
        return text

    def labelled_examples(self) -> list[tuple[str, str]]:
        """(text, intent) pairs for training, negatives labelled `out_of_scope`."""
        pairs = [
            (text, intent.id)
            for intent in self.intents.values()
            for lang in LANGUAGES
            for text in intent.examples.get(lang, ())
        ]
        pairs += [(text, OUT_OF_SCOPE) for lang in LANGUAGES for text in self.negatives.get(lang, ())]
        return pairs

    @property
    def redirects(self) -> frozenset[str]:
        """The intents that answer an out-of-scope question with where to go instead."""
        return frozenset(i.id for i in self.intents.values() if i.redirect)


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["city"] = city_name  # {{ "Shenzhen" | city(lang) }} -> 深圳 / Shenzhen
    env.filters["cities"] = lambda cities, lang: ("、" if lang == "zh" else ", ").join(
        city_name(c, lang) for c in cities
    )
    return env


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise KnowledgeBaseError(f"{where}: expected a list of phrases")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _per_language(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise KnowledgeBaseError(f"{path.name}: '{key}' must have a 'zh' and an 'en' entry")
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        raise KnowledgeBaseError(f"{path.name}: '{key}' has unknown language(s) {sorted(unknown)}")
    return value


def load_intent_file(path: Path) -> Intent | tuple[str, ...] | dict[str, tuple[str, ...]]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{path.name}: not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise KnowledgeBaseError(f"{path.name}: not a UTF-8 text file") from None
    if not isinstance(data, dict) or not isinstance(data.get("intent"), str):
        raise KnowledgeBaseError(f"{path.name}: must start with 'intent: <id>'")
    examples = {
        lang: _texts(v, f"{path.name}: examples.{lang}")
        for lang, v in _per_language(data, "examples", path).items()
    }
    if data["intent"] == OUT_OF_SCOPE:
        return examples
    action = data.get("action")
    if action is not None and action not in ACTIONS:
        raise KnowledgeBaseError(f"{path.name}: unknown action '{action}' (one of {sorted(ACTIONS)})")
    redirect = data.get("redirect", False)
    if not isinstance(redirect, bool):
        raise KnowledgeBaseError(f"{path.name}: 'redirect' must be true or false")
    if redirect and action is not None:
        # the question is outside what the bot does: there is nothing for it to do
        raise KnowledgeBaseError(f"{path.name}: a redirect intent cannot offer an action")
    answer = _per_language(data, "answer", path)
    title = _per_language(data, "title", path)
    for name, value in (("answer", answer), ("title", title)):
        for lang, text in value.items():
            if not isinstance(text, str) or not text.strip():
                raise KnowledgeBaseError(f"{path.name}: {name}.{lang} must be non-empty text")
    return Intent(
        id=data["intent"],
        title={k: v.strip() for k, v in title.items()},
        answer=dict(answer),
        examples=examples,
        action=action,
        source=path,
        redirect=redirect,
    )


def load_knowledge_base(directory: str | Path | None = None) -> KnowledgeBase:
    """Read every `*.yaml` file of the folder (default: the bundled base)."""
    folder = Path(directory) if directory else BUNDLED_DIR
    if not folder.is_dir():
        raise KnowledgeBaseError(f"knowledge base folder not found: {folder}")
    intents: dict[str, Intent] = {}
    negatives: dict[str, tuple[str, ...]] = {}
    for path in sorted(folder.glob("*.yaml")):
        loaded = load_intent_file(path)
        if isinstance(loaded, Intent):
            if loaded.id in intents:
                other = intents[loaded.id].source
                raise KnowledgeBaseError(f"{path.name}: intent '{loaded.id}' is also in {other}")
            intents[loaded.id] = loaded
        else:
            for lang, texts in loaded.items():
                negatives[lang] = negatives.get(lang, ()) + texts
    if not intents:
        raise KnowledgeBaseError(f"no intent files (*.yaml) in {folder}")
    return KnowledgeBase(intents=intents, negatives=negatives)


def check_template(kb: KnowledgeBase, intent_id: str, lang: str, policy: Policy) -> str | None:
    """None if the answer renders with this policy, else the error, for `sellerbot faq check`."""
    try:
        kb.render(intent_id, lang, policy)
    except (TemplateError, KeyError, TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
