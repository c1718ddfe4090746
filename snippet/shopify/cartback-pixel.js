// cartback custom pixel for Shopify's checkout (checkout extensibility).
//
// Shopify's current checkout runs no page scripts, so the snippet cannot read its form.
// This pixel (Settings > Customer events > Add custom pixel, install guide:
// docs/platforms/shopify.md) listens to the checkout's standard events instead and
// posts the same capture body the snippet posts, to the same receiver endpoint:
//
//   checkout_contact_info_submitted   the email (or phone) and the marketing boxes
//   checkout_address_info_submitted   the shipping (and billing) address
//   checkout_completed                the order: POST {endpoint}/complete
//
// Only what the buyer filled in goes out (empty values are left out), keyed by the
// names and autocomplete tokens the receiver maps (data-preset "shopify"); the email
// and SMS marketing consent the events carry go out as consent.newsletter and
// consent.sms. The checkout token is the session: every event of one checkout lands in
// one cart. Requests are text/plain JSON, which needs no CORS preflight. Nothing here
// throws into the checkout: every handler is guarded.

const CARTBACK = {
  endpoint: "https://receiver.example.com/api/capture", // your receiver's capture endpoint
  formId: "shopify-checkout", // your id for this order form
  seller: "us", // the seller of record, unless your receiver declares it per form
};

const cartbackId = (text) => String(text).replace(/-/g, "_"); // no dash: no card-like run

const cartbackPost = (path, body) =>
  fetch(CARTBACK.endpoint + path, {
    method: "POST",
    body: JSON.stringify(body),
    keepalive: true,
  }).catch(() => {});

// An address as fields: each with the autocomplete token that says what it is.
const cartbackAddress = (fields, section, address) => {
  if (!address) return;
  const put = (name, token, value, text) => {
    if (typeof value === "string" && value.trim()) {
      fields[`${section}_${name}`] = { value, autocomplete: `${section} ${token}`, text };
    }
  };
  put("first_name", "given-name", address.firstName);
  put("last_name", "family-name", address.lastName);
  put("company", "organization", address.company);
  put("address1", "address-line1", address.address1);
  put("address2", "address-line2", address.address2);
  put("city", "address-level2", address.city);
  put("province", "address-level1", address.provinceCode || address.province);
  put("zip", "postal-code", address.zip);
  put("country", "country", address.countryCode, address.country || undefined);
  put("phone", "tel", address.phone);
};

const cartbackCapture = (event, step) => {
  const checkout = event.data && event.data.checkout;
  if (!checkout || !checkout.token) return;
  const fields = {};
  if (checkout.email) fields.email = { value: checkout.email, autocomplete: "email" };
  const phone = checkout.phone || checkout.smsMarketingPhone;
  if (phone) fields.phone = { value: phone, autocomplete: "tel" };
  cartbackAddress(fields, "shipping", checkout.shippingAddress);
  cartbackAddress(fields, "billing", checkout.billingAddress);
  const consent = {};
  if (typeof checkout.buyerAcceptsEmailMarketing === "boolean") {
    consent.newsletter = checkout.buyerAcceptsEmailMarketing;
  }
  if (typeof checkout.buyerAcceptsSmsMarketing === "boolean") {
    consent.sms = checkout.buyerAcceptsSmsMarketing;
  }
  const line = (checkout.lineItems || [])[0];
  const product = line && line.variant && line.variant.product;
  const total = checkout.totalPrice || checkout.subtotalPrice;
  const body = {
    session_id: cartbackId(`shopify_${checkout.token}`),
    event_id: cartbackId(event.id),
    form_id: CARTBACK.formId,
    preset: "shopify",
    seller: CARTBACK.seller,
    step,
    fields,
    consent,
  };
  if (product && product.id) body.product_id = String(product.id);
  if (product && product.title) body.product_name = product.title;
  if (total && total.amount != null) {
    body.cart_value = String(total.amount);
    body.currency = total.currencyCode || checkout.currencyCode || undefined;
  }
  cartbackPost("", body);
};

const cartbackGuard =
  (handler) =>
  (...args) => {
    try {
      handler(...args);
    } catch (error) {}
  };

analytics.subscribe(
  "checkout_contact_info_submitted",
  cartbackGuard((event) => cartbackCapture(event, 1)),
);
analytics.subscribe(
  "checkout_address_info_submitted",
  cartbackGuard((event) => cartbackCapture(event, 1)),
);
analytics.subscribe(
  "checkout_completed",
  cartbackGuard((event) => {
    const token = event.data && event.data.checkout && event.data.checkout.token;
    if (!token) return;
    cartbackPost("/complete", {
      session_id: cartbackId(`shopify_${token}`),
      event_id: cartbackId(event.id),
      form_id: CARTBACK.formId,
    });
  }),
);
