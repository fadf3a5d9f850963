// Verify a lokihooks delivery with Node's crypto module.
//
// Call verifyStandard (webhook-signature, recommended) or verifyLegacy
// (X-Webhook-Signature) from your handler with the raw body as a Buffer, as
// received (express.raw({ type: "application/json" })); parse the JSON only
// once the signature checks out. As a command, it checks a request saved by
// `lokihooks receive --save DIR`:
//
//     WEBHOOK_SECRET=whsec_... node verify.mjs DIR/000001-evt_....http

import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const TOLERANCE_SECONDS = 5 * 60; // refuse timestamps further than this from now

const equal = (a, b) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

// webhook-signature: space-separated "v1,<base64 HMAC-SHA256>" entries over
// "<webhook-id>.<webhook-timestamp>.<body>", keyed by the base64-decoded part
// of the secret after "whsec_". One match is enough (two entries while a
// rotated secret is in its grace period). headers: lower-case names, as
// Node's req.headers has them.
export function verifyStandard(secret, headers, body, now = Date.now() / 1000) {
  const id = headers["webhook-id"], ts = headers["webhook-timestamp"], signatures = headers["webhook-signature"];
  if (!id || !/^\d+$/.test(ts ?? "") || !signatures) return false;
  if (Math.abs(now - Number(ts)) > TOLERANCE_SECONDS) return false; // a replay, or a clock far off
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${ts}.`).update(body).digest("base64");
  return signatures.split(" ").some((entry) => {
    const [version, sig] = entry.split(",", 2);
    return version === "v1" && sig !== undefined && equal(sig, expected);
  });
}

// X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 of the body, keyed by the
// whole secret string, whsec_ included. It has no timestamp: prefer
// verifyStandard.
export function verifyLegacy(secret, headers, body) {
  const expected = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
  return equal(headers["x-webhook-signature"] ?? "", expected);
}

// readRequest returns the headers (lower-case names) and raw body of a saved
// HTTP request.
export function readRequest(path) {
  const raw = readFileSync(path);
  const end = raw.indexOf("\r\n\r\n");
  const headers = {};
  for (const line of raw.subarray(0, end).toString().split("\r\n").slice(1)) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, body: raw.subarray(end + 4) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { headers, body } = readRequest(process.argv[2]);
  const secret = process.env.WEBHOOK_SECRET;
  const standard = verifyStandard(secret, headers, body);
  console.log("webhook-signature:", standard ? "valid" : "INVALID");
  console.log("X-Webhook-Signature:", verifyLegacy(secret, headers, body) ? "valid" : "INVALID");
  process.exitCode = standard ? 0 : 1;
}
