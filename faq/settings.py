"""The `[matcher]` section: when the bot answers, asks "A or B?", or says it does not know."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MatcherSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Defaults chosen by 5-fold cross-validation on the bundled knowledge base
    # (benchmarks/tune_thresholds.py), never on the development set.
    # a calibrated score at or above this answers with the top intent
    answer_threshold: float = Field(0.5, ge=0.0, le=1.0)
    # below this the question is out of scope; between the two the bot asks "A or B?"
    clarify_threshold: float = Field(0.4, ge=0.0, le=1.0)
    # when the runner-up is this close to the top intent the bot asks instead of answering
    ambiguity_margin: float = Field(0.05, ge=0.0, le=1.0)
    # regularisation of the linear classifier: larger fits the examples more closely
    regularization_c: float = Field(1.0, gt=0.0, le=1000.0)
    # keep the trained matcher under <data dir>/cache so that later starts skip training
    cache: bool = True
    # empty: the bundled knowledge base; otherwise a folder with the same layout
    knowledge_base_dir: str = ""
