"""Fixtures for tests that drive a real browser: Debian's Chromium through Playwright.

- ``browser`` (session): one headless Chromium for the whole run.
- ``page``: a fresh browser context and page per test. The test fails if the page logs
  a console error or throws an uncaught exception (``page_log.allow_console_error``
  declares the console errors a test provokes on purpose).
- ``page_log``: the ``PageLog`` of ``page``: console errors, exceptions, requests.
- ``site``: a ``FixtureSite`` on 127.0.0.1 serving ``tests/browser/pages`` and
  ``snippet/``, recording every POST; emptied before each test.

Playwright only drives the system Chromium (``executable_path``); no browser is ever
downloaded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, sync_playwright

from .support import FixtureSite, PageLog

ROOT = Path(__file__).resolve().parents[2]
PAGES_DIR = Path(__file__).resolve().parent / "pages"
SNIPPET_DIR = ROOT / "snippet"

CHROMIUM = Path(os.environ.get("CARTBACK_CHROMIUM", "/usr/bin/chromium"))
"""The browser to drive; ``CARTBACK_CHROMIUM`` overrides Debian's path."""
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # No background traffic: the machine has no network beyond 127.0.0.1.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_PAGE_LOG = pytest.StashKey[PageLog]()
_PROBLEMS_REPORTED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: browser tests drive Debian's Chromium. "
            "Install it with `apt-get install -y chromium` (or set CARTBACK_CHROMIUM).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh context (no cookies, storage or cache shared between tests)."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    new_page = context.new_page()
    log = PageLog()
    log.attach(new_page)
    request.node.stash[_PAGE_LOG] = log
    yield new_page
    if not new_page.is_closed():
        with contextlib.suppress(Error):  # the page may be navigating or gone
            new_page.evaluate("0")  # a round trip, so events still in flight arrive
    context.close()
    problems = log.problems()
    if problems and not request.node.stash.get(_PROBLEMS_REPORTED, False):
        pytest.fail("the page reported problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page_log(page: Page, request: pytest.FixtureRequest) -> PageLog:
    """What ``page`` logged and requested so far."""
    log: PageLog = request.node.stash[_PAGE_LOG]
    return log


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail the test itself (not only its teardown) when its page reported problems."""
    result = yield
    log = item.stash.get(_PAGE_LOG, None)
    if log is not None and (problems := log.problems()):
        item.stash[_PROBLEMS_REPORTED] = True
        pytest.fail("the page reported problems:\n" + "\n".join(problems), pytrace=False)
    return result


@pytest.fixture(scope="session")
def _running_site() -> Iterator[FixtureSite]:
    running = FixtureSite(PAGES_DIR, SNIPPET_DIR)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def site(_running_site: FixtureSite) -> FixtureSite:
    """The fixture site, with no POSTs recorded and default responses."""
    _running_site.reset()
    return _running_site
