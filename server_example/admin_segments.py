"""The dashboard's segments, behind the admin login: saved cart sets, built with a form.

- ``GET /admin/segments``: the saved segments; the builder (``admin_segment_form``:
  one group of inputs per segment type, each negatable, combined with all/any, or a
  segment's JSON); with a segment built (or ``saved=<name>``), how many carts it holds
  and the newest of them, a page at a time.
- ``POST /admin/segments/save``: save the built segment (``json``) under ``name``.
- ``POST /admin/segments/delete``: remove the saved segment ``name``.
- ``GET /admin/segments.csv``: every cart of the built (or saved) segment as CSV,
  streamed (``format=spreadsheet`` by default, or ``tools``).

Input that cannot be used answers the page with the problems, naming the field (400);
a saved segment that does not exist answers 404.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlencode

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from cartback import CHANNELS, Cart, CartPage, InvalidInputError
from cartback.export import CsvStyle
from cartback.reports import Segment, iter_segment_csv, segment_json
from server_example.admin_filters import parse_format
from server_example.admin_pages import AdminPages, first
from server_example.admin_segment_form import (
    FLOW_OUTCOMES,
    PERIODS,
    SegmentForm,
    form_of,
    parse_segment_form,
)
from server_example.dashboard import FORMAT_LABELS

__all__ = ["PREVIEW_SIZE", "SegmentPages"]

PREVIEW_SIZE: Final = 25
"""Carts of a segment shown per page."""
BUILDER_FIELDS: Final = frozenset(
    {
        "combine",
        "products",
        "forms",
        "repeat_at_least",
        "repeat_within",
        "consent_channel",
        "consent_allowed",
        "consent_basis",
        "value_at_least",
        "value_below",
        "value_currency",
        "outcome",
        "outcome_flow",
        "not",
        "json",
    }
)
"""The builder's query parameters: any of them means a segment is being built."""
PERIOD_LABELS: Final = {
    "7d": "the last 7 days",
    "30d": "the last 30 days",
    "90d": "the last 90 days",
    "365d": "the last 365 days",
    "all": "all time",
}
NOTICES: Final = {"saved": "Segment saved.", "deleted": "Segment deleted."}


class SegmentPages(AdminPages):
    """The segments page, its forms and its download."""

    section = "segments"

    def routes(self) -> list[BaseRoute]:
        """The pages' routes."""
        s = self.secured
        return [
            Route("/admin/segments", s(self.index), methods=["GET"]),
            Route("/admin/segments.csv", s(self.download), methods=["GET"]),
            Route("/admin/segments/save", s(self.save, post=True), methods=["POST"]),
            Route("/admin/segments/delete", s(self.delete, post=True), methods=["POST"]),
        ]

    # -- reading the request -----------------------------------------------------------

    def _chosen(
        self, params: Mapping[str, str], negated: list[str], saved: dict[str, Segment]
    ) -> tuple[SegmentForm, Segment | None, str | None, list[str], bool]:
        """The builder's form, the segment, its saved name, the problems, and whether
        the request names a saved segment that does not exist."""
        name = params.get("saved", "")
        if name and not any(key in params for key in BUILDER_FIELDS):
            segment = saved.get(name)
            if segment is None:
                return SegmentForm(), None, None, ["No saved segment has this name."], True
            return form_of(segment), segment, name, [], False
        form, segment, errors = parse_segment_form(params, negated)
        if segment is not None:
            # A built segment that equals a saved one is shown under its name.
            body = segment_json(segment)
            name = next((n for n, s in saved.items() if segment_json(s) == body), "")
        return form, segment, name or None, errors, False

    def _page_number(self, params: Mapping[str, str], errors: list[str]) -> int:
        text = params.get("page", "") or "1"
        if text.isascii() and text.isdigit() and 1 <= int(text) <= 100_000:
            return int(text)
        errors.append("Page: a whole number from 1.")
        return 1

    # -- the page ----------------------------------------------------------------------

    def _render(
        self,
        request: Request,
        *,
        saved: dict[str, Segment],
        form: SegmentForm,
        segment: Segment | None,
        name: str | None,
        errors: list[str],
        carts: CartPage | None = None,
        page: int = 1,
        fmt: CsvStyle = "spreadsheet",
        save_name: str = "",
        status: int | None = None,
    ) -> Response:
        params = form.params()
        query = urlencode(params, doseq=True)
        context: dict[str, Any] = {
            "saved": [(n, s.describe(), urlencode({"saved": n})) for n, s in saved.items()],
            "form": form,
            "segment": segment,
            "description": segment.describe() if segment is not None else "",
            "segment_json": segment_json(segment) if segment is not None else "",
            "name": name,
            "save_name": save_name or name or "",
            "errors": errors,
            "carts": carts,
            "page": page,
            "query": query,
            "export_params": [
                (key, value)
                for key, values in params.items()
                for value in ([values] if isinstance(values, str) else values)
            ],
            "format": fmt,
            "formats": list(FORMAT_LABELS.items()),
            "channels": CHANNELS,
            "outcomes": FLOW_OUTCOMES,
            "periods": [(key, PERIOD_LABELS[key]) for key in PERIODS],
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "preview_size": PREVIEW_SIZE,
        }
        if carts is not None:
            pages = max(1, -(-carts.total // PREVIEW_SIZE))
            context.update(
                pages=pages,
                first_index=(page - 1) * PREVIEW_SIZE + 1,
                prev_query=urlencode({**params, "page": page - 1}, doseq=True)
                if page > 1
                else None,
                next_query=urlencode({**params, "page": page + 1}, doseq=True)
                if page < pages
                else None,
            )
        code = status if status is not None else (400 if errors else 200)
        return self.render(request, "admin_segments.html", context, status=code)

    async def index(self, request: Request) -> Response:
        """GET /admin/segments: the saved segments, the builder and its preview."""
        params = request.query_params
        saved = await run_in_threadpool(self.cartback.segments)
        form, segment, name, errors, missing = self._chosen(params, params.getlist("not"), saved)
        page = self._page_number(params, errors)
        carts = None
        if segment is not None and not errors:
            chosen = segment
            carts = await run_in_threadpool(
                lambda: self.cartback.segment_carts(
                    chosen, limit=PREVIEW_SIZE, offset=(page - 1) * PREVIEW_SIZE
                )
            )
        return self._render(
            request,
            saved=saved,
            form=form,
            segment=segment if not errors else None,
            name=name,
            errors=errors,
            carts=carts,
            page=page,
            status=404 if missing else None,
        )

    # -- the forms ---------------------------------------------------------------------

    async def save(self, request: Request) -> Response:
        """POST /admin/segments/save: save the segment ``json`` under ``name``."""
        posted = await self.form(request)
        name, body = first(posted, "name"), first(posted, "json")
        saved = await run_in_threadpool(self.cartback.segments)
        form, segment, errors = parse_segment_form({"json": body}, [])
        if segment is None:
            errors = errors or ["Segment: build a segment before saving it."]
        else:
            chosen = segment
            try:
                await run_in_threadpool(self.cartback.save_segment, name, chosen)
            except InvalidInputError:
                errors = ["Name: 1 to 80 letters, digits, spaces, - or _."]
        if errors:
            return self._render(
                request,
                saved=saved,
                form=form_of(segment) if segment is not None else form,
                segment=segment,
                name=None,
                errors=errors,
                save_name=name[:80],
            )
        return RedirectResponse(
            "/admin/segments?" + urlencode({"saved": name, "done": "saved"}), status_code=303
        )

    async def delete(self, request: Request) -> Response:
        """POST /admin/segments/delete: remove the saved segment ``name``."""
        posted = await self.form(request)
        name = first(posted, "name")
        deleted = await run_in_threadpool(self.cartback.delete_segment, name)
        if not deleted:
            saved = await run_in_threadpool(self.cartback.segments)
            return self._render(
                request,
                saved=saved,
                form=SegmentForm(),
                segment=None,
                name=None,
                errors=["Name: no saved segment has this name."],
                status=404,
            )
        return RedirectResponse("/admin/segments?done=deleted", status_code=303)

    # -- the download ------------------------------------------------------------------

    async def download(self, request: Request) -> Response:
        """GET /admin/segments.csv: the segment's carts, newest first, streamed."""
        params = request.query_params
        saved = await run_in_threadpool(self.cartback.segments)
        form, segment, name, errors, missing = self._chosen(params, params.getlist("not"), saved)
        fmt = parse_format(params, errors)
        if segment is None and not errors:
            errors.append("Segment: build a segment (or choose a saved one) to export it.")
        if errors or segment is None:
            return self._render(
                request,
                saved=saved,
                form=form,
                segment=None,
                name=name,
                errors=errors,
                fmt=fmt,
                status=404 if missing else 400,
            )
        chosen = segment

        def carts() -> Iterator[Cart]:
            for cart, _ in self.cartback.iter_segment(chosen):
                yield cart

        title = name or "segment"
        day = self.cartback.now().date().isoformat()
        slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in title)
        headers = {"Content-Disposition": f'attachment; filename="{slug}-{day}.csv"'}
        chunks = (text.encode("utf-8") for text in iter_segment_csv(title, carts(), fmt))
        return StreamingResponse(
            iterate_in_threadpool(chunks), media_type="text/csv", headers=headers
        )
