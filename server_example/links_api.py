"""Links in recovery messages: reopen the pre-filled order form; unsubscribe; the email
tracking image that records an open."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from cartback import (
    UTM_PARAMETERS,
    Cartback,
    CartNotFoundError,
    SignatureError,
    TokenExpiredError,
    prefill_url,
)
from server_example.plumbing import read_body
from server_example.settings import Settings

__all__ = ["LinksApi"]

# The smallest transparent GIF (1x1): what a tracking image answers, whatever the token.
_PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
_PIXEL_HEADERS = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}

_CHANNEL_NAMES = {
    "email": "emails",
    "sms": "text messages",
    "push": "push notifications",
    "newsletter": "the newsletter",
    "messenger": "Messenger messages",
    "instagram": "Instagram messages",
}


@dataclass
class LinksApi:
    cartback: Cartback
    settings: Settings
    templates: Jinja2Templates

    def _page(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        return self.templates.TemplateResponse(
            request, "message.html", {"title": title, "message": message}, status_code=status
        )

    async def recover(self, request: Request) -> Response:
        """GET /r/{token}: record the click, redirect to the pre-filled order form."""
        token = request.path_params["token"]
        utm = {
            name: request.query_params[name]
            for name in UTM_PARAMETERS
            if name in request.query_params
        }
        try:
            claims = self.cartback.verify_link(token, "recover")
            cart = await run_in_threadpool(self.cartback.get_cart, claims.cart_id)
            form_url = self.settings.form_urls.get(cart.context.form_id)
            if form_url is None and self.settings.demo:
                form_url = self.settings.public_url.rstrip("/") + "/"
            if form_url is not None:  # record the click only when the link leads somewhere
                cart = await run_in_threadpool(self.cartback.open_recovery_link, token, utm)
        except TokenExpiredError:
            return self._page(
                request,
                410,
                "This link has expired",
                "Your saved order is no longer available through this link. "
                "You are welcome to start a new order at any time.",
            )
        except SignatureError:
            return self._page(
                request,
                400,
                "This link is not valid",
                "The link may have been shortened or changed in transit. "
                "Please use the link exactly as it was sent to you.",
            )
        except CartNotFoundError:
            return self._page(
                request,
                404,
                "Nothing saved here",
                "We no longer hold this order. You are welcome to start a new one.",
            )
        if form_url is None:
            return self._page(
                request,
                404,
                "Order form not found",
                "This shop has not said where its order form lives. Please contact the shop.",
            )
        return RedirectResponse(prefill_url(form_url, cart, utm=utm), status_code=303)

    def _invalid_unsubscribe_link(self, request: Request) -> HTMLResponse:
        return self._page(
            request,
            400,
            "This link is not valid",
            "Please use the unsubscribe link exactly as it was sent.",
        )

    async def unsubscribe(self, request: Request) -> Response:
        """GET shows a confirmation; POST (also RFC 8058 one-click) records it."""
        token = request.path_params["token"]
        if request.method == "GET":
            try:
                claims = self.cartback.verify_link(token, "unsubscribe")
            except SignatureError:
                return self._invalid_unsubscribe_link(request)
            channel = _CHANNEL_NAMES.get(claims.channel or "", "messages")
            return self.templates.TemplateResponse(
                request, "unsubscribe.html", {"channel": channel, "token": token}
            )
        await read_body(request, 4096)
        try:
            event = await run_in_threadpool(self.cartback.unsubscribe, token)
        except SignatureError:
            return self._invalid_unsubscribe_link(request)
        except CartNotFoundError:
            return self._page(
                request,
                200,
                "You are unsubscribed",
                "We hold nothing about you any more, so you will not hear from us.",
            )
        channel = _CHANNEL_NAMES[event.channel]
        return self._page(
            request,
            200,
            "You are unsubscribed",
            f"You will not receive {channel} about this order any more.",
        )

    async def opened(self, request: Request) -> Response:
        """GET /o/{token}: an email's tracking image. Records the open of the message the
        token names, and always answers the image: a mail app shows nothing either way,
        and a forged or stale token learns nothing."""
        token = request.path_params["token"]
        with suppress(SignatureError):
            await run_in_threadpool(self.cartback.record_open, token)
        return Response(_PIXEL, media_type="image/gif", headers=_PIXEL_HEADERS)
