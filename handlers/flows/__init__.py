"""The multi-step flows of the conversation. Every module of this package is imported here, and
every flow it declares registers itself (`FLOWS`).

Adding a flow
-------------
One module in this folder, its replies and its tests; no list elsewhere names it:

1. Subclass `Flow` (`handlers.flows.base`) with a `name`. Say how a seller reaches it: `command`
   (`/stores`), `kb_action` (the knowledge-base action it performs: answers with that action get
   a button for it, and a request for it starts it), `payload` (the deep link `/start <payload>`,
   also what a group's private-chat button opens), `personal_intents` (personal questions it
   answers from the account), `in_groups` (whether a group may start it) and `needs_account`.
   The command menus, the deep links, the answer buttons and the help list all follow.
2. Its steps: a `StrEnum` whose values are stored in the conversation state (never rename a
   value a seller may be at: a deploy would find them there), and the `steps` table mapping
   each to an `On`: the method that asks its question, the ones that take a typed answer, a
   button press or a file, and how it is answered (`Answer`: typed, free text, buttons).
3. Its answers: a dataclass extending `FlowData`, every field with a default, named in
   `answers_type`; `self.answers(ctx)` reads and changes them. `begin` enters the first step;
   `resume` goes on with answers kept while the account was linked (`link_first`) or said in
   the request (`answers_in`).
4. Its replies: `actions.<name>` (the label of its buttons) and its own keys, in
   `handlers/replies/zh.yaml` and `en.yaml`; a knowledge-base action must also be one of
   `faq.knowledge.ACTIONS`.
5. Its tests, under `tests/handlers/flows/`, as conversations asserting what the seller sees.
"""

from __future__ import annotations

import importlib
import pkgutil

from handlers.flows.base import FLOWS, Flow

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["FLOWS", "Flow"]
