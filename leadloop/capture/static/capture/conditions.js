/*
 * Conditional logic of form definitions, by the same rules as Condition.holds in
 * leadloop/capture/definitions.py: two values match when both read as numbers and are equal,
 * or else when their text is equal (true/false for booleans). Shared by landing.js (loaded
 * before it) and widget.js (the /widget.js view wraps both in one function scope).
 */
const leadloopConditions = (() => {
  "use strict";
  const NUMBER = /^\s*-?\d+(\.\d+)?\s*$/;

  function asNumber(value) {
    if (typeof value === "number") return Number.isFinite(value) ? value : null;
    if (typeof value === "string" && NUMBER.test(value)) return Number(value);
    return null;
  }

  function asText(value) {
    if (value === undefined || value === null) return "";
    return String(value);
  }

  function same(a, b) {
    const x = asNumber(a);
    const y = asNumber(b);
    if (x !== null && y !== null) return x === y;
    return asText(a) === asText(b);
  }

  function filled(value) {
    if (Array.isArray(value)) return value.length > 0;
    return !(value === undefined || value === null || value === "" || value === false);
  }

  function holds(condition, values) {
    const value = values[condition.field];
    const list = Array.isArray(value) ? value : [value];
    if (condition.equals != null) return list.some((v) => same(condition.equals, v));
    if (condition.not_equals != null) return !list.some((v) => same(condition.not_equals, v));
    if (condition.in != null) return list.some((v) => condition.in.some((w) => same(v, w)));
    if (condition.filled != null) return filled(value) === condition.filled;
    return true;
  }

  return { holds, filled };
})();
