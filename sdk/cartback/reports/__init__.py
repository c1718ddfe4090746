"""Insights: what recovery earned, where prospects stop, segments, charts and exports.

Pure functions over values: a caller (the receiver's dashboard, a CLI, a shop's own
backend) reads rows from its store in batches and passes them in; every report is built
in one pass with memory flat in the number of rows. See docs/insights.md for what each
figure means.

- ``Engagement``: per-message tracking (delivered, opened, clicked, replied,
  unsubscribed, ordered); ``click_engagement`` ties a link click to its message.
- ``Journey`` / ``journeys``: one cart's order, messages and engagements.
- ``attribute``: which messages an order is credited to (last click, first touch,
  linear) within ``ReportSettings``' windows.
- ``RecoveryReport`` / ``recovery_figures``: sent, delivered, open, click, reply,
  unsubscribe and conversion rates, attributed orders and revenue, per channel, flow,
  step and A/B variant.
- ``in_control_group``, ``lift``, ``ControlTally``: incremental lift against a control
  group, with Newcombe's interval.
- Segments (``ProductSegment`` ... ``NotSegment``): serialisable cart sets with
  ``matches``, ``describe`` and ``reads``.
- ``AbandonmentCounter``, ``DiagnosticsCounter``, ``recovery_series``: counts,
  abandonment diagnostics and recovery over time.
- ``bar_chart``, ``line_chart``, ``sparkline``: server-side SVG.
- ``iter_segment_csv``, ``iter_messages_csv``, ``iter_tickets_csv``: CSV exports.
"""

from cartback.reports._attribution import Credit, TouchKind, attribute, split_revenue
from cartback.reports._counts import (
    PAYMENT_FAILURE_REASONS,
    AbandonmentCounter,
    AbandonmentCounts,
    CountRow,
    CountTable,
    Diagnostics,
    DiagnosticsCounter,
    DiagnosticsReport,
)
from cartback.reports._csv import (
    MESSAGE_COLUMNS,
    SEGMENT_COLUMNS,
    TICKET_COLUMNS,
    iter_messages_csv,
    iter_segment_csv,
    iter_tickets_csv,
    message_row,
    segment_row,
    ticket_row,
)
from cartback.reports._engagement import (
    ENGAGEMENT_KINDS,
    UTM_KINDS,
    Engagement,
    EngagementKind,
    click_engagement,
    utm_content_of,
)
from cartback.reports._groups import ALL, Dimension, Group, groups_of
from cartback.reports._journey import Journey, journeys
from cartback.reports._lift import (
    MIN_CONVERSIONS,
    MIN_GROUP_SIZE,
    ControlTally,
    Interval,
    Lift,
    LiftProblem,
    LiftStatus,
    RevenueInterval,
    in_control_group,
    lift,
    newcombe_interval,
    wilson_interval,
)
from cartback.reports._rates import NotApplicable, Rate
from cartback.reports._report import (
    GroupFigures,
    RecoveryFigures,
    RecoveryReport,
    recovery_figures,
)
from cartback.reports._segments import (
    AllSegment,
    AnySegment,
    CartValueSegment,
    ConsentSegment,
    FlowOutcome,
    FlowOutcomeSegment,
    FormSegment,
    NotSegment,
    ProductSegment,
    RepeatAbandonerSegment,
    Segment,
    SegmentContext,
    matching,
    parse_segment,
    segment_json,
)
from cartback.reports._series import CartOutcome, RecoverySeries, SeriesPoint, recovery_series
from cartback.reports._settings import (
    DEFAULT_SETTINGS,
    AttributionModel,
    EngagedKind,
    ReportSettings,
)
from cartback.reports._svg import (
    ValueFormat,
    bar_chart,
    format_count,
    format_percent,
    line_chart,
    sparkline,
)
from cartback.reports._time import (
    BucketSize,
    TimeZoneLike,
    bucket_start,
    bucket_starts,
    resolve_zone,
)

__all__ = [
    "ALL",
    "DEFAULT_SETTINGS",
    "ENGAGEMENT_KINDS",
    "MESSAGE_COLUMNS",
    "MIN_CONVERSIONS",
    "MIN_GROUP_SIZE",
    "PAYMENT_FAILURE_REASONS",
    "SEGMENT_COLUMNS",
    "TICKET_COLUMNS",
    "UTM_KINDS",
    "AbandonmentCounter",
    "AbandonmentCounts",
    "AllSegment",
    "AnySegment",
    "AttributionModel",
    "BucketSize",
    "CartOutcome",
    "CartValueSegment",
    "ConsentSegment",
    "ControlTally",
    "CountRow",
    "CountTable",
    "Credit",
    "Diagnostics",
    "DiagnosticsCounter",
    "DiagnosticsReport",
    "Dimension",
    "EngagedKind",
    "Engagement",
    "EngagementKind",
    "FlowOutcome",
    "FlowOutcomeSegment",
    "FormSegment",
    "Group",
    "GroupFigures",
    "Interval",
    "Journey",
    "Lift",
    "LiftProblem",
    "LiftStatus",
    "NotApplicable",
    "NotSegment",
    "ProductSegment",
    "Rate",
    "RecoveryFigures",
    "RecoveryReport",
    "RecoverySeries",
    "RepeatAbandonerSegment",
    "ReportSettings",
    "RevenueInterval",
    "Segment",
    "SegmentContext",
    "SeriesPoint",
    "TimeZoneLike",
    "TouchKind",
    "ValueFormat",
    "attribute",
    "bar_chart",
    "bucket_start",
    "bucket_starts",
    "click_engagement",
    "format_count",
    "format_percent",
    "groups_of",
    "in_control_group",
    "iter_messages_csv",
    "iter_segment_csv",
    "iter_tickets_csv",
    "journeys",
    "lift",
    "line_chart",
    "matching",
    "message_row",
    "newcombe_interval",
    "parse_segment",
    "recovery_figures",
    "recovery_series",
    "resolve_zone",
    "segment_json",
    "segment_row",
    "sparkline",
    "split_revenue",
    "ticket_row",
    "utm_content_of",
    "wilson_interval",
]
