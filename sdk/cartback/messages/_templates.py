"""The Jinja2 templates of every message: shipped ones, a shop's overrides, the locale."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)

from cartback._errors import ConfigurationError
from cartback._models import Cart
from cartback.messages._settings import ShopSettings

__all__ = ["format_day", "format_moment", "render", "resolve_locale"]

_MONTHS: Final = {
    "en": (
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ),
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
        "septembre", "octobre", "novembre", "décembre",
    ),
}  # fmt: skip


def _environment(shop: ShopSettings) -> Environment:
    cached = shop._environment  # (the templates it was built for, the environment)
    if cached is not None and cached[0] is shop.templates:
        environment: Environment = cached[1]
        return environment
    loaders: list[BaseLoader] = []
    if isinstance(shop.templates, BaseLoader):
        loaders.append(shop.templates)
    elif shop.templates is not None:
        loaders.append(FileSystemLoader(shop.templates))
    loaders.append(PackageLoader("cartback.messages", "templates"))
    environment = Environment(  # autoescape is on for every .html template
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # model_copy() copies the cache too: keyed by the templates, a copy with other
    # templates builds its own environment.
    shop._environment = (shop.templates, environment)
    return environment


def render(shop: ShopSettings, locale: str, name: str, context: dict[str, Any]) -> str:
    """Render ``{locale}/{name}``, falling back to the ``en`` template of that name.

    The shop's templates come first; ``.html`` templates escape every value. A name no
    loader has (an unknown ``MessageRequest.template``) is a ``ConfigurationError``.
    """
    environment = _environment(shop)
    names = [f"{locale}/{name}"] if locale == "en" else [f"{locale}/{name}", f"en/{name}"]
    try:
        template = environment.select_template(names)
    except TemplateNotFound:
        raise ConfigurationError(
            f"no template {name} for locale {locale} (nor in English)", setting="templates"
        ) from None
    return template.render(context)


def resolve_locale(shop: ShopSettings, cart: Cart) -> str:
    """The shop's ``locale``, else the one its ``country_locales`` gives the prospect's
    country (``"CA-QC"`` first for a Canadian in Quebec), else ``default_locale``."""
    if shop.locale:
        return shop.locale
    contact = cart.contact
    country = (contact.country or "").upper()
    state = (contact.state or "").strip().upper()
    if country and state:
        by_state = shop.country_locales.get(f"{country}-{state}")
        if by_state is None and country == "CA" and state in ("QUEBEC", "QUÉBEC"):
            by_state = shop.country_locales.get("CA-QC")
        if by_state:
            return by_state
    return shop.country_locales.get(country, shop.default_locale)


def format_moment(moment: datetime, locale: str, zone: str) -> str:
    """A date and time as a person reads it in ``locale``, in the shop's time zone:
    ``December 3, 2026, 18:00 UTC`` / ``3 décembre 2026, 18:00 UTC``."""
    local = moment.astimezone(ZoneInfo(zone))
    months = _MONTHS.get(locale, _MONTHS["en"])
    month = months[local.month - 1]
    clock = f"{local.hour:02d}:{local.minute:02d} {local.tzname() or zone}"
    if locale == "en" or locale not in _MONTHS:
        return f"{month} {local.day}, {local.year}, {clock}"
    return f"{local.day} {month} {local.year}, {clock}"


def format_day(moment: datetime, locale: str, zone: str) -> str:
    """The day alone, for short texts: ``December 3`` / ``3 décembre``."""
    local = moment.astimezone(ZoneInfo(zone))
    months = _MONTHS.get(locale, _MONTHS["en"])
    month = months[local.month - 1]
    if locale == "en" or locale not in _MONTHS:
        return f"{month} {local.day}"
    return f"{local.day} {month}"
