/*
 * Progressive enhancement of the hosted landing page (/p/<slug>).
 *
 * Without this script the page shows every step and still works: the server skips fields whose
 * conditions fail. With it: one step at a time, required fields checked before Next, conditional
 * fields shown and hidden as the visitor answers, the referrer kept, and a page-view beacon sent;
 * also what the quality layer judges a person by (how the form was typed in, a proof-of-work when
 * the form asks for one) and a "Did you mean …?" hint under an email address with a likely typo.
 */
(() => {
  "use strict";

  const form = document.querySelector("form[data-ll-form]");
  if (!form) return;

  const REQUIRED = "This field is required.";
  const TICK_REQUIRED = "Please tick this box to continue.";
  const TEMPORARY_ADDRESS = "This looks like a temporary address: use one you will keep so we can reach you.";
  const PROOF_FRESH_MS = 10 * 60 * 1000; // a solution older than this is solved again (they expire)
  const CHECK_DELAY_MS = 250;
  const slug = form.getAttribute("data-ll-form");
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
    if (sending) {
      event.preventDefault(); // already on its way (a second click while the proof is solved)
      return;
    }
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
    writeSignals();
    if (proofInput && !proofInput.value) {
      // Wait for the solution, then send the form as the browser would have.
      event.preventDefault();
      sending = true;
      submit.disabled = true;
      form.setAttribute("aria-busy", "true");
      takeProof().then((solution) => {
        proofInput.value = solution;
        writeSignals();
        form.submit();
      });
    }
  });
  const onEdit = (event) => {
    const field = event.target.closest && event.target.closest("[data-ll-field]");
    if (field && field.querySelector(".error:not([hidden])")) setError(field, "");
    refresh();
  };
  form.addEventListener("input", onEdit);
  form.addEventListener("change", onEdit);

  /* ---------- is a person filling this in: how it was typed, and the proof-of-work ---------- */

  const typed = { keystrokes: 0, pastes: 0, focus: [] };
  const signalsInput = form.querySelector('input[name="_signals"]');
  const proofInput = form.hasAttribute("data-ll-proof") ? form.querySelector('input[name="_proof"]') : null;
  let sending = false;
  form.addEventListener("keydown", () => typed.keystrokes++, true);
  form.addEventListener("paste", () => typed.pastes++, true);
  form.addEventListener("focusin", (event) => {
    const field = event.target.closest && event.target.closest("[data-ll-field]");
    const name = field && nameOf(field);
    const order = typed.focus;
    if (name && order[order.length - 1] !== name && order.length < 200) order.push(name);
  });

  function writeSignals() {
    if (!signalsInput) return;
    signalsInput.value = JSON.stringify({
      keystrokes: typed.keystrokes,
      pastes: typed.pastes,
      ms_to_submit: Math.round(performance.now()), // since the page started loading
      focus_order: typed.focus.slice(),
    });
  }

  function apiUrl(path) {
    return new URL("/api/v1/forms/" + encodeURIComponent(slug) + path, location.href).href;
  }

  function getJson(path) {
    return fetch(apiUrl(path), { headers: { Accept: "application/json" } }).then((response) => {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    });
  }


  // Solving starts as the page opens, so it is usually done by the time the visitor submits.
  let proof = null;
  let proofStartedAt = 0;
  function warmProof() {
    if (!proofInput || (proof && Date.now() - proofStartedAt < PROOF_FRESH_MS)) return;
    proofStartedAt = Date.now();
    proof = getJson("/challenge")
      .then(leadloopProof.solve)
      .catch(() => "");
  }

  function takeProof() {
    warmProof();
    return proof;
  }

  warmProof();

  // Back to this page from the next one (the back/forward cache): the solution sent is spent.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    sending = false;
    submit.disabled = false;
    form.removeAttribute("aria-busy");
    if (proofInput) {
      proofInput.value = "";
      proof = null;
      warmProof();
    }
  });

  /* ---------- the as-you-type email check: "Did you mean …?" ---------- */

  function watchEmail(input) {
    const hint = document.createElement("div");
    hint.className = "help ll-hint";
    hint.hidden = true;
    hint.setAttribute("aria-live", "polite");
    input.after(hint);
    let timer = 0;
    let asked = 0;
    let checked = "";

    function hide() {
      hint.hidden = true;
      hint.replaceChildren();
    }

    function render(answer) {
      hide();
      if (!answer || !answer.valid) return;
      if (answer.suggestion) {
        const fix = document.createElement("button");
        fix.type = "button";
        fix.className = "ll-suggestion";
        fix.textContent = answer.suggestion;
        // A link-like button inside the sentence, not the page's big blue button.
        fix.style.cssText =
          "background:none;border:0;padding:0;font:inherit;font-weight:600;color:var(--accent);text-decoration:underline;cursor:pointer";
        fix.addEventListener("click", () => {
          input.value = answer.suggestion;
          checked = answer.suggestion;
          hide();
          input.dispatchEvent(new Event("input", { bubbles: true }));
          input.focus();
        });
        hint.append("Did you mean ", fix, "?");
      } else if (answer.disposable) {
        hint.textContent = TEMPORARY_ADDRESS;
      } else {
        return;
      }
      hint.hidden = false;
    }

    function check() {
      const value = input.value.trim();
      if (value === checked) return;
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
        hide();
        return;
      }
      const ticket = ++asked;
      getJson("/validate?email=" + encodeURIComponent(value))
        .then((data) => {
          if (ticket !== asked || input.value.trim() !== value) return; // typed on since
          checked = value;
          render(data.email);
        })
        .catch(() => {}); // the check is a courtesy: when it fails, nothing is said
    }

    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(check, CHECK_DELAY_MS);
    };
    input.addEventListener("change", later);
    input.addEventListener("blur", later);
    input.addEventListener("input", () => {
      if (input.value.trim() !== checked) hide();
    });
  }

  for (const field of fields) {
    if (typeOf(field) !== "email") continue;
    const input = inputsOf(field)[0];
    if (input) watchEmail(input);
  }

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
