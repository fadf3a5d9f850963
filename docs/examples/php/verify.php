<?php
// Verify a lokihooks delivery with PHP's hash extension (always built in).
//
// Call verify_standard (webhook-signature, recommended) or verify_legacy
// (X-Webhook-Signature) from your handler with the raw body as received
// (file_get_contents('php://input')); parse the JSON only once the signature
// checks out. As a command, it checks a request saved by
// `lokihooks receive --save DIR`:
//
//     WEBHOOK_SECRET=whsec_... php verify.php DIR/000001-evt_....http

const TOLERANCE_SECONDS = 5 * 60; // refuse timestamps further than this from now

// webhook-signature: space-separated "v1,<base64 HMAC-SHA256>" entries over
// "<webhook-id>.<webhook-timestamp>.<body>", keyed by the base64-decoded part
// of the secret after "whsec_". One match is enough (two entries while a
// rotated secret is in its grace period). $headers: lower-case names.
function verify_standard(string $secret, array $headers, string $body, ?int $now = null): bool
{
    $id = $headers['webhook-id'] ?? '';
    $ts = $headers['webhook-timestamp'] ?? '';
    $signatures = $headers['webhook-signature'] ?? '';
    if ($id === '' || !ctype_digit($ts) || $signatures === '') {
        return false;
    }
    if (abs(($now ?? time()) - (int) $ts) > TOLERANCE_SECONDS) {
        return false; // a replay, or a clock far off
    }
    $key = base64_decode(preg_replace('/^whsec_/', '', $secret), true);
    $expected = base64_encode(hash_hmac('sha256', "$id.$ts.$body", $key, true));
    foreach (explode(' ', $signatures) as $entry) {
        [$version, $sig] = array_pad(explode(',', $entry, 2), 2, '');
        if ($version === 'v1' && hash_equals($expected, $sig)) {
            return true;
        }
    }
    return false;
}

// X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 of the body, keyed by the
// whole secret string, whsec_ included. It has no timestamp: prefer
// verify_standard.
function verify_legacy(string $secret, array $headers, string $body): bool
{
    $expected = 'sha256=' . hash_hmac('sha256', $body, $secret);
    return hash_equals($expected, $headers['x-webhook-signature'] ?? '');
}

// The headers (lower-case names) and raw body of a saved HTTP request.
function read_request(string $path): array
{
    [$head, $body] = explode("\r\n\r\n", file_get_contents($path), 2);
    $headers = [];
    foreach (array_slice(explode("\r\n", $head), 1) as $line) {
        [$name, $value] = explode(':', $line, 2);
        $headers[strtolower(trim($name))] = trim($value);
    }
    return [$headers, $body];
}

if (realpath($argv[0] ?? '') === __FILE__) {
    [$headers, $body] = read_request($argv[1]);
    $secret = getenv('WEBHOOK_SECRET');
    $standard = verify_standard($secret, $headers, $body);
    echo 'webhook-signature: ', $standard ? 'valid' : 'INVALID', "\n";
    echo 'X-Webhook-Signature: ', verify_legacy($secret, $headers, $body) ? 'valid' : 'INVALID', "\n";
    exit($standard ? 0 : 1);
}
