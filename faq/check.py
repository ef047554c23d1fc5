"""Lint of the knowledge base (`sellerbot faq check`; CI runs it).

Errors (the base must not ship): a required intent missing, an intent without examples or a
title or an answer in one of the languages, an answer template that fails to render with the
configured policy, the same example (after normalisation) under two intents or under an
intent and the out-of-scope examples. Warnings: an intent id that the catalogue does not
list (redirect intents, out of scope by design, are not in it), few examples in a language,
an example repeated within an intent, no out-of-scope examples in a language.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from faq.knowledge import LANGUAGES, OUT_OF_SCOPE, KnowledgeBase, check_template
from faq.normalize import normalize
from services.policy import Policy

# The intent catalogue (docs/domain.md, "Intents"): every id must have a file in the base.
REQUIRED_INTENTS = (
    "registration",
    "seller_eligibility",
    "required_documents",
    "kyc",
    "payment_account",
    "fees",
    "payouts",
    "password_reset",
    "change_email",
    "multiple_accounts",
    "store_limits",
    "open_store",
    "quota_increase",
    "store_management",
    "store_specialization",
    "shipping_pickup",
    "listing_rules",
    "erp_integration",
    "mobile_access",
    "human_agent",
    "smalltalk",
)
# Fewer examples than this in a language is a warning: the matcher generalises poorly.
MIN_EXAMPLES = 10


@dataclass
class CheckResult:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_knowledge_base(kb: KnowledgeBase, policy: Policy | None = None) -> CheckResult:
    policy = policy or Policy()
    result = CheckResult()
    for intent_id in REQUIRED_INTENTS:
        if intent_id not in kb.intents:
            result.errors.append(f"{intent_id}: required intent has no file in the knowledge base")
    owners: dict[str, set[str]] = defaultdict(set)
    for intent_id, intent in sorted(kb.intents.items()):
        where = intent.source.name if intent.source else intent_id
        if intent_id == OUT_OF_SCOPE:
            continue
        if intent_id not in REQUIRED_INTENTS and not intent.redirect:
            result.warnings.append(f"{where}: intent '{intent_id}' is not in the intent catalogue")
        for lang in LANGUAGES:
            examples = intent.examples.get(lang, ())
            if not examples:
                result.errors.append(f"{where}: no examples in '{lang}'")
            elif len(examples) < MIN_EXAMPLES:
                result.warnings.append(f"{where}: only {len(examples)} examples in '{lang}'")
            for part in ("title", "answer"):
                if not getattr(intent, part).get(lang, "").strip():
                    result.errors.append(f"{where}: no {part} in '{lang}'")
            if intent.answer.get(lang, "").strip():
                problem = check_template(kb, intent_id, lang, policy)
                if problem:
                    result.errors.append(f"{where}: answer in '{lang}' does not render: {problem}")
            seen: set[str] = set()
            for text in examples:
                key = normalize(text)
                if not key:
                    result.errors.append(f"{where}: example {text!r} is empty after normalisation")
                    continue
                # (a Traditional variant of a Simplified example normalises alike: intended)
                if text in seen:
                    result.warnings.append(f"{where}: example {text!r} repeated")
                seen.add(text)
                owners[key].add(intent_id)
    for lang in LANGUAGES:
        if not kb.negatives.get(lang):
            result.warnings.append(f"out_of_scope.yaml: no out-of-scope examples in '{lang}'")
        for text in kb.negatives.get(lang, ()):
            key = normalize(text)
            if key in owners:
                names = ", ".join(sorted(owners[key]))
                result.errors.append(f"out_of_scope.yaml: example {text!r} is also an example of {names}")
    for key, intents in sorted(owners.items()):
        if len(intents) > 1:
            result.errors.append(f"example {key!r} belongs to several intents: {', '.join(sorted(intents))}")
    return result
