"""Policy values: the numbers the platform's rules use.

They live in the `[policy]` section of the configuration so an operator can change a
limit without touching code; the services that enforce a rule and the FAQ answers
that explain it both read them from here (docs/domain.md lists each rule).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Stores and listings.
    store_limit: int = Field(1, ge=1, description="stores a new account may open")
    listing_limit: int = Field(500, ge=1, description="listings per store for a new account")
    listing_hard_cap: int = Field(1000, ge=1, description="listings per store, never exceeded")
    quota_step: int = Field(10, ge=1, description="stores added by one approved store-quota request")
    ban_lookback_days: int = Field(183, ge=0, description="a store banned this recently blocks requests")
    max_unknown_stores: int = Field(
        5, ge=0, description="stores rated 'unknown' an eligible account may have"
    )
    auto_approve: bool = Field(True, description="approve eligible requests at once; false queues them")

    # Store titles and icons.
    title_min_length: int = Field(2, ge=1)
    title_max_length: int = Field(50, ge=1)
    icon_min_pixels: int = Field(550, ge=1, description="minimum icon width and height")
    icon_max_bytes: int = Field(5 * 1024 * 1024, ge=1)

    # Password reset and account linking.
    reset_token_minutes: int = Field(30, ge=1)
    reset_links_per_hour: int = Field(3, ge=1)
    link_code_minutes: int = Field(10, ge=1)
    link_code_attempts: int = Field(5, ge=1)
    link_codes_per_hour: int = Field(5, ge=1, description="codes mailed per chat user per hour")
    email_change_token_minutes: int = Field(60 * 24, ge=1)
    email_changes_per_hour: int = Field(3, ge=1, description="login-change requests per account per hour")
    email_change_undo_days: int = Field(
        7, ge=1, description="days the link in the warning to the old address stops or undoes the change"
    )

    # Shipping.
    pickup_cities: list[str] = Field(default_factory=lambda: ["Shenzhen"])
    pickup_horizon_days: int = Field(14, ge=0, description="how far ahead a pickup may be booked")
    pickup_max_parcels: int = Field(500, ge=1, description="parcels one pickup booking may hold")
    warehouse_address: str = (
        "Joom Logistics warehouse, Shenzhen (the exact address is given by Joom Logistics support)"
    )
    warehouse_address_zh: str = "Joom物流深圳仓库(具体地址请向Joom物流客服确认)"

    # Facts the FAQ states.
    support_email: str = "merchant@joom.com"
    commission_percent: int = Field(15, ge=0, le=100)
    commission_min_percent: int = Field(5, ge=0, le=100)
    payouts_per_month: int = Field(2, ge=1)
    payment_term_days: int = Field(14, ge=0)
    registration_url: str = "https://merchant.joom.com"

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.listing_limit > self.listing_hard_cap:
            raise ValueError("listing_limit must not exceed listing_hard_cap")
        if self.title_min_length > self.title_max_length:
            raise ValueError("title_min_length must not exceed title_max_length")
        if self.commission_min_percent > self.commission_percent:
            raise ValueError("commission_min_percent must not exceed commission_percent")
        return self
