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
 * function: its consts stay out of the global scope, and `throw 0` is its early exit),
 * and every listener, timer and API call goes through guard(). Failed requests are
 * retried once, then dropped silently.
 *
 * Written for min+gzip: one send path for capture, complete and opt-out, one table of
 * listeners, and undefined attributes fed to selectors where that is harmless (see
 * `skipped` and `channel`) instead of spelling out defaults.
 */
try {
  const win = window;
  const doc = document;
  const queued = win.cartback; // the queue stub, or a copy of this script already running
  const attrs = doc.currentScript.dataset;
  const endpoint = attrs.endpoint;
  if (queued?.capture || !endpoint) throw 0; // included twice: the first copy runs

  const context = {};
  const extraFields = attrs.extraFields?.split(/[\s,]+/);
  // Inputs never read as fields, marked on themselves or on an ancestor (a fieldset):
  // data-cartback="ignore" or "payment-plan", and the data-payment-plan selector.
  // Without that attribute the list ends in "undefined": a tag name no input has.
  const skipped = '[data-cartback],' + attrs.paymentPlan;
  let lastSent; // the last capture sent (JSON of context, fields and consent)
  let timer;
  let completed;

  const guard =
    (fn) =>
    (...args) => {
      try {
        fn(...args);
      } catch {}
    };

  // 128 random bits as four numbers joined by "x": no run of digits is long enough
  // to look like a card number to the receiver's Luhn check.
  const randomId = () => crypto.getRandomValues(new Uint32Array(4)).join('x');

  // What outlives a page load, per tab, in sessionStorage under "cartback": s = session
  // id, c = a capture was sent, o = opted out. Read and written only when there is
  // something to send, an opt-out or a purchase, never while the page loads. Where the
  // browser refuses storage this throws: the caller's guard drops the call, so such a
  // browser sends nothing at all.
  const stored = (patch) => {
    patch = { s: randomId(), ...JSON.parse(sessionStorage.cartback || 0), ...patch };
    sessionStorage.cartback = JSON.stringify(patch);
    return patch;
  };

  // productId -> product_id (dataset keys, camelCase set() keys); cardNumber -> card_number.
  const snake = (text) => text.replace(/([a-z])(?=[A-Z])/g, '$1_').toLowerCase();

  // Whether the value holds a Luhn-valid run of 13-19 digits, as the receiver finds
  // them (cartback._luhn, on the value with white space collapsed): up to four spaces,
  // dashes or dots between two digits, a run of white space counting as one, and every
  // window of a longer run checked. Separators are removed first (only those before a
  // digit: removing the others joins nothing); then, for each end position, the Luhn
  // sum is built right to left. A doubled digit d adds 2d - 9 when d > 4; mod 10 that
  // is 2d + 1. A digit of another script (full-width, Arabic-Indic) makes the sum NaN,
  // which counts as a card: when unsure, drop.
  const hasCardNumber = (value) => {
    value = value.replace(/(\s+|[.-]){1,4}(?=\p{Nd})/gu, '');
    for (let end = value.length; end--; ) {
      for (let i = 0, sum = 0, digit; /\p{Nd}/u.test((digit = value[end - i])) && i < 19; ) {
        sum += i & 1 ? digit * 2 + (digit > 4) : +digit;
        if (++i > 12 && !(sum % 10)) return 1;
      }
    }
  };

  // Looked up each time: a single-page checkout renders its form after this script.
  const findForm = () => doc.querySelector(attrs.form || 'form');

  // POSTs JSON as text/plain, which needs no CORS preflight: a beacon when the page
  // is going away, else (or when the beacon is refused) fetch with keepalive. A
  // failed fetch is retried once with the same body (so the same event id), then
  // dropped; the next capture may then send the same fields anew.
  const post = guard((url, json, beacon, retried) => {
    const fail = () => (retried ? (lastSent = 0) : setTimeout(post, 1000, url, json, 0, 1));
    (beacon && navigator.sendBeacon(url, json)) ||
      fetch(url, { method: 'POST', body: json, keepalive: true }).then(
        (response) => response.ok || fail(),
        fail,
      );
  });

  // Every request: the ids, then what the caller adds (context, fields, consent).
  const send = (path, data, beacon) =>
    post(
      endpoint + path,
      JSON.stringify({
        v: 1,
        session_id: stored().s,
        event_id: randomId(),
        form_id: context.form_id || findForm()?.getAttribute('id') || location.pathname,
        ...data,
      }),
      beacon,
    );

  // Called by the debounce timer and cartback.capture() (fetch), and as the listener
  // of visibilitychange and pagehide, whose event makes `beacon` true.
  const capture = guard((beacon) => {
    const fields = {};
    let consent; // left out of the JSON while undefined
    let hasEmail;
    // No form (yet, or on this page): querySelectorAll throws and the guard stops here.
    for (const input of findForm().querySelectorAll('input,select,textarea')) {
      const name = input.name || input.id;
      const type = input.type;
      const value = input.value.trim();
      // A consent checkbox: the data-consent one is the newsletter (without that
      // attribute, matches() looks for an "undefined" tag: none), or any box with
      // data-cartback-consent. Never a field; known channels only.
      const channel = input.matches(attrs.consent) ? 'newsletter' : input.dataset.cartbackConsent;
      if (channel != null) {
        if (input.checked && /^(newsletter|email|sms|push)$/.test(channel)) {
          (consent ||= {})[channel] = true;
        }
      } else if (
        name &&
        value &&
        value != input.placeholder &&
        !value[512] && // the receiver refuses longer values
        !input.disabled &&
        // password, hidden (CSRF tokens), submit, button, reset, image, file: no
        // type that holds data starts with these letters.
        !/^(p|h|su|b|re|i|f)/.test(type) &&
        (input.checked || !/ox|io/.test(type)) && // checkbox, radio: only when checked
        // Card inputs: a name, id or autocomplete with a word starting with cc, cvc,
        // cvv, iban or card (cc-number, cc_number, card-number, cardNumber, creditcard,
        // cvc2), but not these letters inside a word (account, success, discard).
        !/(^|[^a-z]|credit)(cc|cv[cv]|iban|card)/.test(
          snake(name + ' ' + input.id + ' ' + input.autocomplete),
        ) &&
        !input.closest(skipped) &&
        !extraFields?.includes(name) &&
        !hasCardNumber(value)
      ) {
        // Several filled inputs of one name (a checkbox group) are joined.
        fields[name] = fields[name] ? fields[name] + ',' + value : value;
        // An email input (by type or name) holding a plausible address.
        if (/email/i.test(type + name) && /^\S+@\S+\.\S+$/.test(value)) hasEmail = 1;
      }
    }
    const data = { ...context, fields, consent };
    const payload = JSON.stringify(data);
    if (hasEmail && !completed && !stored().o && payload != lastSent) {
      lastSent = payload;
      stored({ c: 1 });
      send('', data, beacon);
    }
  });

  // The purchase: stop capturing and, if anything was captured, tell the receiver (by
  // beacon: a submit leaves the page). A later order in this tab is a new session.
  const complete = guard(() => {
    if (!completed) {
      completed = stored();
      if (completed.c && !completed.o) send('/complete', 0, 1);
      stored({ s: randomId(), c: 0 });
    }
  });

  const optOut = guard(() => {
    if (!stored().o) {
      stored({ o: 1 });
      send('/optout');
    }
  });

  // Context for single-page checkouts, in wire spelling (camelCase is accepted too, as
  // in the script's dataset); other keys are ignored. null or '' unsets a key (an
  // undefined value is left out of the JSON). Steps are integers, the rest strings.
  const set = guard((values) => {
    for (let key in values) {
      const value = values[key];
      key = snake(key);
      if (
        /^(form_id|product_(id|name)|cart_value|currency|seller|steps_total|contact_step|consent_version)$/.test(
          key,
        )
      ) {
        context[key] = (/step/.test(key) ? value | 0 : '' + (value ?? '')) || undefined;
      }
    }
  });

  // data-product-id (dataset productId) -> product_id ...; data-steps -> steps_total.
  set({ ...attrs, stepsTotal: attrs.steps });

  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(capture, attrs.debounce || 400);
  };
  // All on window, capturing: it sees every event of the document, blur included.
  // A tab turning visible again captures too, which finds nothing new to send.
  const handlers = {
    change: schedule,
    blur: schedule,
    visibilitychange: capture,
    pagehide: capture,
    submit: (event) => findForm().contains(event.target) && complete(),
    click: (event) => {
      if (event.target.closest(attrs.optout || '[data-cartback=optout]')) {
        event.preventDefault(); // a "No thanks" button inside the form must not submit it
        optOut();
      }
    },
  };
  for (const type in handlers) win.addEventListener(type, guard(handlers[type]), true);

  // The API: cartback.capture() etc., or cartback('capture'), the form the queue
  // stub records before this script loads:
  //   window.cartback=window.cartback||function(){(cartback.q=cartback.q||[]).push(arguments)}
  const api = guard((method, ...args) => api[method](...args));
  api.capture = capture;
  api.optOut = optOut;
  api.complete = complete;
  api.set = set;
  win.cartback = api;
  queued?.q?.map((args) => api(...args));
} catch {}
