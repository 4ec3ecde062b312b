"""`safety.limits`: blast-radius limits on purchases per cycle and per rolling 24 hours, across
every target, whatever the policies and budgets allow (docs/configuration.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from watcher.config.values import MoneyAmount


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)

    purchases_per_cycle: StrictInt | None = Field(
        default=None, ge=1, le=1000, description="extensions bought in one cycle, at most"
    )
    spend_per_cycle: MoneyAmount | None = Field(
        default=None, description="upfront fees committed in one cycle, at most"
    )
    purchases_per_24h: StrictInt | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="extensions bought in any 24 hours (AWS's history and the journal)",
    )
    spend_per_24h: MoneyAmount | None = Field(
        default=None, description="upfront fees committed in any 24 hours, at most"
    )
