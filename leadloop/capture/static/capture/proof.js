/*
 * The proof-of-work a form may ask for (ALTCHA v1, checked by leadloop/quality/bots.py): find the
 * number n in 0..maxNumber with SHA-256(salt + n) == challenge. Shared by landing.js (loaded
 * before it) and widget.js (the /widget.js view wraps both in one function scope).
 */
const leadloopProof = (() => {
  "use strict";
  const PROOF_BATCH = 500; // digests asked for at once while solving

  function hexBytes(hex) {
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    return bytes;
  }

  function sameBytes(buffer, expected) {
    const bytes = new Uint8Array(buffer);
    if (bytes.length !== expected.length) return false;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== expected[i]) return false;
    return true;
  }

  // Digests are asked for in batches, so the browser's crypto works on many at once. "" when it cannot be solved
  // (no crypto.subtle outside a secure context): the server then judges without it.
  async function solveChallenge(challenge) {
    if (!window.crypto || !crypto.subtle || !window.TextEncoder) return "";
    if (challenge.algorithm !== "SHA-256" || !/^[0-9a-f]{64}$/.test(challenge.challenge || "")) return "";
    const target = hexBytes(challenge.challenge);
    const encoder = new TextEncoder();
    const max = Math.min(Number(challenge.maxNumber) || 1000000, 10000000);
    for (let start = 0; start <= max; start += PROOF_BATCH) {
      const end = Math.min(start + PROOF_BATCH, max + 1);
      const digests = [];
      for (let n = start; n < end; n++) {
        digests.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n)));
      }
      const found = (await Promise.all(digests)).findIndex((digest) => sameBytes(digest, target));
      if (found >= 0) {
        return btoa(
          JSON.stringify({
            algorithm: challenge.algorithm,
            challenge: challenge.challenge,
            number: start + found,
            salt: challenge.salt,
            signature: challenge.signature,
          }),
        );
      }
    }
    return "";
  }

  return { solve: solveChallenge };
})();
