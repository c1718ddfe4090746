"""Outbound webhooks: endpoints, Standard Webhooks signing, delivery with retries,
the SSRF guard, the bounded sender, and platform-style IPN signatures.

The outbox decides *what* to deliver (one delivery row per event and endpoint); this
package makes one attempt at a time and says what comes next::

    deliverer = WebhookDeliverer()
    sender = WebhookSender(deliverer.deliver, on_result=apply_to_outbox)
    sender.submit(endpoint, Delivery(event_id=event.event_id, body=body, attempt=n))

Needs ``httpx`` (the ``server`` extra). See docs/webhooks.md.
"""

from cartback.webhooks._addresses import (
    AddressClass,
    IPAddress,
    IPNetwork,
    classify_address,
    parse_ip_literal,
    refused_class,
)
from cartback.webhooks._deliver import (
    THROTTLE_STATUSES,
    Delivery,
    WebhookDeliverer,
    error_for_exception,
)
from cartback.webhooks._endpoint import (
    WEBHOOK_EVENT_TYPES,
    DisabledReason,
    EndpointDisabled,
    EndpointSecret,
    WebhookEndpoint,
    WebhookEventType,
    parse_endpoint,
)
from cartback.webhooks._errors import (
    EndpointConfigError,
    EndpointNotFoundError,
    TargetRefusedError,
    TargetUnresolvedError,
)
from cartback.webhooks._guard import (
    GuardedBackend,
    GuardedTransport,
    Resolver,
    TargetPolicy,
    system_resolver,
)
from cartback.webhooks._health import (
    DISABLE_AFTER,
    EndpointHealth,
    record_result,
    should_disable,
)
from cartback.webhooks._ipn import IPN_SIGNATURE_FIELDS, ipn_signature, sign_ipn, verify_ipn
from cartback.webhooks._limits import TokenBucket
from cartback.webhooks._payloads import (
    ConsentEntry,
    WebhookCart,
    payload_models,
    payload_schemas,
    render,
)
from cartback.webhooks._registry import EndpointView, consumer_name
from cartback.webhooks._results import (
    Dead,
    DeferReason,
    Deferred,
    Delivered,
    DeliveryError,
    DeliveryResult,
    DisableEndpoint,
    RetryLater,
)
from cartback.webhooks._retry import STANDARD_SCHEDULE, RetryPolicy, parse_retry_after
from cartback.webhooks._sender import LaneSnapshot, SubmitStatus, WebhookSender
from cartback.webhooks._signing import USER_AGENT, delivery_headers, webhook_payload
from cartback.webhooks._worker import WebhookWorker, WorkerReport, WorkerSettings

__all__ = [
    "DISABLE_AFTER",
    "IPN_SIGNATURE_FIELDS",
    "STANDARD_SCHEDULE",
    "THROTTLE_STATUSES",
    "USER_AGENT",
    "WEBHOOK_EVENT_TYPES",
    "AddressClass",
    "ConsentEntry",
    "Dead",
    "DeferReason",
    "Deferred",
    "Delivered",
    "Delivery",
    "DeliveryError",
    "DeliveryResult",
    "DisableEndpoint",
    "DisabledReason",
    "EndpointConfigError",
    "EndpointDisabled",
    "EndpointHealth",
    "EndpointNotFoundError",
    "EndpointSecret",
    "EndpointView",
    "GuardedBackend",
    "GuardedTransport",
    "IPAddress",
    "IPNetwork",
    "LaneSnapshot",
    "Resolver",
    "RetryLater",
    "RetryPolicy",
    "SubmitStatus",
    "TargetPolicy",
    "TargetRefusedError",
    "TargetUnresolvedError",
    "TokenBucket",
    "WebhookCart",
    "WebhookDeliverer",
    "WebhookEndpoint",
    "WebhookEventType",
    "WebhookSender",
    "WebhookWorker",
    "WorkerReport",
    "WorkerSettings",
    "classify_address",
    "consumer_name",
    "delivery_headers",
    "error_for_exception",
    "ipn_signature",
    "parse_endpoint",
    "parse_ip_literal",
    "parse_retry_after",
    "payload_models",
    "payload_schemas",
    "record_result",
    "refused_class",
    "render",
    "should_disable",
    "sign_ipn",
    "system_resolver",
    "verify_ipn",
    "webhook_payload",
]
