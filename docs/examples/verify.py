"""Verify the signatures of a lokihooks delivery with the Python standard library.

Use verify_standard (Standard Webhooks, recommended) or verify_legacy
(X-Webhook-Signature) from your own handler, with the raw request body bytes
exactly as received: parse the JSON only after the signature checks out.

As a command, it checks one captured request (the format receiver.py --save
writes: {"headers": {...}, "body": "..."}):

    WEBHOOK_SECRET=whsec_... python3 verify.py request.json
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60  # reject messages older or newer than this


def _header(headers, name):
    """Case-insensitive header lookup on a plain dict."""
    name = name.lower()
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def verify_standard(secret, headers, body, now=None, tolerance=TOLERANCE_SECONDS):
    """Check webhook-signature: "v1,<base64 HMAC-SHA256>" entries, space separated.

    The HMAC key is the base64-decoded part of the secret after "whsec_"; the
    signed content is "<webhook-id>.<webhook-timestamp>.<body>". Any one
    matching entry is enough (during a secret rotation there are two).
    """
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not timestamp or not signatures:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    now = int(time.time()) if now is None else now
    if abs(now - ts) > tolerance:
        return False  # too old (a replay) or too far in the future
    key = base64.b64decode(secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret)
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in signatures.split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


def verify_legacy(secret, headers, body):
    """Check X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 of the body,
    keyed by the whole secret string (whsec_ prefix included).

    It signs the body only, with no timestamp: it does not protect against
    replays. Prefer verify_standard.
    """
    header = _header(headers, "X-Webhook-Signature") or ""
    if not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len("sha256="):].lower(), expected)


def main(argv):
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if len(argv) != 2 or not secret:
        print("usage: WEBHOOK_SECRET=whsec_... python3 verify.py request.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        captured = json.load(f)
    headers, body = captured["headers"], captured["body"].encode("utf-8")
    standard = verify_standard(secret, headers, body)
    legacy = verify_legacy(secret, headers, body)
    print("webhook-signature (Standard Webhooks):", "valid" if standard else "INVALID")
    print("X-Webhook-Signature:", "valid" if legacy else "INVALID")
    return 0 if standard and legacy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
