"""The recovery dispatcher's configuration: ``CARTBACK_CONFIG`` (and ``CARTBACK_SMTP_URL``)
turned into what a ``Dispatcher`` runs with.

Pure parsing, shared by the reference receiver (``server_example``) and the ``cartback``
command: ``shop`` (what messages say, ``shop_settings``), ``flows`` (which carts enter
which flow, ``flow_assignments``), ``guards`` (``guard_settings``) and ``senders``
(``make_senders``; a channel without a configured sender is a dry run: recorded, never
sent). Every error is a ``ConfigurationError`` naming the setting, never a value.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import ValidationError

from cartback._dispatcher import TEMPLATE_ROUTES, Dispatcher, DispatcherSettings
from cartback._errors import ConfigurationError
from cartback._types import MESSAGE_CHANNELS, MessageChannel
from cartback.client import Cartback
from cartback.flows import FlowAssignments, Guards, load_flow, shipped_flows
from cartback.links import LinkSigner
from cartback.messages import ShopSettings
from cartback.senders import (
    ApnsProviderToken,
    ApnsSender,
    DryRunLog,
    DryRunSender,
    FcmSender,
    MetaSender,
    PushSender,
    Sender,
    Senders,
    ServiceAccountTokens,
    SmsSender,
    SmtpSender,
    TwilioSms,
)

__all__ = [
    "CONFIG_SECTIONS",
    "build_dispatcher",
    "config_section",
    "dispatcher_settings",
    "flow_assignments",
    "guard_settings",
    "make_senders",
    "read_config",
    "shop_settings",
    "smtp_from_url",
]

CONFIG_SECTIONS = ("shop", "flows", "guards", "senders")
"""The sections of ``CARTBACK_CONFIG`` the dispatcher reads (each a JSON object)."""


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in the file ``CARTBACK_CONFIG`` names; a missing file, bad JSON or
    anything but an object raises ``ConfigurationError`` (``setting="config"``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"config: cannot read the file ({type(exc).__name__})", setting="config"
        ) from None
    try:
        config = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ConfigurationError(f"config: not JSON{where}", setting="config") from None
    if not isinstance(config, dict):
        raise ConfigurationError("config: the file holds a JSON object", setting="config")
    return config


def _reason(exc: ValueError) -> str:
    """Why a section did not validate, on one line and without the values given (pydantic
    would repeat them)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            ".".join(str(part) for part in error["loc"]) + ": " + error["msg"]
            if error["loc"]
            else error["msg"]
            for error in exc.errors(include_url=False, include_input=False)
        )
    return " ".join(str(exc).split())


def config_section(config: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    """One section of ``CARTBACK_CONFIG`` (``{}`` when absent); it must be an object."""
    value = config.get(section, {})
    if not isinstance(value, dict):
        raise ConfigurationError(f"{section} must be an object", setting=section)
    return value


def shop_settings(
    config: Mapping[str, Any], *, public_url: str, form_urls: Mapping[str, str]
) -> ShopSettings:
    """``shop`` of ``CARTBACK_CONFIG``; the receiver's public URL and form URLs by
    default, and a placeholder sender (fine for dry runs; set it before sending)."""
    host = urlsplit(public_url).hostname or ""
    named = "." in host and not host.replace(".", "").isdigit() and ":" not in host
    values: dict[str, Any] = {
        "shop_name": "Your shop",
        "sender_name": "The shop",
        "sender_email": f"shop@{host}" if named else "shop@example.com",
        "public_url": public_url,
        "form_urls": dict(form_urls),
        **dict(config),
    }
    try:
        return ShopSettings.model_validate(values)
    except ValueError as exc:
        raise ConfigurationError(f"shop: {_reason(exc)}", setting="shop") from None


def flow_assignments(config: Mapping[str, Any]) -> FlowAssignments:
    """``flows`` of ``CARTBACK_CONFIG``: the shipped flows plus ``definitions`` (flow
    JSON), and which carts enter which (``default`` is ``conversational`` unless set;
    ``null`` enters no flow), with each flow's ``control`` share and the ``control_salt``."""
    custom = [
        load_flow(json.dumps(definition), templates=frozenset(TEMPLATE_ROUTES))
        for definition in config.get("definitions", [])
    ]
    flows = {(flow.id, flow.version): flow for flow in (*shipped_flows(), *custom)}
    try:
        return FlowAssignments(
            flows=tuple(flows.values()),
            default=config.get("default", "conversational"),
            by_form=dict(config.get("by_form", {})),
            by_product=dict(config.get("by_product", {})),
            control=dict(config.get("control", {})),
            control_salt=str(config.get("control_salt", "")),
        )
    except ValueError as exc:
        raise ConfigurationError(f"flows: {_reason(exc)}", setting="flows") from None


def guard_settings(config: Mapping[str, Any], *, fallback_time_zone: str) -> Guards:
    """``guards`` of ``CARTBACK_CONFIG``; a prospect whose zone is unknown (a country of
    several zones without a phone) is in the shop's zone unless it says otherwise."""
    try:
        return Guards.model_validate({"fallback_time_zone": fallback_time_zone, **dict(config)})
    except ValueError as exc:
        raise ConfigurationError(f"guards: {_reason(exc)}", setting="guards") from None


def _secret(config: Mapping[str, Any], name: str) -> str:
    """A secret given by the name of the variable holding it (``<name>_env``)."""
    variable = config.get(f"{name}_env")
    if variable:
        value = os.environ.get(str(variable))
        if not value:
            raise ConfigurationError(f"senders: {variable} is not set", setting="senders")
        return value
    value = config.get(name)
    if not value:
        raise ConfigurationError(f"senders: {name} (or {name}_env) is missing", setting="senders")
    return str(value)


def smtp_from_url(url: str) -> SmtpSender:
    """``smtp://user:password@host:port?security=starttls|tls|none`` as a sender."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigurationError("CARTBACK_SMTP_URL is smtp://[user:password@]host[:port]",
                                 setting="smtp_url")  # fmt: skip
    query = parse_qs(parts.query)
    security = (query.get("security") or ["tls" if parts.scheme == "smtps" else "starttls"])[0]
    if security not in ("starttls", "tls", "none"):
        raise ConfigurationError("security is starttls, tls or none", setting="smtp_url")
    return SmtpSender(
        parts.hostname,
        parts.port,
        security=security,  # type: ignore[arg-type]
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _configured(channel: str, config: Mapping[str, Any]) -> Sender:
    if channel == "email":
        smtp = config.get("smtp") or {}
        return SmtpSender(
            str(smtp["host"]),
            int(smtp["port"]) if smtp.get("port") else None,
            security=smtp.get("security", "starttls"),
            username=smtp.get("username"),
            password=_secret(smtp, "password") if smtp.get("username") else None,
        )
    if channel == "sms":
        twilio = config.get("twilio") or {}
        return SmsSender(
            TwilioSms(
                account_sid=str(twilio["account_sid"]),
                auth_token=_secret(twilio, "auth_token"),
                from_number=twilio.get("from"),
                messaging_service_sid=twilio.get("messaging_service_sid"),
            )
        )
    if channel == "push":
        apns_config, fcm_config = config.get("apns"), config.get("fcm")
        apns = fcm = None
        if apns_config:
            key = Path(str(apns_config["key_file"])).read_text(encoding="utf-8")
            token = ApnsProviderToken(
                key, key_id=str(apns_config["key_id"]), team_id=str(apns_config["team_id"])
            )
            apns = ApnsSender(token, environment=apns_config.get("environment", "production"))
        if fcm_config:
            info = json.loads(Path(str(fcm_config["service_account_file"])).read_text("utf-8"))
            fcm = FcmSender(str(fcm_config["project_id"]), ServiceAccountTokens(info))
        return PushSender(apns=apns, fcm=fcm)
    if channel in ("messenger", "instagram"):
        meta = config.get("meta") or {}
        return MetaSender(
            "instagram" if channel == "instagram" else "messenger",
            page_access_token=_secret(meta, "page_access_token"),
            app_secret=meta.get("app_secret"),
        )
    raise ConfigurationError(f"senders: unknown channel {channel!r}", setting="senders")


def make_senders(
    config: Mapping[str, Any],
    *,
    smtp_url: str | None = None,
    dry_run_log: DryRunLog | None = None,
    overrides: Mapping[MessageChannel, Sender] | None = None,
) -> Senders:
    """``senders`` of ``CARTBACK_CONFIG`` (and ``CARTBACK_SMTP_URL`` for email), with
    ``overrides`` winning; every other channel is a dry run recorded in ``dry_run_log``."""
    chosen: dict[MessageChannel, Sender] = {}
    for channel in MESSAGE_CHANNELS:
        if overrides and channel in overrides:
            chosen[channel] = overrides[channel]
        elif channel == "email" and smtp_url:
            chosen[channel] = smtp_from_url(smtp_url)
        elif config.get(channel):
            try:
                chosen[channel] = _configured(channel, config[channel])
            except (KeyError, TypeError, ValueError, OSError) as exc:
                raise ConfigurationError(
                    f"senders.{channel}: {type(exc).__name__}", setting="senders"
                ) from None
        else:
            chosen[channel] = DryRunSender(channel, log=dry_run_log or DryRunLog())
    return Senders(*chosen.values())


def build_dispatcher(
    cartback: Cartback,
    settings: DispatcherSettings,
    senders: Senders,
    *,
    signer: LinkSigner,
) -> Dispatcher:
    """A dispatcher named after this host and process (its leases say who holds them)."""
    owner = f"{socket.gethostname()}:{os.getpid()}"[:128]
    return Dispatcher(cartback, senders, settings, signer=signer, owner=owner)


def dispatcher_settings(config: Mapping[str, Any], *, public_url: str) -> DispatcherSettings:
    """What a dispatcher runs with, from the whole of ``CARTBACK_CONFIG``: its ``shop``,
    ``flows``, ``guards`` and ``dispatcher`` sections and its ``form_urls`` (recovery
    links' targets). ``dispatcher`` holds ``send_batch`` (see ``DispatcherSettings``)."""
    form_urls = config.get("form_urls", {})
    if not isinstance(form_urls, dict):
        raise ConfigurationError("form_urls must be an object", setting="form_urls")
    shop = shop_settings(
        config_section(config, "shop"),
        public_url=public_url,
        form_urls={str(key): str(value) for key, value in form_urls.items()},
    )
    tuning = config_section(config, "dispatcher")
    for key in tuning:
        if key != "send_batch":
            raise ConfigurationError("the dispatcher section holds send_batch only",
                                     setting=f"dispatcher.{key}")  # fmt: skip
    send_batch = tuning.get("send_batch", DispatcherSettings.send_batch)
    if isinstance(send_batch, bool) or not isinstance(send_batch, int) or send_batch < 1:
        raise ConfigurationError("send_batch is a whole number, 1 or more",
                                 setting="dispatcher.send_batch")  # fmt: skip
    return DispatcherSettings(
        assignments=flow_assignments(config_section(config, "flows")),
        shop=shop,
        guards=guard_settings(config_section(config, "guards"), fallback_time_zone=shop.timezone),
        send_batch=send_batch,
    )
