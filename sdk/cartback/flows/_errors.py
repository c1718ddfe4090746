"""The errors of flow definitions and assignments.

```
CartbackError
├── ConfigurationError
│   └── FlowValidationError    a flow definition or assignment cannot work
└── FlowNotFoundError          no flow has the given id (and version)
```

A flow's problems are reported all at once: ``FlowValidationError.problems`` holds one
``FlowProblem`` per problem, each naming the path of the offending value
(``steps[3].channel``) and a stable reason code; the error's own ``path`` and
``reason`` are the first problem's. Messages quote step ids, channels and template ids
(which are configuration, never personal data), never a value a prospect entered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cartback._errors import CartbackError, ConfigurationError

__all__ = ["FlowNotFoundError", "FlowProblem", "FlowValidationError"]


@dataclass(frozen=True, slots=True)
class FlowProblem:
    """One thing wrong with a flow definition."""

    path: str
    """Where: a dotted path with list indexes, e.g. ``steps[3].coupon``; ``""`` for the
    whole document."""
    reason: str
    """A stable code such as ``unknown_channel``, ``negative_wait`` or ``cycle``."""
    message: str
    """What is wrong, for the flow's author."""


class FlowValidationError(ConfigurationError):
    """A flow definition (or an assignment of flows) cannot work.

    ``path`` and ``reason`` are those of the first problem; ``problems`` lists every
    problem found, in document order.
    """

    def __init__(
        self, message: str, *, path: str, reason: str, problems: Sequence[FlowProblem] = ()
    ) -> None:
        super().__init__(message, setting=path)
        self.path = path
        self.reason = reason
        self.problems: tuple[FlowProblem, ...] = tuple(problems) or (
            FlowProblem(path=path, reason=reason, message=message),
        )

    @classmethod
    def from_problems(cls, problems: Sequence[FlowProblem]) -> FlowValidationError:
        """One error carrying every problem; its message summarises the first."""
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        where = first.path or "flow"
        return cls(
            f"{where}: {first.message}{more}",
            path=first.path,
            reason=first.reason,
            problems=problems,
        )


class FlowNotFoundError(CartbackError, LookupError):
    """No flow with this id (and version) is known, e.g. an enrolment pins a version
    that was deleted."""

    def __init__(self, message: str, *, flow_id: str, version: int | None = None) -> None:
        super().__init__(message)
        self.flow_id = flow_id
        self.version = version
