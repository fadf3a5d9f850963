# Verify a lokihooks delivery with Ruby's standard library (openssl).
#
# Call verify_standard (webhook-signature, recommended) or verify_legacy
# (X-Webhook-Signature) from your handler with the raw body as received
# (request.raw_post in Rails, request.body.read in Rack); parse the JSON only
# once the signature checks out. As a command, it checks a request saved by
# `lokihooks receive --save DIR`:
#
#     WEBHOOK_SECRET=whsec_... ruby verify.rb DIR/000001-evt_....http

require "base64"
require "openssl"

TOLERANCE_SECONDS = 5 * 60 # refuse timestamps further than this from now

# webhook-signature: space-separated "v1,<base64 HMAC-SHA256>" entries over
# "<webhook-id>.<webhook-timestamp>.<body>", keyed by the base64-decoded part
# of the secret after "whsec_". One match is enough (two entries while a
# rotated secret is in its grace period). headers: lower-case names.
def verify_standard(secret, headers, body, now = Time.now.to_i)
  id, ts, signatures = headers.values_at("webhook-id", "webhook-timestamp", "webhook-signature")
  return false unless id && ts&.match?(/\A\d+\z/) && signatures
  return false if (now - ts.to_i).abs > TOLERANCE_SECONDS # a replay, or a clock far off

  key = Base64.strict_decode64(secret.delete_prefix("whsec_"))
  expected = Base64.strict_encode64(OpenSSL::HMAC.digest("SHA256", key, "#{id}.#{ts}.#{body}"))
  signatures.split(" ").any? do |entry|
    version, sig = entry.split(",", 2)
    version == "v1" && sig && OpenSSL.secure_compare(sig, expected)
  end
end

# X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 of the body, keyed by the
# whole secret string, whsec_ included. It has no timestamp: prefer
# verify_standard.
def verify_legacy(secret, headers, body)
  expected = "sha256=" + OpenSSL::HMAC.hexdigest("SHA256", secret, body)
  OpenSSL.secure_compare(headers.fetch("x-webhook-signature", ""), expected)
end

# The headers (lower-case names) and raw body of a saved HTTP request.
def read_request(path)
  head, body = File.binread(path).split("\r\n\r\n", 2)
  headers = head.split("\r\n").drop(1).to_h do |line|
    name, value = line.split(":", 2)
    [name.strip.downcase, value.strip]
  end
  [headers, body]
end

if $PROGRAM_NAME == __FILE__
  headers, body = read_request(ARGV.fetch(0))
  secret = ENV.fetch("WEBHOOK_SECRET")
  standard = verify_standard(secret, headers, body)
  puts "webhook-signature: #{standard ? 'valid' : 'INVALID'}"
  puts "X-Webhook-Signature: #{verify_legacy(secret, headers, body) ? 'valid' : 'INVALID'}"
  exit(standard ? 0 : 1)
end
