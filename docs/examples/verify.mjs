// Verify the signatures of a lokihooks delivery with Node's crypto module.
//
// Use verifyStandard (Standard Webhooks, recommended) or verifyLegacy
// (X-Webhook-Signature) from your own handler, with the raw request body as
// a Buffer exactly as received (for example express.raw({type: "application/json"})):
// parse the JSON only after the signature checks out.
//
// As a command, it checks one captured request (the format receiver.py
// --save writes: {"headers": {...}, "body": "..."}):
//
//     WEBHOOK_SECRET=whsec_... node verify.mjs request.json

import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SECRET_PREFIX = "whsec_";
const TOLERANCE_SECONDS = 5 * 60; // reject messages older or newer than this

// header looks a header up case-insensitively in a plain object
// (Node's req.headers is already lower-cased).
function header(headers, name) {
  name = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(", ") : value;
  }
  return undefined;
}

function safeEqual(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// verifyStandard checks webhook-signature: "v1,<base64 HMAC-SHA256>" entries,
// space separated. The key is the base64-decoded part of the secret after
// "whsec_"; the signed content is "<webhook-id>.<webhook-timestamp>.<body>".
// Any one matching entry is enough (during a secret rotation there are two).
export function verifyStandard(secret, headers, body, now = Math.floor(Date.now() / 1000)) {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) return false;
  const ts = Number.parseInt(timestamp, 10);
  if (!Number.isFinite(ts) || Math.abs(now - ts) > TOLERANCE_SECONDS) return false;
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
  const expected = createHmac("sha256", key)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest("base64");
  return signatures.split(" ").some((entry) => {
    const [version, sig] = entry.split(",", 2);
    return version === "v1" && sig !== undefined && safeEqual(sig, expected);
  });
}

// verifyLegacy checks X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 of the
// body, keyed by the whole secret string (whsec_ prefix included). It signs
// the body only, with no timestamp, so it does not protect against replays.
export function verifyLegacy(secret, headers, body) {
  const value = header(headers, "x-webhook-signature") ?? "";
  if (!value.startsWith("sha256=")) return false;
  const expected = createHmac("sha256", secret).update(body).digest("hex");
  return safeEqual(value.slice("sha256=".length).toLowerCase(), expected);
}

function main(argv) {
  const secret = process.env.WEBHOOK_SECRET ?? "";
  if (argv.length !== 1 || !secret) {
    console.error("usage: WEBHOOK_SECRET=whsec_... node verify.mjs request.json");
    return 2;
  }
  const captured = JSON.parse(readFileSync(argv[0], "utf8"));
  const body = Buffer.from(captured.body, "utf8");
  const standard = verifyStandard(secret, captured.headers, body);
  const legacy = verifyLegacy(secret, captured.headers, body);
  console.log("webhook-signature (Standard Webhooks):", standard ? "valid" : "INVALID");
  console.log("X-Webhook-Signature:", legacy ? "valid" : "INVALID");
  return standard && legacy ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
