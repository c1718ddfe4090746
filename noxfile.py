"""Sessions of work: ``python -m nox`` runs lint, typecheck and the whole test suite.

``python -m nox -s demo`` starts the reference receiver with the demo shop.
Arguments after ``--`` reach pytest (``python -m nox -s tests -- -k eligibility``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

DEMO_STOP = 30.0
"""Seconds the demo has to shut down after Ctrl-C before nox terminates it."""

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


def dependency_group(name: str) -> list[str]:
    """The requirements of one ``[dependency-groups]`` table entry."""
    group = PYPROJECT["dependency-groups"][name]
    return [str(requirement) for requirement in group]


def install_project(session: nox.Session, *groups: str) -> None:
    """The project with its server extra, plus the named dependency groups."""
    requirements = [req for group in groups for req in dependency_group(group)]
    session.install("-e", ".[server]", *requirements)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over everything, the noxfile included."""
    session.install(*dependency_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the receiver, the tests, the benches, this file."""
    install_project(session, "test", "typecheck")
    session.install("nox")
    session.run(
        "mypy",
        "--strict",
        "sdk/cartback",
        "server_example",
        "tests",
        "bench",
        "docs/generate_reference.py",
        "docs/generate_events.py",
        "docs/messages/render_examples.py",
        "noxfile.py",
        env={"MYPYPATH": "sdk"},
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit, property, HTTP, real browser, real processes."""
    session.run("bash", str(ROOT / ".ci" / "ensure-system-deps"), external=True)
    install_project(session, "test")
    session.run(
        "pytest",
        *session.posargs,
        env={"CARTBACK_CHROMIUM": os.environ.get("CARTBACK_CHROMIUM", "/usr/bin/chromium")},
    )


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The receiver, the demo order form and the dashboard on an embedded SQLite file.

    Ctrl-C reaches nox and the demo alike; the demo shuts down (exit code 0) and the
    session succeeds. nox would otherwise send SIGTERM after 0.3 s, in the middle of
    that shutdown, and report the session as interrupted.
    """
    install_project(session)
    session.run(
        "python", "-m", "server_example", "demo", *session.posargs, interrupt_timeout=DEMO_STOP
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Every benchmark in bench/, printing its figures next to its baseline."""
    install_project(session, "test")
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        session.run("python", str(script))
