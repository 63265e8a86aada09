/*
 * Progressive enhancement of the hosted landing page (/p/<slug>).
 *
 * Without this script the page shows every step and still works: the server skips fields whose
 * conditions fail. With it: one step at a time, required fields checked before Next, conditional
 * fields shown and hidden as the visitor answers, the referrer kept, and a page-view beacon sent.
 */
(() => {
  "use strict";

  const form = document.querySelector("form[data-ll-form]");
  if (!form) return;

  const REQUIRED = "This field is required.";
  const TICK_REQUIRED = "Please tick this box to continue.";
  const steps = Array.from(form.querySelectorAll("[data-ll-step]"));
  const fields = Array.from(form.querySelectorAll("[data-ll-field]"));
  const back = form.querySelector("[data-ll-back]");
  const next = form.querySelector("[data-ll-next]");
  const submit = form.querySelector("[data-ll-submit]");
  const progress = form.querySelector("[role=progressbar]");
  const last = steps.length - 1;
  let current = 0;

  /* ---------- answers and conditions, judged as the server does ---------- */

  function typeOf(field) {
    return field.getAttribute("data-ll-type") || "text";
  }

  function nameOf(field) {
    return field.getAttribute("data-ll-field");
  }

  function inputsOf(field) {
    if (field.tagName === "INPUT") return [field]; // a hidden field is its own input
    return Array.from(field.querySelectorAll("input, select, textarea")).filter(
      (input) => input.name === nameOf(field),
    );
  }

  function isBoolean(field) {
    const type = typeOf(field);
    return type === "consent" || (type === "checkbox" && !field.querySelector("fieldset"));
  }

  function valueOf(field) {
    const type = typeOf(field);
    const inputs = inputsOf(field);
    if (isBoolean(field)) return Boolean(inputs[0] && inputs[0].checked);
    if (type === "checkbox") return inputs.filter((i) => i.checked).map((i) => i.value.trim());
    if (type === "radio") {
      const chosen = inputs.find((i) => i.checked);
      return chosen ? chosen.value : "";
    }
    const raw = inputs[0] ? inputs[0].value : "";
    return type === "textarea" ? raw.trim() : raw.split(/\s+/).filter(Boolean).join(" ");
  }

  const { holds } = leadloopConditions;

  function conditionOf(field) {
    const raw = field.getAttribute("data-ll-show-if");
    if (!raw) return null;
    try {
      return JSON.parse(raw);
    } catch (_) {
      return null;
    }
  }

  // Walk the fields in order: a field whose condition fails does not count for later ones, and
  // consent is evidence rather than a value, exactly as clean_answers sees them.
  function refresh() {
    const values = {};
    for (const field of fields) {
      const condition = conditionOf(field);
      const shown = !condition || holds(condition, values);
      if (field.tagName !== "INPUT") field.hidden = !shown;
      if (!shown || typeOf(field) === "consent") continue;
      const value = valueOf(field);
      if (value !== "" && !(Array.isArray(value) && value.length === 0)) values[nameOf(field)] = value;
    }
  }

  /* ---------- errors next to fields ---------- */

  function errorNode(field, create) {
    let node = field.querySelector(".error");
    if (!node && create) {
      const first = inputsOf(field)[0];
      node = document.createElement("div");
      node.className = "error";
      node.id = (first && first.id ? first.id : "ll-" + nameOf(field)) + "-error";
      node.setAttribute("role", "alert");
      field.append(node);
    }
    return node;
  }

  function setError(field, message) {
    const node = errorNode(field, Boolean(message));
    if (!node) return;
    node.textContent = message;
    node.hidden = !message;
    const group = field.querySelector("fieldset");
    const targets = group ? [group] : inputsOf(field);
    for (const target of targets) {
      if (message) {
        target.setAttribute("aria-describedby", node.id);
        if (!group) target.setAttribute("aria-invalid", "true");
      } else {
        target.removeAttribute("aria-describedby");
        target.removeAttribute("aria-invalid");
      }
    }
  }

  function problemWith(field) {
    const value = valueOf(field);
    const empty = Array.isArray(value) ? value.length === 0 : value === "" || value === false;
    if (field.hasAttribute("data-ll-required") && empty) {
      return typeOf(field) === "consent" ? TICK_REQUIRED : REQUIRED;
    }
    const input = inputsOf(field)[0];
    if (input && input.validity) {
      if (input.validity.typeMismatch && input.type === "email") return "Enter a valid email address.";
      if (input.validity.badInput) return "Enter a number.";
    }
    return "";
  }

  function validate(index) {
    const invalid = [];
    for (const field of steps[index].querySelectorAll("[data-ll-field]")) {
      if (field.tagName === "INPUT" || field.hidden) continue;
      const problem = problemWith(field);
      setError(field, problem);
      if (problem) invalid.push(field);
    }
    if (invalid.length) focusIn(invalid[0]);
    return invalid.length === 0;
  }

  function focusIn(container) {
    const target = Array.from(container.querySelectorAll("input, select, textarea")).find(
      (input) => input.type !== "hidden" && !input.closest("[hidden]"),
    );
    if (target) target.focus();
  }

  /* ---------- one step at a time ---------- */

  function go(index) {
    current = index;
    steps.forEach((step, i) => {
      step.hidden = i !== index;
    });
    back.hidden = index === 0;
    next.hidden = index === last;
    submit.hidden = index !== last;
    if (progress) {
      progress.setAttribute("aria-valuenow", String(index + 1));
      progress.setAttribute("aria-valuetext", "Step " + (index + 1) + " of " + steps.length);
      const bar = progress.firstElementChild;
      if (bar) bar.style.width = ((index + 1) / steps.length) * 100 + "%";
    }
  }

  function advance() {
    if (!validate(current)) return;
    go(current + 1);
    focusIn(steps[current]);
  }

  next.addEventListener("click", advance);
  back.addEventListener("click", () => {
    go(Math.max(0, current - 1));
    focusIn(steps[current]);
  });
  form.addEventListener("submit", (event) => {
    // Enter in a text box submits the form: before the last step that means Next.
    if (current < last) {
      event.preventDefault();
      advance();
      return;
    }
    for (let index = 0; index <= last; index++) {
      if (!validate(index)) {
        event.preventDefault();
        if (index !== current) {
          go(index);
          validate(index);
        }
        return;
      }
    }
  });
  const onEdit = (event) => {
    const field = event.target.closest && event.target.closest("[data-ll-field]");
    if (field && field.querySelector(".error:not([hidden])")) setError(field, "");
    refresh();
  };
  form.addEventListener("input", onEdit);
  form.addEventListener("change", onEdit);

  const referrer = form.querySelector('input[name="_referrer"]');
  if (referrer) referrer.value = document.referrer;

  // Without this script every step is on screen at once, so the bar only makes sense with it.
  if (progress) progress.hidden = false;
  refresh();
  // After a refused submit the server marks the fields it refused: open the first such step.
  const refused = steps.findIndex((step) => step.querySelector(".error, [aria-invalid=true]"));
  go(refused >= 0 ? refused : 0);

  /* ---------- page-view beacon, with the visitor id the server keeps in a cookie ---------- */

  const visitor = document.cookie
    .split("; ")
    .map((pair) => pair.split("="))
    .find(([key]) => key === "ll_vid");
  if (visitor && visitor[1]) {
    const body = JSON.stringify({
      visitor_id: decodeURIComponent(visitor[1]),
      url: location.href,
      title: document.title,
      referrer: document.referrer,
    });
    const url = new URL("/api/v1/track", location.href).href;
    let queued = false;
    try {
      queued = Boolean(navigator.sendBeacon && navigator.sendBeacon(url, body));
    } catch (_) {
      queued = false;
    }
    if (!queued) fetch(url, { method: "POST", body, keepalive: true }).catch(() => {});
  }
})();
