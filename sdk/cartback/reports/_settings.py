"""How a shop's recovery figures are counted: the attribution window and model, the
tracking pixel, the report's currency. A frozen, serialisable model (shop settings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from cartback.flows._durations import Duration

__all__ = ["DEFAULT_SETTINGS", "AttributionModel", "EngagedKind", "ReportSettings"]

AttributionModel = Literal["last_click", "first_touch", "linear"]
"""How an order's credit is divided among the messages in its window: all of it to the
last click (or, without a click, the last delivery); all of it to the first message;
equal shares to every message."""

EngagedKind = Literal["clicked", "replied"]
"""An engagement that shows the prospect acted on a message (a click or a reply)."""


class ReportSettings(BaseModel):
    """How orders are attributed and rates counted. Frozen: one value per report, and a
    shop's saved settings are replaced, never edited."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    model: AttributionModel = "last_click"
    """``last_click`` (the default), ``first_touch`` or ``linear``."""
    click_window: Duration = timedelta(days=7)
    """A message clicked (or replied to) at most this long before the order is in its
    window (``7d``)."""
    delivery_window: Duration = timedelta(days=1)
    """A message delivered, not clicked, at most this long before the order is in its
    window (``1d``); ``0m`` credits clicks and replies only."""
    engaged_kinds: frozenset[EngagedKind] = Field(
        default=frozenset({"clicked", "replied"}), min_length=1
    )
    """What counts as acting on a message for ``click_window``: clicks and replies."""
    pixel_since: AwareDatetime | None = None
    """When the shop turned the email tracking pixel on; open rates count the emails sent
    since. ``None``: no pixel, open rates are n/a."""
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """The report's ISO 4217 currency; revenue in another is left out of the sums (and
    counted). ``None``: the currency of the first order with revenue."""

    @field_validator("pixel_since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _windows(self) -> Self:
        if self.click_window <= timedelta(0):
            raise ValueError("click_window must be longer than zero")
        return self


DEFAULT_SETTINGS: Final = ReportSettings()
"""Last click within 7 days, else the last delivery within 1 day; no pixel."""
