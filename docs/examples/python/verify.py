"""Verify a lokihooks delivery with the Python standard library.

Call verify_standard (webhook-signature, recommended) or verify_legacy
(X-Webhook-Signature) from your handler with the raw body bytes as received;
parse the JSON only once the signature checks out. As a command, it checks a
request saved by `lokihooks receive --save DIR`:

    WEBHOOK_SECRET=whsec_... python3 verify.py DIR/000001-evt_....http
"""

import base64
import hashlib
import hmac
import os
import sys
import time

TOLERANCE_SECONDS = 5 * 60  # refuse timestamps further than this from now


def verify_standard(secret, headers, body, now=None):
    """webhook-signature: space-separated "v1,<base64 HMAC-SHA256>" entries
    over "<webhook-id>.<webhook-timestamp>.<body>", keyed by the base64-decoded
    part of the secret after "whsec_". One match is enough (two entries while
    a rotated secret is in its grace period). headers: lower-case names."""
    msg_id, ts = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and ts and signatures and ts.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(ts)) > TOLERANCE_SECONDS:
        return False  # a replay, or a clock far off
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(version == "v1" and hmac.compare_digest(sig, expected)
               for version, _, sig in (entry.partition(",") for entry in signatures.split(" ")))


def verify_legacy(secret, headers, body):
    """X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 of the body, keyed by
    the whole secret string, whsec_ included. It has no timestamp: prefer
    verify_standard."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("x-webhook-signature", ""), expected)


def read_request(path):
    """Headers (lower-case names) and raw body of a saved HTTP request."""
    with open(path, "rb") as f:
        head, _, body = f.read().partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")[1:]  # after the request line
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines)}
    return headers, body


if __name__ == "__main__":
    headers, body = read_request(sys.argv[1])
    secret = os.environ["WEBHOOK_SECRET"]
    standard, legacy = verify_standard(secret, headers, body), verify_legacy(secret, headers, body)
    print("webhook-signature:", "valid" if standard else "INVALID")
    print("X-Webhook-Signature:", "valid" if legacy else "INVALID")
    sys.exit(0 if standard else 1)
