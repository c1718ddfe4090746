/*
 * cartback snippet: sends the order-form fields a prospect actually filled in to the
 * shop's receiver, so an abandoned checkout can be recovered.
 *
 * Readable source; cartback.min.js is built from it by `npm run build`, within the
 * min+gzip budget of package.json. Embed it with one tag, no build step, no dependencies:
 *
 *   <script src="/cartback.min.js" data-endpoint="/api/capture" data-form="#order"
 *           data-form-id="f1" data-product-id="p1" defer></script>
 *
 * Attributes, API, queue stub and wire protocol: docs/snippet.md.
 *
 * Nothing here may throw into the page: the body is one try block (a block, not a
 * function: its bindings stay out of the global scope, and `throw 0` is its early exit),
 * and every listener and API call goes through guard(). A failed fetch forgets what
 * was last sent, so the next trigger sends it again; there is no timed retry.
 *
 * Written for the budget: every byte here is one the shop's checkout downloads. What the
 * receiver checks anyway is left to it: context goes out as given (it reads the keys it
 * knows, coerces and refuses, naming the key), as do consent channels, a missing form
 * id, a preset name,
 * and what an autocomplete token or a country option means. One send path for capture,
 * complete and opt-out; the API methods in one object guarded in one loop; one table of
 * listeners; undefined attributes fed to selectors where that is harmless (see
 * `skipped` and `channel`). Bindings are `let`, never `const`: the minifier joins them
 * into one declaration, and `let` is two bytes shorter.
 */
try {
  let queued = self.cartback; // the queue stub, if the page set one up
  let attrs = document.currentScript.dataset;
  let endpoint = attrs.endpoint;
  if (!endpoint) throw 0;

  let context = {};
  let extraFields = attrs.extraFields?.split(/[\s,]+/);
  // Inputs never read as fields, marked on themselves or on an ancestor (a fieldset):
  // data-cartback="ignore" or "payment-plan", and the data-payment-plan selector.
  // Without that attribute the list ends in "undefined": a tag name no input has.
  let skipped = '[data-cartback],' + attrs.paymentPlan;
  let lastSent; // the last capture sent (JSON of context, fields and consent)
  let timer;
  let completed;

  let guard =
    (fn) =>
    (...args) => {
      try {
        fn(...args);
      } catch {}
    };

  // A random UUID (122 random bits) with "_" for "-": no separator the receiver's card
  // check joins digits across, so no run of digits is long enough to look like a card.
  // randomUUID exists in secure contexts only (HTTPS, localhost), as a checkout is.
  let randomId = () => crypto.randomUUID().replace(/-/g, '_');

  // What outlives a page load, per tab, in sessionStorage: under "cartback" the session
  // id, or "-" once the prospect opted out (nothing is sent after that, so the id is no
  // longer needed); under "cartbackSent" the last capture sent, whose fields carry on to
  // the next step's page (dropped at the purchase and the opt-out). Read and written
  // only when there is something to send, an opt-out or a purchase, never while the page
  // loads. Where the browser refuses storage this throws: the caller's guard drops the
  // call, so such a browser sends nothing at all. An id is 36 characters, "-" one:
  // session()[9] tells them apart.
  let session = () => (sessionStorage.cartback ||= randomId());

  // productId -> product_id (dataset keys, camelCase set() keys); cardNumber -> card_number.
  let snake = (text) => text.replace(/([a-z])(?=[A-Z])/g, '$1_').toLowerCase();

  // Whether the value may hold a card number: a superset of the receiver's rule
  // (cartback._luhn), compact for the byte budget, so that the snippet never sends a value
  // the receiver would drop, and drops a few more. Like the receiver, it takes the digit
  // windows of 13-19 digits that start at a typed group's first digit (or 3 or 4 digits
  // into it: a code glued in front) and end at a group's last digit (or 3 or 4 before
  // it: a glued CVV or expiry), one end at most leaving glued digits, and keeps the
  // Luhn-valid ones. Unlike it: any number of spaces, dashes or dots joins two digits
  // (the receiver: four, white space collapsed), and no issuer range or length is
  // checked, so a Luhn-valid number no card network issues (a 16-digit parcel number
  // starting with 0 or 7) is dropped here and kept there.
  // For each end, the Luhn sum is built right to left over the digits (separators
  // skipped); a doubled digit d adds 2d - 9 when d > 4, which mod 10 is 2d + 1. Then the
  // text before the window and after its end, joined by a NUL, shows the glued digits
  // on either side. A digit of another script (full-width, Arabic-Indic) makes the sum
  // NaN, which counts as Luhn-valid: when unsure, drop. Digits outside the Basic
  // Multilingual Plane are not digits here (the receiver drops those values).
  let hasCardNumber = (value) => {
    for (const end in value)
      for (let i = end, n = 0, sum = 0, digit; n < 19 && /[\p{Nd}\s.-]/u.test((digit = value[i])); i--)
        if (
          /\p{Nd}/u.test(digit) &&
          ((sum += n++ & 1 ? digit * 2 + (digit > 4) : +digit), n > 12) &&
          !(sum % 10) &&
          /(^|\P{Nd})((\p{Nd}{3,4})?\0|\0(\p{Nd}{3,4})?)(\P{Nd}|$)/u.test(
            value.slice(0, i) + '\0' + value.slice(-~end),
          )
        )
          return 1;
  };
  // Looked up each time: a single-page checkout renders its form after this script.
  let findForm = () => document.querySelector(attrs.form || 'form');

  // Every request: the ids and the form id, then what the caller adds (context, fields,
  // consent), POSTed as text/plain JSON, which needs no CORS preflight: a beacon when
  // the page is going away, else (or when the browser refuses the beacon) fetch with
  // keepalive. A failed fetch (network error or non-2xx answer) is not retried by a
  // timer: it forgets lastSent, so the next trigger (a blur, the tab hidden) sends
  // the same fields again.
  let send = (path, data, beacon) => {
    let body = JSON.stringify({
      session_id: session(),
      event_id: randomId(),
      form_id: context.form_id,
      ...data,
    });
    (beacon && navigator.sendBeacon(endpoint + path, body)) ||
      fetch(endpoint + path, { method: 'POST', body, keepalive: 1 }).then(
        (response) => response.ok || (lastSent = 0),
        () => (lastSent = 0),
      );
  };

  // The API: cartback.capture() etc., or cartback('capture'), the form the queue
  // stub records before this script loads:
  //   window.cartback=window.cartback||function(){(cartback.q=cartback.q||[]).push(arguments)}
  let api = guard((method, ...args) => api[method](...args));
  let methods = {
    // Called by the debounce timer and cartback.capture() (fetch), and as the listener
    // of visibilitychange, whose event makes `beacon` true.
    capture(beacon) {
      // The fields sent earlier in this tab carry on: a step's page (or a step a
      // single-page checkout no longer shows) adds to them, its values winning.
      let fields = { ...JSON.parse(sessionStorage.cartbackSent || 0).fields };
      let consent; // left out of the JSON while undefined
      // No form (yet, or on this page): querySelectorAll throws and the guard stops here.
      for (let input of findForm().querySelectorAll('input,select,textarea')) {
        let name = input.name || input.id;
        let type = input.type;
        let value = input.value.trim();
        // A consent checkbox: the data-consent one is the newsletter (without that
        // attribute, matches() looks for an "undefined" tag: none), or any box with
        // data-cartback-consent="<channel>". Never a field.
        let channel = input.matches(attrs.consent) ? 'newsletter' : input.dataset.cartbackConsent;
        if (channel != null) {
          if (input.checked) (consent ||= {})[channel] = true;
        } else if (
          name &&
          value &&
          !value[512] && // the receiver refuses longer values
          (input.checked || !/ox|io/.test(type)) && // checkbox, radio: only when checked
          // One test of "type name id autocomplete". The type first: password, hidden
          // (CSRF tokens), submit, button, reset, image, file; no type that holds data
          // starts with these letters. Then card inputs: a name, id or autocomplete
          // with a word starting with cc, cvc, cvv, iban or card (cc-number, cc_number,
          // card-number, cardNumber, creditcard, cvc2), but not these letters inside a
          // word (account, success, discard).
          !/^(p|h|su|b|re|i|f)|([^a-z]|credit)(cc|cv[cv]|iban|card)/.test(
            snake(type + ' ' + name + ' ' + input.id + ' ' + input.autocomplete),
          ) &&
          !input.closest(skipped) &&
          !extraFields?.includes(name) &&
          !hasCardNumber(value)
        ) {
          // The value, the input's autocomplete token as the browser reads it ("" when
          // it has none or an invalid one) and, for a select, the chosen option's text:
          // the receiver maps "shipping postal-code" and reads a country id like "8"
          // only with its text ("France") or the platform's preset.
          fields[name] = { value, autocomplete: input.autocomplete, text: input[input.selectedIndex]?.text };
        }
      }
      // The focused input's name or id (never its value), for where prospects stop.
      let focused = document.activeElement;
      let data = { context, last_field: focused.name || focused.id, fields, consent };
      let payload = JSON.stringify(data);
      // Nothing is sent before a field holds something like a@b.co (the receiver checks
      // the email itself), after the purchase or the opt-out, or twice in a row.
      if (/\S@\S+\.\S/.test(JSON.stringify(fields)) && !completed && session()[9] && payload != lastSent) {
        sessionStorage.cartbackSent = lastSent = payload;
        send('', data, beacon);
      }
    },

    // The purchase: stop capturing and tell the receiver (by beacon: a submit leaves the
    // page), unless the prospect opted out. A later order in this tab is a new session.
    complete() {
      if (!completed) {
        completed = 1;
        if (session()[9]) {
          send('/complete', 0, 1);
          sessionStorage.cartback = randomId();
          delete sessionStorage.cartbackSent;
        }
      }
    },

    optOut() {
      if (session()[9]) {
        send('/optout');
        sessionStorage.cartback = '-';
        delete sessionStorage.cartbackSent;
      }
    },

    // Context in wire spelling (camelCase is turned into it, as in the script's dataset).
    // Every key goes out, in the capture's "context" object: the receiver reads the keys
    // it knows (form_id, product_id ... consent_version) and ignores the rest, such as
    // this script's own attributes (endpoint, form ...), so no list of keys is needed
    // here. Values go out as given: the receiver turns numbers into text where it wants
    // text and "2" into 2 for steps, and takes null or "" as unset.
    set(values) {
      for (let key in values) context[snake(key)] = values[key];
    },
  };
  for (let name in methods) api[name] = guard(methods[name]);

  // data-product-id (dataset productId) -> product_id ... (and data-endpoint -> endpoint,
  // which the receiver ignores).
  api.set(attrs);

  // All on window, capturing: it sees every event of the document. A blur (focus moving
  // on, a select or box left, the window losing focus) restarts the debounce
  // (clearTimeout runs first: it is an argument). The tab hidden captures at once, by
  // beacon: browsers fire visibilitychange before a page goes away (navigation, closed
  // tab) as well as on a tab switch; turning visible again finds nothing new to send.
  let handlers = {
    blur: () => (timer = setTimeout(api.capture, attrs.debounce || 400, clearTimeout(timer))),
    visibilitychange: api.capture,
    // A submit is the purchase. On a platform preset's checkout (data-preset), whose
    // steps submit one by one, only a submit of a form holding the payment choice (an
    // input named *pay*) is; a step's submit is captured at once instead (a single-page
    // checkout may remove the step's inputs next) and capture carries on: the thank-you
    // page's cartback('complete') or the shop's order ends the cart. (The purchase sends
    // no capture: it could reach the receiver after the purchase and open a new cart.)
    submit: (event) =>
      findForm().contains(event.target) &&
      (context.preset && !event.target.querySelector('[name*=pay]') ? api.capture : api.complete)(),
    // A "No thanks" button inside the form must not submit it: its default is prevented.
    click: (event) =>
      event.target.closest(attrs.optout || '[data-cartback=optout]') &&
      api.optOut(event.preventDefault()),
  };
  for (let type in handlers) addEventListener(type, guard(handlers[type]), true);

  self.cartback = api;
  queued?.q?.map((args) => api(...args));
} catch {}
