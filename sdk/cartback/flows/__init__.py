"""Recovery flows: definitions, shipped defaults, assignment, and the pure planner.

Define a flow (JSON or Python) and check it with ``load_flow``; pick the flow a new cart
enters with ``choose_flow`` and start it with ``enrol``; ask ``plan_next`` for the
enrolment's next action (send, skip, exit or pause) and its time, through the
``Guards``. See docs/flows.md.
"""

from cartback.flows._assignment import FlowAssignments, choose_flow, load_assignments
from cartback.flows._conditions import (
    AbandonmentsCondition,
    ActivityCondition,
    AllCondition,
    AnyCondition,
    CanReceiveCondition,
    CartValueCondition,
    Condition,
    ConsentCondition,
    CouponActiveCondition,
    LastPurchaseCondition,
    MetricCondition,
    NotCondition,
    PushDeviceCondition,
    SegmentCondition,
)
from cartback.flows._defaults import (
    SHIPPED_TEMPLATES,
    conversational_flow,
    multichannel_flow,
    push_flow,
    shipped_flows,
)
from cartback.flows._definitions import (
    AbSplitStep,
    Branch,
    Coupon,
    DynamicCoupon,
    ExitStep,
    Flow,
    SendStep,
    SplitStep,
    StaticCoupon,
    Step,
    Variant,
    WaitStep,
)
from cartback.flows._durations import Duration, LocalTime, format_duration, parse_duration
from cartback.flows._enrolment import Enrolment, StepOutcome, StepRun, enrol
from cartback.flows._errors import FlowNotFoundError, FlowProblem, FlowValidationError
from cartback.flows._facts import ProspectFacts, track
from cartback.flows._guards import CapMode, Guards, OverallCap, QuietHours
from cartback.flows._plan import (
    DEFER_REASONS,
    EXIT_REASONS,
    SKIP_REASONS,
    DeferReason,
    ExitReason,
    PauseReason,
    Plan,
    PlanKind,
    PlanReason,
    SkipReason,
)
from cartback.flows._planner import DEFAULT_GUARDS, choose_variant, plan_next
from cartback.flows._validation import CompiledFlow, compile_flow, load_flow, validate_flow
from cartback.flows._zones import country_time_zones, prospect_time_zone

__all__ = [
    "DEFAULT_GUARDS",
    "DEFER_REASONS",
    "EXIT_REASONS",
    "SHIPPED_TEMPLATES",
    "SKIP_REASONS",
    "AbSplitStep",
    "AbandonmentsCondition",
    "ActivityCondition",
    "AllCondition",
    "AnyCondition",
    "Branch",
    "CanReceiveCondition",
    "CapMode",
    "CartValueCondition",
    "CompiledFlow",
    "Condition",
    "ConsentCondition",
    "Coupon",
    "CouponActiveCondition",
    "DeferReason",
    "Duration",
    "DynamicCoupon",
    "Enrolment",
    "ExitReason",
    "ExitStep",
    "Flow",
    "FlowAssignments",
    "FlowNotFoundError",
    "FlowProblem",
    "FlowValidationError",
    "Guards",
    "LastPurchaseCondition",
    "LocalTime",
    "MetricCondition",
    "NotCondition",
    "OverallCap",
    "PauseReason",
    "Plan",
    "PlanKind",
    "PlanReason",
    "ProspectFacts",
    "PushDeviceCondition",
    "QuietHours",
    "SegmentCondition",
    "SendStep",
    "SkipReason",
    "SplitStep",
    "StaticCoupon",
    "Step",
    "StepOutcome",
    "StepRun",
    "Variant",
    "WaitStep",
    "choose_flow",
    "choose_variant",
    "compile_flow",
    "conversational_flow",
    "country_time_zones",
    "enrol",
    "format_duration",
    "load_assignments",
    "load_flow",
    "multichannel_flow",
    "parse_duration",
    "plan_next",
    "prospect_time_zone",
    "push_flow",
    "shipped_flows",
    "track",
    "validate_flow",
]
