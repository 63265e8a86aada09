/*
 * leadloop capture widget.
 *
 *   <script src="https://HOST/widget.js" data-form="SLUG"
 *           data-mode="inline|popup|chat" data-target="#css-selector"></script>
 *
 * Runs on third-party pages, so it keeps to itself: one IIFE, one <style> with `ll-` classes,
 * one global (`window.leadloop.open(slug)`). Whatever the visitor typed or the server sent is
 * inserted as text (textContent, value, attributes), never parsed as HTML.
 */
(() => {
  "use strict";

  const STATE = Symbol.for("leadloop.widget");
  const MODES = ["inline", "popup", "chat"];
  const COULD_NOT_SEND = "Sorry, we could not send that. Please check your connection and try again.";
  const REQUIRED = "This field is required.";
  const TICK_REQUIRED = "Please tick this box to continue.";
  const TEMPORARY_ADDRESS = "This looks like a temporary address: use one you will keep so we can reach you.";
  const PROOF_FRESH_MS = 10 * 60 * 1000; // a solution older than this is solved again (they expire)
  const CHECK_DELAY_MS = 250;
  const CHAT_CHECK_WAIT_MS = 1500;

  const script = document.currentScript || findOwnScript();
  if (!script || !script.src) return;
  const base = new URL(".", script.src).href;
  const shared = sharedState();

  /* ---------- shared page state: one visitor id, one beacon, one stylesheet ---------- */

  function findOwnScript() {
    // Without currentScript (an old or odd loader) the last matching tag is the one running.
    const tags = document.querySelectorAll('script[src*="widget.js"][data-form]');
    return tags[tags.length - 1] || null;
  }

  function sharedState() {
    const existing = window.leadloop && window.leadloop[STATE];
    if (existing) return existing;
    const state = { tracked: false, styled: false, count: 0, forms: new Map(), popups: new Map() };
    const publicApi = { open: (slug) => openPopupBySlug(String(slug || "")) };
    Object.defineProperty(publicApi, STATE, { value: state });
    window.leadloop = publicApi;
    return state;
  }

  function apiUrl(path) {
    return new URL("api/v1/" + path, base).href;
  }

  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (_) {
      return null; // storage disabled (privacy mode, sandboxed frame): run without memory
    }
  }

  function storageSet(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (_) {
      /* same as above */
    }
  }

  function randomHex(bytes) {
    const buffer = new Uint8Array(bytes);
    crypto.getRandomValues(buffer);
    return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function visitorId() {
    if (shared.visitor) return shared.visitor;
    let id = storageGet("ll_vid") || "";
    if (!/^[0-9a-f]{32}$/.test(id)) {
      id = randomHex(16);
      storageSet("ll_vid", id);
    }
    shared.visitor = id;
    return id;
  }

  function trackPageView() {
    if (shared.tracked) return;
    shared.tracked = true;
    const url = apiUrl("track");
    // A plain string goes as text/plain: a "simple" request, so no CORS preflight is needed.
    const body = JSON.stringify({
      visitor_id: visitorId(),
      url: location.href,
      title: document.title,
      referrer: document.referrer,
    });
    let queued = false;
    try {
      queued = Boolean(navigator.sendBeacon && navigator.sendBeacon(url, body));
    } catch (_) {
      queued = false;
    }
    if (!queued) {
      fetch(url, { method: "POST", body, keepalive: true, mode: "no-cors", credentials: "omit" })
        .catch(() => {});
    }
  }

  // UTM parameters and click ids are read by the server from the landing page's URL
  // (tracking.clean_touch), so the list of keys lives in one place.
  function trackingParams() {
    return { referrer: document.referrer, landing_page: location.href };
  }

  /* ---------- talking to leadloop ---------- */

  function getJson(path) {
    return fetch(apiUrl(path), { credentials: "omit", headers: { Accept: "application/json" } }).then(
      (response) => {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      },
    );
  }

  function formPath(slug, rest) {
    return "forms/" + encodeURIComponent(slug) + (rest || "");
  }

  function loadForm(slug) {
    if (!shared.forms.has(slug)) {
      // The visitor id, so an A/B test on the form shows this visitor their variant.
      const request = getJson(formPath(slug, "?visitor=" + visitorId()));
      // A failed load must not be cached: a later open() may succeed.
      request.catch(() => shared.forms.delete(slug));
      shared.forms.set(slug, request);
    }
    return shared.forms.get(slug);
  }

  async function postSubmission(slug, mode, body) {
    let response;
    try {
      response = await fetch(
        apiUrl("forms/" + encodeURIComponent(slug) + "/submissions?mode=" + mode),
        {
          method: "POST",
          credentials: "omit",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body),
        },
      );
    } catch (_) {
      return { ok: false, errors: null };
    }
    // 202 means stored but not yet processed (the server retries it): the visitor is done, and
    // asking them to send again would only make a duplicate.
    if (response.status === 200 || response.status === 201 || response.status === 202) {
      return { ok: true, data: await response.json().catch(() => ({})) };
    }
    if (response.status === 422) {
      const data = await response.json().catch(() => null);
      if (data && Array.isArray(data.errors) && data.errors.length) {
        return { ok: false, errors: data.errors };
      }
    }
    return { ok: false, errors: null };
  }

  function newSignals(root) {
    const signals = { started: performance.now(), keystrokes: 0, pastes: 0, focus: [] };
    root.addEventListener("keydown", () => signals.keystrokes++, true);
    root.addEventListener("paste", () => signals.pastes++, true);
    root.addEventListener("focusin", (event) => {
      const name = event.target.getAttribute && event.target.getAttribute("data-ll-name");
      const order = signals.focus;
      if (name && order[order.length - 1] !== name && order.length < 200) order.push(name);
    });
    return signals;
  }

  function signalsOf(signals) {
    return {
      keystrokes: signals.keystrokes,
      pastes: signals.pastes,
      ms_to_submit: Math.round(performance.now() - signals.started),
      focus_order: signals.focus.slice(),
    };
  }

  function submissionBody(answers, step, partial, guard, proof) {
    return {
      answers,
      step,
      partial,
      visitor_id: visitorId(),
      page_url: location.href,
      tracking: trackingParams(),
      signals: signalsOf(guard.signals),
      honeypot: guard.honeypot.value,
      opened: guard.opened,
      proof_of_work: proof || "",
    };
  }

  /* ---------- is a person filling this in: honeypot, form-opened token, proof-of-work ---------- */

  // A field people never see (off-screen, out of the tab order, hidden from screen readers) that
  // form-filling bots do fill in. The server answers such a bot like anyone else.
  function honeypotField() {
    const box = el("div", "ll-hp");
    box.setAttribute("aria-hidden", "true");
    const label = el("label", null, "Website ");
    const input = el("input");
    input.type = "text";
    input.name = "website";
    input.tabIndex = -1;
    input.autocomplete = "off";
    label.append(input);
    box.append(label);
    return { box, input };
  }


  // One solution per submission (the server takes each once): warm() starts solving in the
  // background, take() hands over the solution (waiting for it if need be) and forgets it.
  function proofMaker(slug, required) {
    let pending = null;
    let startedAt = 0;
    const solve = () => {
      startedAt = Date.now();
      return getJson(formPath(slug, "/challenge"))
        .then(leadloopProof.solve)
        .catch(() => "");
    };
    return {
      warm() {
        if (!required) return;
        if (!pending || Date.now() - startedAt > PROOF_FRESH_MS) pending = solve();
      },
      take() {
        if (!required) return Promise.resolve("");
        this.warm();
        const solution = pending;
        pending = null;
        return solution;
      },
    };
  }

  function newGuard(form, root) {
    const trap = honeypotField();
    const settings = form.definition.settings || {};
    const proof = proofMaker(form.slug, settings.proof_of_work === true);
    proof.warm();
    return { signals: newSignals(root), honeypot: trap.input, trap: trap.box, opened: form.opened || "", proof };
  }

  /* ---------- the as-you-type email check: "Did you mean …?" ---------- */

  function emailCheck(slug, input) {
    const hint = el("p", "ll-hint");
    hint.hidden = true;
    hint.setAttribute("aria-live", "polite");
    let timer = 0;
    let asked = 0;
    let checked = null; // { value, answer } of the last check that came back
    let running = null;

    function hide() {
      hint.hidden = true;
      hint.replaceChildren();
    }

    function render(answer) {
      hide();
      if (!answer || !answer.valid) return false;
      if (answer.suggestion) {
        const fix = el("button", "ll-suggestion", answer.suggestion);
        fix.type = "button";
        fix.addEventListener("click", () => {
          input.value = answer.suggestion;
          checked = { value: answer.suggestion, answer: null };
          hide();
          input.dispatchEvent(new Event("input", { bubbles: true }));
          input.focus();
        });
        hint.append("Did you mean ", fix, "?");
      } else if (answer.disposable) {
        hint.textContent = TEMPORARY_ADDRESS;
      } else {
        return false;
      }
      hint.hidden = false;
      return true;
    }

    // Resolves to whether a hint is on screen for what is in the field now. Failures are silent.
    function check() {
      clearTimeout(timer);
      const value = input.value.trim();
      if (checked && checked.value === value) return Promise.resolve(!hint.hidden);
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
        hide();
        return Promise.resolve(false);
      }
      if (running && running.value === value) return running.promise;
      const ticket = ++asked;
      const promise = getJson(formPath(slug, "/validate?email=" + encodeURIComponent(value)))
        .then((data) => {
          if (ticket !== asked || input.value.trim() !== value) return false; // typed on since
          checked = { value, answer: data.email || null };
          return render(checked.answer);
        })
        .catch(() => false)
        .finally(() => {
          if (running && running.promise === promise) running = null;
        });
      running = { value, promise };
      return promise;
    }

    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(check, CHECK_DELAY_MS);
    };
    input.addEventListener("change", later);
    input.addEventListener("blur", later);
    input.addEventListener("input", () => {
      if (!checked || checked.value !== input.value.trim()) hide();
    });
    return { hint, check };
  }

  /* ---------- the definition: conditions as the server judges them ---------- */

  function flatFields(definition) {
    const fields = [];
    definition.steps.forEach((step, index) => {
      for (const spec of step.fields) fields.push({ spec, step: index });
    });
    return fields;
  }

  function hasOptions(spec) {
    return Array.isArray(spec.options) && spec.options.length > 0;
  }

  function isBoolean(spec) {
    return spec.type === "consent" || (spec.type === "checkbox" && !hasOptions(spec));
  }

  function options(spec) {
    return (spec.options || []).map((o) => (typeof o === "string" ? { value: o, label: o } : o));
  }

  const { holds } = leadloopConditions;

  function cleanForCondition(spec, raw) {
    if (isBoolean(spec)) return raw === true;
    if (Array.isArray(raw)) return raw.map((v) => String(v).trim());
    if (raw === undefined || raw === null) return "";
    const text = String(raw);
    return spec.type === "textarea" ? text.trim() : text.split(/\s+/).filter(Boolean).join(" ");
  }

  /*
   * Walk the fields in order as clean_answers does: a field whose condition fails is not asked
   * and its answer does not count; consent is evidence, not a value. Returns the values the
   * server would see and which fields are shown.
   */
  function evaluate(fields, answers, throughStep) {
    const values = {};
    const shown = new Set();
    for (const { spec, step } of fields) {
      if (throughStep !== undefined && step > throughStep) break;
      if (spec.show_if && !holds(spec.show_if, values)) continue;
      shown.add(spec.name);
      if (spec.type === "consent") continue;
      const raw = spec.type === "hidden" && answers[spec.name] === undefined ? spec.default : answers[spec.name];
      const value = cleanForCondition(spec, raw);
      if (value !== "" && !(Array.isArray(value) && value.length === 0)) values[spec.name] = value;
    }
    return { values, shown };
  }

  function hasContact(values) {
    return Boolean(values.email || values.phone);
  }

  function isEmpty(spec, value) {
    if (isBoolean(spec)) return value !== true;
    if (Array.isArray(value)) return value.length === 0;
    return value === undefined || value === null || String(value).trim() === "";
  }

  function requiredMessage(spec) {
    return spec.type === "consent" ? TICK_REQUIRED : REQUIRED;
  }

  function safeRedirect(url) {
    if (!url || typeof url !== "string") return "";
    try {
      const target = new URL(url, location.href);
      return target.protocol === "https:" || target.protocol === "http:" ? target.href : "";
    } catch (_) {
      return "";
    }
  }

  /* ---------- DOM helpers: text only ---------- */

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function requiredMark() {
    const mark = el("span", "ll-req", "*");
    mark.setAttribute("aria-hidden", "true");
    return mark;
  }

  function wait(ms) {
    return new Promise((resolve) => setTimeout(() => resolve(false), ms));
  }

  function ready(callback) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", callback, { once: true });
    } else {
      callback();
    }
  }

  function nextId(prefix) {
    shared.count += 1;
    return "ll" + shared.count + "-" + prefix;
  }

  function thankYouMessage(definition) {
    const thanks = (definition.settings || {}).thank_you || {};
    return thanks.message || "Thank you! We will be in touch shortly.";
  }

  /* ---------- the step-by-step form (inline and popup) ---------- */

  function fieldControl(spec, id) {
    const wrap = el("div", "ll-field ll-type-" + spec.type);
    const record = { spec, wrap, inputs: [], id, error: el("p", "ll-error") };
    record.error.id = id + "-error";
    record.error.hidden = true;
    let help = null;
    if (spec.help) {
      help = el("p", "ll-help", spec.help);
      help.id = id + "-help";
    }
    const describe = (node) => {
      if (help) node.setAttribute("aria-describedby", help.id);
    };
    const tag = (input) => {
      input.setAttribute("data-ll-name", spec.name);
      record.inputs.push(input);
      return input;
    };

    if (isBoolean(spec)) {
      const label = el("label", "ll-check");
      const input = tag(el("input"));
      input.type = "checkbox";
      input.id = id;
      input.name = spec.name;
      input.value = "1";
      if (spec.required) input.required = true;
      describe(input);
      const text = el("span", "ll-check-text", spec.label);
      if (spec.required) text.append(" ", requiredMark());
      label.append(input, text);
      wrap.append(label);
    } else if (spec.type === "radio" || spec.type === "checkbox") {
      const group = el("fieldset", "ll-choices");
      const legend = el("legend", "ll-label", spec.label);
      if (spec.required) legend.append(" ", requiredMark(), el("span", "ll-sr", "(required)"));
      group.append(legend);
      describe(group);
      options(spec).forEach((option, index) => {
        const label = el("label", "ll-check");
        const input = tag(el("input"));
        input.type = spec.type;
        input.name = id;
        input.value = option.value;
        if (index === 0) input.id = id;
        label.append(input, el("span", "ll-check-text", option.label));
        group.append(label);
      });
      record.group = group;
      wrap.append(group);
    } else {
      const label = el("label", "ll-label", spec.label);
      label.htmlFor = id;
      if (spec.required) label.append(" ", requiredMark());
      let input;
      if (spec.type === "select") {
        input = el("select", "ll-input");
        input.append(new Option("Choose…", ""));
        for (const option of options(spec)) input.append(new Option(option.label, option.value));
      } else if (spec.type === "textarea") {
        input = el("textarea", "ll-input");
        input.rows = 4;
        if (spec.max_length) input.maxLength = spec.max_length;
      } else {
        input = el("input", "ll-input");
        input.type = { email: "email", phone: "tel", number: "number" }[spec.type] || "text";
        const autocomplete = {
          email: "email",
          phone: "tel",
          first_name: "given-name",
          last_name: "family-name",
          company: "organization",
        }[spec.type === "text" ? spec.name : spec.type];
        if (autocomplete) input.autocomplete = autocomplete;
        if (spec.type === "number") {
          input.inputMode = "decimal";
          if (spec.min != null) input.min = spec.min;
          if (spec.max != null) input.max = spec.max;
          input.step = "any";
        }
        if (spec.max_length) input.maxLength = spec.max_length;
      }
      input.id = id;
      input.name = spec.name;
      if (spec.placeholder && input.tagName !== "SELECT") input.placeholder = spec.placeholder;
      if (spec.required) input.required = true;
      describe(input);
      tag(input);
      wrap.append(label, input);
    }
    if (help) wrap.append(help);
    wrap.append(record.error);
    return record;
  }

  function readControl(record) {
    const spec = record.spec;
    if (spec.type === "hidden") return spec.default || "";
    if (isBoolean(spec)) return record.inputs[0].checked;
    if (spec.type === "checkbox") return record.inputs.filter((i) => i.checked).map((i) => i.value);
    if (spec.type === "radio") {
      const chosen = record.inputs.find((i) => i.checked);
      return chosen ? chosen.value : "";
    }
    return record.inputs[0].value;
  }

  function browserProblem(record) {
    const input = record.inputs[0];
    if (!input || !input.validity) return "";
    if (input.validity.typeMismatch && record.spec.type === "email") return "Enter a valid email address.";
    if (input.validity.badInput) return "Enter a number.";
    if (input.validity.rangeUnderflow) return "Enter " + record.spec.min + " or more.";
    if (input.validity.rangeOverflow) return "Enter " + record.spec.max + " or less.";
    return "";
  }

  function createFormView(form, mode) {
    const definition = form.definition;
    const settings = definition.settings || {};
    const steps = definition.steps;
    const fields = flatFields(definition);
    const last = steps.length - 1;
    const root = el("div", "ll-root ll-form-view");
    const titleId = nextId("title");
    const title = el("h2", "ll-title", definition.title || form.name);
    title.id = titleId;
    root.append(title);
    if (definition.description) root.append(el("p", "ll-desc", definition.description));

    let progressText = null;
    let progressBar = null;
    let progressFill = null;
    if (steps.length > 1) {
      const progress = el("div", "ll-progress");
      progressText = el("p", "ll-progress-text");
      progressBar = el("div", "ll-bar");
      progressBar.setAttribute("role", "progressbar");
      progressBar.setAttribute("aria-label", "Progress");
      progressBar.setAttribute("aria-valuemin", "1");
      progressBar.setAttribute("aria-valuemax", String(steps.length));
      progressFill = el("div", "ll-bar-fill");
      progressBar.append(progressFill);
      progress.append(progressText, progressBar);
      root.append(progress);
    }

    const formEl = el("form", "ll-body");
    formEl.noValidate = true;
    formEl.setAttribute("aria-labelledby", titleId);
    const message = el("div", "ll-message");
    message.setAttribute("role", "alert");
    message.hidden = true;

    const records = new Map();
    const checks = [];
    const stepEls = steps.map((step, index) => {
      const fieldset = el("fieldset", "ll-step");
      fieldset.setAttribute("data-ll-step", String(index));
      if (step.title) fieldset.append(el("legend", "ll-step-title", step.title));
      for (const spec of step.fields) {
        if (spec.type === "hidden") {
          records.set(spec.name, { spec, step: index, inputs: [] });
          continue;
        }
        const record = fieldControl(spec, nextId(spec.name));
        record.step = index;
        records.set(spec.name, record);
        if (spec.type === "email") {
          const check = emailCheck(form.slug, record.inputs[0]);
          record.inputs[0].after(check.hint);
          checks.push(check);
        }
        fieldset.append(record.wrap);
      }
      return fieldset;
    });

    const actions = el("div", "ll-actions");
    const back = el("button", "ll-btn ll-btn-secondary", "Back");
    back.type = "button";
    const next = el("button", "ll-btn ll-btn-primary");
    next.type = "submit";
    actions.append(back, next);
    const guard = newGuard(form, root);
    formEl.append(guard.trap, ...stepEls, message, actions);
    root.append(formEl);

    let current = 0;
    let busy = false;

    function answers() {
      const raw = {};
      for (const [name, record] of records) raw[name] = readControl(record);
      return raw;
    }

    // Only what is on screen is sent: an answer to a question the visitor then hid is dropped.
    function shownAnswers(throughStep) {
      const raw = answers();
      const { values, shown } = evaluate(fields, raw, throughStep);
      const sent = {};
      for (const name of shown) sent[name] = raw[name];
      return { sent, values, shown };
    }

    function refresh() {
      const { shown } = evaluate(fields, answers());
      for (const record of records.values()) {
        if (record.wrap) record.wrap.hidden = !shown.has(record.spec.name);
      }
    }

    function setError(record, text) {
      record.error.textContent = text;
      record.error.hidden = !text;
      const targets = record.group ? [record.group] : record.inputs;
      for (const node of targets) {
        const ids = (node.getAttribute("aria-describedby") || "")
          .split(" ")
          .filter((id) => id && id !== record.error.id);
        if (text) ids.push(record.error.id);
        if (ids.length) node.setAttribute("aria-describedby", ids.join(" "));
        else node.removeAttribute("aria-describedby");
        if (!record.group) {
          if (text) node.setAttribute("aria-invalid", "true");
          else node.removeAttribute("aria-invalid");
        }
      }
      record.wrap.classList.toggle("ll-invalid", Boolean(text));
    }

    function showMessage(text) {
      message.textContent = text || "";
      message.hidden = !text;
    }

    function go(index) {
      current = index;
      stepEls.forEach((fieldset, i) => {
        fieldset.hidden = i !== index;
      });
      back.hidden = index === 0;
      next.textContent = index === last ? settings.submit_label || "Submit" : "Next";
      if (progressBar) {
        progressText.textContent = "Step " + (index + 1) + " of " + steps.length;
        progressBar.setAttribute("aria-valuenow", String(index + 1));
        progressBar.setAttribute("aria-valuetext", progressText.textContent);
        progressFill.style.width = ((index + 1) / steps.length) * 100 + "%";
      }
    }

    function focusFirst(records_) {
      const record = records_.find((r) => r.inputs.length);
      if (record) record.inputs[0].focus();
    }

    function validateStep(index) {
      const { shown } = evaluate(fields, answers());
      const invalid = [];
      for (const record of records.values()) {
        if (record.step !== index || !record.wrap || !shown.has(record.spec.name)) continue;
        const value = readControl(record);
        let problem = record.spec.required && isEmpty(record.spec, value) ? requiredMessage(record.spec) : "";
        if (!problem) problem = browserProblem(record);
        setError(record, problem);
        if (problem) invalid.push(record);
      }
      focusFirst(invalid);
      return invalid.length === 0;
    }

    function showServerErrors(errors) {
      const general = [];
      const invalid = [];
      for (const record of records.values()) if (record.wrap) setError(record, "");
      for (const error of errors) {
        const record = error.field ? records.get(error.field) : null;
        if (record && record.wrap) {
          setError(record, error.message);
          invalid.push(record);
        } else {
          general.push(error.message);
        }
      }
      showMessage(general.join(" "));
      if (invalid.length) {
        const earliest = Math.min(...invalid.map((r) => r.step));
        if (earliest !== current) go(earliest);
        refresh();
        focusFirst(invalid.filter((r) => r.step === earliest));
      }
    }

    function finish() {
      const redirect = safeRedirect((settings.thank_you || {}).redirect_url || "");
      if (redirect) {
        window.location.assign(redirect);
        return;
      }
      const thanks = el("div", "ll-thanks", thankYouMessage(definition));
      thanks.setAttribute("role", "status");
      thanks.tabIndex = -1;
      formEl.replaceWith(thanks);
      if (progressBar) progressBar.parentNode.remove();
      thanks.focus();
      view.done = true;
    }

    async function advance() {
      if (busy) return;
      showMessage("");
      if (!validateStep(current)) return;
      const final = current === last;
      const { sent, values } = shownAnswers(final ? undefined : current);
      // The server keeps a partial lead only once it has a way to reach the person; before that
      // a partial post would be refused, so the funnel just moves on.
      if (final || hasContact(values)) {
        busy = true;
        next.disabled = true;
        root.setAttribute("aria-busy", "true");
        const proof = await guard.proof.take();
        const body = submissionBody(sent, current, !final, guard, proof);
        const result = await postSubmission(form.slug, mode, body);
        busy = false;
        next.disabled = false;
        root.removeAttribute("aria-busy");
        if (!final || !result.ok) guard.proof.warm(); // the next send needs a solution of its own
        if (!result.ok) {
          if (result.errors) showServerErrors(result.errors);
          else showMessage(COULD_NOT_SEND);
          return;
        }
      }
      if (final) {
        finish();
      } else {
        go(current + 1);
        focusFirst([...records.values()].filter((r) => r.step === current && !r.wrap?.hidden));
      }
    }

    formEl.addEventListener("submit", (event) => {
      event.preventDefault();
      advance();
    });
    back.addEventListener("click", () => {
      if (current > 0) {
        showMessage("");
        go(current - 1);
        focusFirst([...records.values()].filter((r) => r.step === current && !r.wrap?.hidden));
      }
    });
    const onEdit = (event) => {
      const name = event.target.getAttribute && event.target.getAttribute("data-ll-name");
      const record = name && records.get(name);
      if (record && !record.error.hidden) setError(record, "");
      refresh();
    };
    formEl.addEventListener("input", onEdit);
    formEl.addEventListener("change", onEdit);

    go(0);
    refresh();
    const view = { root, titleId, done: false, focusFirst: () => focusFirst([...records.values()].filter((r) => r.step === current && !r.wrap?.hidden)) };
    return view;
  }

  /* ---------- conversational capture ---------- */

  function createChatView(form) {
    const definition = form.definition;
    const fields = flatFields(definition);
    const last = definition.steps.length - 1;
    const root = el("div", "ll-root ll-chat");
    const titleId = nextId("title");
    const title = el("h2", "ll-title", definition.title || form.name);
    title.id = titleId;
    const log = el("div", "ll-log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-labelledby", titleId);
    const composer = el("div", "ll-composer");
    root.append(title, log, composer);
    if (definition.description) bot(definition.description);

    const guard = newGuard(form, root);
    root.append(guard.trap);
    const answers = {};
    const answered = new Set();
    let savedThrough = -1;
    let asking = null;

    function bubble(who, text, extraClass) {
      const node = el("div", "ll-bubble ll-" + who + (extraClass ? " " + extraClass : ""));
      const line = el("p", "ll-bubble-text", text);
      node.append(line);
      log.append(node);
      log.scrollTop = log.scrollHeight;
      return node;
    }

    function bot(text, extraClass) {
      return bubble("bot", text, extraClass);
    }

    function clearComposer() {
      composer.replaceChildren();
    }

    function button(text, className, onClick) {
      const node = el("button", "ll-btn " + className, text);
      node.type = "button";
      node.addEventListener("click", onClick);
      return node;
    }

    function nextQuestion() {
      const { values, shown } = evaluate(fields, answers);
      for (const item of fields) {
        if (!shown.has(item.spec.name) || answered.has(item.spec.name)) continue;
        if (item.spec.type === "hidden") {
          answers[item.spec.name] = item.spec.default || "";
          answered.add(item.spec.name);
          continue;
        }
        return { item, values };
      }
      return { item: null, values };
    }

    function sentAnswers(throughStep) {
      const { shown } = evaluate(fields, answers, throughStep);
      const sent = {};
      for (const name of shown) if (name in answers) sent[name] = answers[name];
      return sent;
    }

    async function proceed() {
      const { item, values } = nextQuestion();
      const finishedStep = item ? item.step - 1 : last;
      if (finishedStep > savedThrough && finishedStep < last && hasContact(values)) {
        const ok = await send(finishedStep, true);
        if (!ok) return;
        savedThrough = finishedStep;
        return proceed();
      }
      if (item) ask(item.spec);
      else if (await send(last, false)) finish();
    }

    async function send(step, partial) {
      clearComposer();
      const typing = bot("…", "ll-typing");
      const proof = await guard.proof.take();
      const body = submissionBody(sentAnswers(partial ? step : undefined), step, partial, guard, proof);
      const result = await postSubmission(form.slug, "chat", body);
      typing.remove();
      if (partial || !result.ok) guard.proof.warm(); // the next send needs a solution of its own
      if (result.ok) return true;
      const fieldErrors = (result.errors || []).filter((e) => e.field && fields.some((f) => f.spec.name === e.field));
      if (fieldErrors.length) {
        // Ask again for what the server refused, in the order the form asks it.
        for (const error of fieldErrors) {
          answered.delete(error.field);
          bot(error.message, "ll-bot-error");
        }
        proceed();
        return false;
      }
      const general = (result.errors || []).map((e) => e.message).join(" ");
      bot(general || COULD_NOT_SEND, "ll-bot-error");
      composer.append(button("Try again", "ll-btn-primary", () => proceed()));
      return false;
    }

    function finish() {
      clearComposer();
      const redirect = safeRedirect((definition.settings.thank_you || {}).redirect_url || "");
      if (redirect) {
        window.location.assign(redirect);
        return;
      }
      bot(thankYouMessage(definition), "ll-thanks").setAttribute("role", "status");
    }

    function accept(spec, value, echo) {
      if (asking !== spec) return false; // a double click answers once
      if (spec.required && isEmpty(spec, value)) {
        bot(spec.type === "consent" ? "We need your agreement to continue." : REQUIRED, "ll-bot-error");
        return false;
      }
      answers[spec.name] = value;
      answered.add(spec.name);
      bubble("visitor", echo);
      asking = null;
      proceed();
      return true;
    }

    function ask(spec) {
      const question = bot(spec.label || spec.name);
      question.id = nextId("q-" + spec.name);
      if (spec.help) question.append(el("p", "ll-help", spec.help));
      asking = spec;
      clearComposer();
      const row = el("div", "ll-composer-row");
      composer.append(row);
      const skip = spec.required
        ? null
        : button("Skip", "ll-btn-secondary", () => accept(spec, isBoolean(spec) ? false : "", "Skipped"));

      if (spec.type === "select" || spec.type === "radio") {
        row.classList.add("ll-options");
        row.setAttribute("role", "group");
        row.setAttribute("aria-labelledby", question.id);
        for (const option of options(spec)) {
          const choice = button(option.label, "ll-btn-option", () => accept(spec, option.value, option.label));
          choice.setAttribute("data-ll-name", spec.name);
          row.append(choice);
        }
        if (skip) row.append(skip);
        row.querySelector("button").focus();
        return;
      }
      if (isBoolean(spec)) {
        const [yes, no] = spec.type === "consent" ? ["I agree", "No, thanks"] : ["Yes", "No"];
        row.classList.add("ll-options");
        row.setAttribute("role", "group");
        row.setAttribute("aria-labelledby", question.id);
        const yesButton = button(yes, "ll-btn-option", () => accept(spec, true, yes));
        yesButton.setAttribute("data-ll-name", spec.name);
        row.append(yesButton, button(no, "ll-btn-option", () => accept(spec, false, no)));
        yesButton.focus();
        return;
      }
      if (spec.type === "checkbox") {
        const group = el("fieldset", "ll-choices");
        group.setAttribute("aria-labelledby", question.id);
        const boxes = options(spec).map((option) => {
          const label = el("label", "ll-check");
          const box = el("input");
          box.type = "checkbox";
          box.value = option.value;
          box.setAttribute("data-ll-name", spec.name);
          label.append(box, el("span", "ll-check-text", option.label));
          group.append(label);
          return { box, option };
        });
        const done = button("Done", "ll-btn-primary", () => {
          const chosen = boxes.filter((b) => b.box.checked);
          accept(spec, chosen.map((b) => b.option.value), chosen.map((b) => b.option.label).join(", ") || "None");
        });
        row.append(group, done);
        if (skip) row.append(skip);
        boxes[0].box.focus();
        return;
      }

      const formEl = el("form", "ll-composer-form");
      formEl.noValidate = true;
      let input;
      if (spec.type === "textarea") {
        input = el("textarea", "ll-input");
        input.rows = 2;
        if (spec.max_length) input.maxLength = spec.max_length;
        input.addEventListener("keydown", (event) => {
          if (event.key === "Enter" && !event.shiftKey) {
            event.preventDefault();
            formEl.requestSubmit();
          }
        });
      } else {
        input = el("input", "ll-input");
        input.type = { email: "email", phone: "tel", number: "number" }[spec.type] || "text";
        const autocomplete = { email: "email", phone: "tel", first_name: "given-name", last_name: "family-name", company: "organization" }[spec.type === "text" ? spec.name : spec.type];
        if (autocomplete) input.autocomplete = autocomplete;
        if (spec.type === "number") input.step = "any";
        if (spec.max_length) input.maxLength = spec.max_length;
      }
      input.setAttribute("aria-labelledby", question.id);
      input.setAttribute("data-ll-name", spec.name);
      if (spec.placeholder) input.placeholder = spec.placeholder;
      if (spec.required) input.required = true;
      if (spec.name in answers) input.value = answers[spec.name]; // asked again: keep what they typed
      const sendButton = el("button", "ll-btn ll-btn-primary", "Send");
      sendButton.type = "submit";
      formEl.append(input, sendButton);
      if (skip) formEl.append(skip);
      // An email is checked before it is taken: a hint is offered once, and sending the same
      // address again keeps it as typed.
      const check = spec.type === "email" ? emailCheck(form.slug, input) : null;
      const offered = new Set();
      let checking = false;
      formEl.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (checking) return;
        const value = input.value;
        if (check && value.trim() && !offered.has(value.trim()) && !input.validity.typeMismatch) {
          checking = true;
          const hinted = await Promise.race([check.check(), wait(CHAT_CHECK_WAIT_MS)]);
          checking = false;
          if (asking !== spec) return;
          if (hinted && input.value === value) {
            offered.add(value.trim());
            input.focus();
            return;
          }
        }
        if (spec.required && isEmpty(spec, value)) {
          bot(REQUIRED, "ll-bot-error");
          input.focus();
          return;
        }
        if (value.trim() && spec.type === "email" && input.validity.typeMismatch) {
          bot("Enter a valid email address.", "ll-bot-error");
          input.focus();
          return;
        }
        accept(spec, value, value);
      });
      row.append(formEl);
      if (check) row.append(check.hint);
      input.focus();
    }

    return {
      root,
      titleId,
      start: () => proceed(),
      get asking() {
        return asking;
      },
    };
  }

  /* ---------- popup: an accessible modal opened by a trigger ---------- */

  function createPopup(form, options_) {
    const slug = form.slug;
    let view = null;
    let overlay = null;
    let previousFocus = null;

    function focusable() {
      return Array.from(
        overlay.querySelectorAll("button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])"),
      ).filter((node) => !node.disabled && node.offsetParent !== null);
    }

    function onKey(event) {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      } else if (event.key === "Tab") {
        // Keep keyboard focus inside the dialog while it is open.
        const nodes = focusable();
        if (!nodes.length) return;
        const first = nodes[0];
        const lastNode = nodes[nodes.length - 1];
        if (event.shiftKey && document.activeElement === first) {
          event.preventDefault();
          lastNode.focus();
        } else if (!event.shiftKey && document.activeElement === lastNode) {
          event.preventDefault();
          first.focus();
        }
      }
    }

    function open() {
      if (overlay) return;
      if (!view) view = createFormView(form, "popup");
      previousFocus = document.activeElement;
      overlay = el("div", "ll-root ll-overlay");
      const dialog = el("div", "ll-dialog");
      dialog.setAttribute("role", "dialog");
      dialog.setAttribute("aria-modal", "true");
      dialog.setAttribute("aria-labelledby", view.titleId);
      dialog.tabIndex = -1;
      const closeButton = el("button", "ll-close", "×");
      closeButton.type = "button";
      closeButton.setAttribute("aria-label", "Close");
      closeButton.addEventListener("click", close);
      dialog.append(closeButton, view.root);
      overlay.append(dialog);
      overlay.addEventListener("keydown", onKey);
      overlay.addEventListener("mousedown", (event) => {
        if (event.target === overlay) close();
      });
      document.body.append(overlay);
      storageSet("ll_popup_" + slug, String(Date.now()));
      if (view.done) dialog.focus();
      else view.focusFirst();
      if (!dialog.contains(document.activeElement)) dialog.focus();
    }

    function close() {
      if (!overlay) return;
      overlay.remove();
      overlay = null;
      if (previousFocus && typeof previousFocus.focus === "function") previousFocus.focus();
    }

    function capped(frequencyDays) {
      if (!frequencyDays) return false;
      const shownAt = Number(storageGet("ll_popup_" + slug));
      return Boolean(shownAt) && Date.now() - shownAt < frequencyDays * 86400000;
    }

    function arm() {
      const settings = (form.definition.settings || {}).popup || {};
      const trigger = options_.trigger || settings.trigger || "exit_intent";
      const frequencyDays = settings.frequency_days == null ? 7 : Number(settings.frequency_days);
      if (trigger === "none" || capped(frequencyDays)) return;
      let fired = false;
      const fire = () => {
        if (fired) return;
        fired = true;
        cleanup();
        open();
      };
      const cleanups = [];
      const cleanup = () => cleanups.forEach((undo) => undo());
      if (trigger === "delay") {
        const seconds = options_.delay != null ? options_.delay : settings.delay_seconds != null ? settings.delay_seconds : 10;
        const timer = setTimeout(fire, Math.max(0, Number(seconds) || 0) * 1000);
        cleanups.push(() => clearTimeout(timer));
      } else if (trigger === "scroll") {
        const percent = Number(options_.scroll || settings.scroll_percent || 50);
        const onScroll = () => {
          const page = document.documentElement;
          const depth = ((window.scrollY + window.innerHeight) / Math.max(page.scrollHeight, 1)) * 100;
          if (depth >= percent) fire();
        };
        window.addEventListener("scroll", onScroll, { passive: true });
        cleanups.push(() => window.removeEventListener("scroll", onScroll));
      } else {
        // Exit intent: the pointer leaves the page through the top edge, towards tabs and URL bar.
        const onOut = (event) => {
          if (!event.relatedTarget && event.clientY <= 0) fire();
        };
        document.addEventListener("mouseout", onOut);
        cleanups.push(() => document.removeEventListener("mouseout", onOut));
      }
    }

    return { open, close, arm };
  }

  function openPopupBySlug(slug) {
    if (!slug) return Promise.resolve(false);
    trackPageView();
    ensureStyles();
    const existing = shared.popups.get(slug);
    if (existing) {
      existing.open();
      return Promise.resolve(true);
    }
    return loadForm(slug).then(
      (form) => {
        const popup = shared.popups.get(slug) || createPopup(form, {});
        shared.popups.set(slug, popup);
        ready(() => popup.open());
        return true;
      },
      () => false,
    );
  }

  /* ---------- styles: one sheet, every rule under an ll- class ---------- */

  function ensureStyles() {
    if (shared.styled) return;
    shared.styled = true;
    const style = document.createElement("style");
    style.setAttribute("data-leadloop", "");
    style.textContent = `
.ll-root{--ll-ink:#1d2433;--ll-muted:#5b6475;--ll-accent:#2457d6;--ll-bad:#b42318;--ll-line:#d5dae3;--ll-soft:#eef2fa;
  all:initial;display:block;box-sizing:border-box;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ll-ink);text-align:left}
.ll-root *,.ll-root *::before,.ll-root *::after{box-sizing:border-box;font-family:inherit}
.ll-root [hidden]{display:none!important}
.ll-form-view,.ll-chat{background:#fff;border:1px solid var(--ll-line);border-radius:12px;padding:1.25rem;max-width:34rem;width:100%}
.ll-title{font-size:1.35rem;line-height:1.25;margin:0 0 .4rem;font-weight:650;color:var(--ll-ink)}
.ll-desc{margin:0 0 1rem;color:var(--ll-muted)}
.ll-progress{margin:0 0 1rem}
.ll-progress-text{margin:0 0 .3rem;font-size:.85rem;color:var(--ll-muted)}
.ll-bar{height:6px;background:var(--ll-soft);border-radius:3px;overflow:hidden}
.ll-bar-fill{height:100%;background:var(--ll-accent);transition:width .2s}
.ll-body{margin:0}
.ll-step{border:0;margin:0;padding:0;min-width:0}
.ll-step-title{font-weight:600;padding:0;margin:0 0 .75rem;font-size:1.05rem}
.ll-field{margin:0 0 1rem}
.ll-label{display:block;font-weight:500;margin:0 0 .3rem;padding:0}
.ll-input{display:block;width:100%;padding:.65rem .75rem;font-size:16px;border:1px solid var(--ll-line);border-radius:8px;background:#fff;color:var(--ll-ink);margin:0}
select.ll-input{appearance:auto}
textarea.ll-input{resize:vertical;min-height:4.5rem}
.ll-input:focus,.ll-check input:focus-visible,.ll-btn:focus-visible,.ll-close:focus-visible{outline:3px solid #9db7f5;outline-offset:1px}
.ll-choices{border:0;margin:0;padding:0;min-width:0}
.ll-check{display:flex;gap:.55rem;align-items:flex-start;margin:.25rem 0;font-weight:400;cursor:pointer}
.ll-check input{margin:.3rem 0 0;width:1.05rem;height:1.05rem;flex:none;accent-color:var(--ll-accent)}
.ll-help{margin:.3rem 0 0;font-size:.85rem;color:var(--ll-muted)}
.ll-error{margin:.3rem 0 0;font-size:.9rem;color:var(--ll-bad)}
.ll-hint{margin:.3rem 0 0;font-size:.9rem;color:var(--ll-muted)}
.ll-suggestion{all:unset;cursor:pointer;color:var(--ll-accent);font-weight:600;text-decoration:underline}
.ll-suggestion:focus-visible{outline:3px solid #9db7f5;outline-offset:1px}
.ll-chat .ll-hint{flex:1 1 100%}
.ll-hp{position:absolute!important;left:-10000px!important;top:auto!important;width:1px!important;height:1px!important;overflow:hidden!important}
.ll-hp input{width:0!important;height:0!important;padding:0!important;border:0!important;margin:0!important}
.ll-invalid .ll-input{border-color:var(--ll-bad)}
.ll-req{color:var(--ll-bad)}
.ll-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.ll-message{margin:0 0 1rem;padding:.6rem .75rem;border-radius:8px;background:#fdecea;color:var(--ll-bad);font-size:.95rem}
.ll-actions{display:flex;gap:.5rem;justify-content:space-between;flex-wrap:wrap}
.ll-actions .ll-btn-primary{margin-left:auto}
.ll-btn{display:inline-block;font-size:1rem;font-weight:500;line-height:1.2;padding:.7rem 1.2rem;border-radius:8px;border:0;cursor:pointer;margin:0}
.ll-btn-primary{background:var(--ll-accent);color:#fff}
.ll-btn-primary:disabled{opacity:.6;cursor:progress}
.ll-btn-secondary{background:#e8ecf4;color:var(--ll-ink)}
.ll-btn-option{background:#fff;color:var(--ll-accent);border:1px solid var(--ll-accent)}
.ll-thanks{padding:1rem;border-radius:8px;background:#ecf6ee;color:#14532d}
.ll-overlay{position:fixed;inset:0;z-index:2147483000;background:rgba(15,20,35,.55);display:flex;align-items:center;justify-content:center;padding:1rem}
.ll-dialog{position:relative;width:100%;max-width:34rem;max-height:calc(100vh - 2rem);overflow:auto;border-radius:12px;background:#fff;box-shadow:0 20px 50px rgba(0,0,0,.3)}
.ll-dialog:focus{outline:none}
.ll-dialog .ll-form-view{border:0;max-width:none}
.ll-dialog .ll-title{padding-right:2.25rem}
.ll-close{position:absolute;top:.5rem;right:.5rem;width:2.25rem;height:2.25rem;border:0;border-radius:50%;background:transparent;color:var(--ll-muted);font-size:1.5rem;line-height:1;cursor:pointer}
.ll-close:hover{background:var(--ll-soft)}
.ll-chat{display:flex;flex-direction:column;gap:.75rem}
.ll-log{display:flex;flex-direction:column;gap:.5rem;max-height:26rem;overflow-y:auto;padding:.25rem}
.ll-bubble{max-width:85%;padding:.55rem .8rem;border-radius:14px;word-wrap:break-word;overflow-wrap:anywhere}
.ll-bubble-text{margin:0;white-space:pre-wrap}
.ll-bot{align-self:flex-start;background:var(--ll-soft);border-bottom-left-radius:4px}
.ll-visitor{align-self:flex-end;background:var(--ll-accent);color:#fff;border-bottom-right-radius:4px}
.ll-bot-error{background:#fdecea;color:var(--ll-bad)}
.ll-typing{color:var(--ll-muted)}
.ll-composer-row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end}
.ll-composer-form{display:flex;gap:.5rem;flex:1 1 100%;flex-wrap:wrap}
.ll-composer-form .ll-input{flex:1 1 12rem;width:auto}
@media (max-width:480px){
  .ll-overlay{padding:0;align-items:stretch}
  .ll-dialog{max-width:none;max-height:none;height:100%;border-radius:0}
  .ll-form-view,.ll-chat{padding:1rem;border-radius:10px}
  .ll-actions .ll-btn{flex:1 1 auto}
}`;
    (document.head || document.documentElement).append(style);
  }

  /* ---------- start ---------- */

  function mountPoint(selector) {
    if (selector) {
      try {
        const target = document.querySelector(selector);
        if (target) return target;
      } catch (_) {
        /* an invalid selector falls back to placing the form after the script */
      }
    }
    const host = el("div", "ll-host");
    if (script.parentNode && script.parentNode !== document.head && document.body && document.body.contains(script)) {
      script.after(host);
    } else {
      document.body.append(host);
    }
    return host;
  }

  function start() {
    const slug = script.getAttribute("data-form") || "";
    const requested = (script.getAttribute("data-mode") || "inline").toLowerCase();
    const mode = MODES.includes(requested) ? requested : "inline";
    trackPageView();
    if (!slug) return;
    loadForm(slug).then(
      (form) =>
        ready(() => {
          ensureStyles();
          if (mode === "popup") {
            const popup = shared.popups.get(slug) || createPopup(form, {
              trigger: script.getAttribute("data-trigger"),
              delay: script.getAttribute("data-delay"),
              scroll: script.getAttribute("data-scroll"),
            });
            shared.popups.set(slug, popup);
            popup.arm();
          } else if (mode === "chat") {
            const chat = createChatView(form);
            mountPoint(script.getAttribute("data-target")).append(chat.root);
            chat.start();
          } else {
            mountPoint(script.getAttribute("data-target")).append(createFormView(form, "inline").root);
          }
        }),
      (error) => {
        // The form is missing, inactive or does not allow this site: show nothing on the page.
        if (window.console) console.warn("leadloop: form " + slug + " could not be loaded (" + error.message + ")");
      },
    );
  }

  start();
})();
