"""The multi-step flows of the conversation, by name."""

from __future__ import annotations

from handlers.flows.account import LimitsFlow, StatusFlow, StoresFlow
from handlers.flows.base import Flow
from handlers.flows.change_email import ChangeEmailFlow
from handlers.flows.link import LinkFlow
from handlers.flows.open_store import OpenStoreFlow
from handlers.flows.password_reset import PasswordResetFlow
from handlers.flows.pickup import PickupFlow
from handlers.flows.quota import QuotaFlow

FLOWS: dict[str, Flow] = {
    flow.name: flow
    for flow in (
        LinkFlow(),
        OpenStoreFlow(),
        QuotaFlow(),
        PasswordResetFlow(),
        ChangeEmailFlow(),
        PickupFlow(),
        StoresFlow(),
        LimitsFlow(),
        StatusFlow(),
    )
}
