"""A matcher built once from the bundled knowledge base, shared by the FAQ tests."""

from __future__ import annotations

import pytest

from faq.knowledge import load_knowledge_base
from faq.matcher import Matcher


@pytest.fixture(scope="session")
def kb_matcher() -> Matcher:
    return Matcher.from_knowledge_base(load_knowledge_base())
