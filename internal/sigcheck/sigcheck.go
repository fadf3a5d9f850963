// Package sigcheck verifies the two signatures of a lokihooks delivery
// (DESIGN.md §4) and, when one does not verify, works out why: a missing or
// malformed header, a timestamp outside the tolerance, a rotated secret, a
// body re-serialised between signing and verifying, or the whsec_ prefix or
// the key handled the wrong way.
//
// It backs `lokihooks verify` and `lokihooks receive`. It is pure: no I/O, and
// the time comes in as Params.Now. It imports domain only.
package sigcheck

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
)

// DefaultTolerance is how far webhook-timestamp may be from the receiver's
// clock, in either direction, when Params.Tolerance is zero. The Standard
// Webhooks specification gives no number; its reference libraries use 5
// minutes.
const DefaultTolerance = 5 * time.Minute

// Request headers that carry the signatures.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	HeaderLegacy    = "X-Webhook-Signature"
)

// Scheme names one of the two signatures a delivery carries.
type Scheme string

// Signature schemes.
const (
	// SchemeStandard is Standard Webhooks: webhook-signature over
	// id.timestamp.body, keyed by the base64-decoded part of the secret.
	SchemeStandard Scheme = "standard"
	// SchemeLegacy is X-Webhook-Signature: sha256=<hex> over the body,
	// keyed by the secret string exactly as shown.
	SchemeLegacy Scheme = "legacy"
)

// Reason says why a signature did or did not verify. The strings are stable:
// `lokihooks verify --json` prints them.
type Reason string

// Reasons, in the order Check considers them.
const (
	// ReasonVerified: the signature matches the secret and, for the standard
	// scheme, the timestamp is within the tolerance.
	ReasonVerified Reason = "verified"
	// ReasonMissingHeader: a header the scheme needs is absent.
	ReasonMissingHeader Reason = "missing_header"
	// ReasonMalformedHeader: a header is present but not in the scheme's
	// format.
	ReasonMalformedHeader Reason = "malformed_header"
	// ReasonTimestamp: the signature matches, but webhook-timestamp is
	// outside the tolerance (Result.Skew says by how much).
	ReasonTimestamp Reason = "timestamp_outside_tolerance"
	// ReasonSecretPrefix: the secret given lacks its whsec_ prefix; with it,
	// the signature matches.
	ReasonSecretPrefix Reason = "secret_missing_prefix"
	// ReasonPreviousSecret: the signature matches a previous (rotated-out)
	// secret, not the current one.
	ReasonPreviousSecret Reason = "previous_secret"
	// ReasonBodyReserialized: the signature matches the same JSON encoded
	// differently (whitespace, key order, escaping, a trailing newline), not
	// the bytes given.
	ReasonBodyReserialized Reason = "body_reserialized"
	// ReasonKeyEncoding: the signature was computed with the wrong form of
	// the key (the whsec_ prefix or the base64 decoding handled wrongly).
	ReasonKeyEncoding Reason = "key_encoding"
	// ReasonSignedContent: the signature was computed over the wrong
	// content (the body alone instead of id.timestamp.body).
	ReasonSignedContent Reason = "signed_content"
	// ReasonMalformedSecret: the secret given is not a signing secret, and
	// no fix of it matches.
	ReasonMalformedSecret Reason = "malformed_secret"
	// ReasonWrongSecret: nothing Check tried matches: the request was
	// signed with another secret, or its body or headers were changed.
	ReasonWrongSecret Reason = "wrong_secret"
)

// Params are the inputs of Check besides the request.
type Params struct {
	// Secret is the webhook's signing secret, as shown when it was created
	// or rotated (whsec_…).
	Secret string
	// PreviousSecrets are rotated-out secrets to test the signature
	// against, so that a request signed with one of them is recognised.
	PreviousSecrets []string
	// Now is the receiver's clock.
	Now time.Time
	// Tolerance bounds |webhook-timestamp - Now|. Default DefaultTolerance.
	Tolerance time.Duration
}

// Result is the verdict on one scheme.
type Result struct {
	Scheme Scheme
	// OK reports that the signature verified (Reason is ReasonVerified).
	OK     bool
	Reason Reason
	// Message says what is wrong, or what verified, in one line. It never
	// contains a secret.
	Message string
	// Hint says what to do about it; empty when OK.
	Hint string
	// Notes are further findings that are not the main reason, such as a
	// stale timestamp on a request whose signature is wrong anyway.
	Notes []string
	// Skew is webhook-timestamp minus Now (negative: in the past), for the
	// standard scheme when the header parses; zero otherwise.
	Skew time.Duration
}

// Report is the verdict on both schemes of one request.
type Report struct {
	Standard Result
	Legacy   Result
}

// OK reports that both signatures verified.
func (r Report) OK() bool { return r.Standard.OK && r.Legacy.OK }

// Check verifies both signatures of a request with p.Secret and, for each
// one that fails, returns the most specific reason it can find. body must be
// the raw request body.
func Check(header http.Header, body []byte, p Params) Report {
	if p.Tolerance <= 0 {
		p.Tolerance = DefaultTolerance
	}
	c := &checker{header: header, body: body, p: p}
	return Report{Standard: c.standard(), Legacy: c.legacy()}
}

// checker holds one Check's inputs and the body variants, computed once.
type checker struct {
	header   http.Header
	body     []byte
	p        Params
	variants []variant
	computed bool
}

func (c *checker) bodyVariants() []variant {
	if !c.computed {
		c.variants, c.computed = bodyVariants(c.body), true
	}
	return c.variants
}

// standardInput is a parsed Standard Webhooks header set.
type standardInput struct {
	id   string
	ts   int64
	sigs [][]byte // decoded v1 signatures
}

func (c *checker) standard() Result {
	res := Result{Scheme: SchemeStandard}
	in, bad := c.parseStandard(&res)
	if bad {
		return res
	}
	matches := func(key []byte, content []byte) bool {
		mac := hmacSHA256(key, content)
		for _, s := range in.sigs {
			if hmac.Equal(s, mac) {
				return true
			}
		}
		return false
	}
	signed := func(body []byte) []byte { return standardContent(in.id, in.ts, body) }
	content := signed(c.body)
	staleNote := c.timestampProblem(&res)

	key, keyErr := standardKey(c.p.Secret)
	if keyErr == nil && matches(key, content) {
		if staleNote != "" {
			res.Reason, res.Message = ReasonTimestamp, staleNote
			res.Hint = timestampHint(res.Skew, in.ts)
			return res
		}
		res.OK, res.Reason, res.Message = true, ReasonVerified, "verified"
		return res
	}
	if staleNote != "" {
		res.Notes = append(res.Notes, "also, "+staleNote)
	}
	fail := func(r Reason, msg, hint string) Result {
		res.Reason, res.Message, res.Hint = r, msg, hint
		return res
	}
	if keyErr != nil && !strings.HasPrefix(c.p.Secret, domain.SecretPrefix) {
		if k, err := standardKey(domain.SecretPrefix + c.p.Secret); err == nil && matches(k, content) {
			return fail(ReasonSecretPrefix, "the secret given lacks its "+domain.SecretPrefix+" prefix; with it, the signature matches",
				"use the whole secret as shown when the webhook was created, "+domain.SecretPrefix+" included "+
					"(Standard Webhooks libraries strip the prefix and base64-decode the rest themselves)")
		}
	}
	for i, prev := range c.p.PreviousSecrets {
		if k, err := standardKey(prev); err == nil && matches(k, content) {
			return fail(ReasonPreviousSecret, previousMessage(i, len(c.p.PreviousSecrets)), previousHint)
		}
	}
	if keyErr == nil {
		for _, v := range c.bodyVariants() {
			if matches(key, signed(v.body)) {
				return fail(ReasonBodyReserialized, "the body was re-serialised: the signature matches "+v.name+", not the bytes given",
					reserializedHint)
			}
		}
	}
	raw := []byte(c.p.Secret)
	bare := []byte(strings.TrimPrefix(c.p.Secret, domain.SecretPrefix))
	switch {
	case matches(raw, content):
		return fail(ReasonKeyEncoding, "the signature was computed with the secret string as the HMAC key",
			"Standard Webhooks keys the HMAC with the base64-decoded part of the secret after "+domain.SecretPrefix+
				"; only X-Webhook-Signature uses the string itself")
	case len(bare) != len(raw) && matches(bare, content):
		return fail(ReasonKeyEncoding, "the signature was computed with the base64 text after "+domain.SecretPrefix+" as the HMAC key, not decoded",
			"base64-decode the part of the secret after "+domain.SecretPrefix+" and use those bytes as the HMAC key")
	case keyErr == nil && matches(key, c.body):
		return fail(ReasonSignedContent, "the signature covers the body alone",
			"Standard Webhooks signs webhook-id + \".\" + webhook-timestamp + \".\" + body")
	case keyErr != nil:
		return fail(ReasonMalformedSecret, "the secret given is not a signing secret: "+secretProblem(keyErr),
			"a lokihooks secret is "+domain.SecretPrefix+" followed by the standard base64 of 24 to 64 bytes, as shown when the webhook was created")
	}
	return fail(ReasonWrongSecret, c.wrongSecretMessage(len(in.sigs)), wrongSecretHint)
}

// parseStandard reads the three headers; on a problem it fills res and
// returns bad.
func (c *checker) parseStandard(res *Result) (in standardInput, bad bool) {
	var missing []string
	for _, h := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
		if c.header.Get(h) == "" {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		res.Reason = ReasonMissingHeader
		res.Message = "missing header " + strings.Join(missing, ", ")
		res.Hint = "lokihooks sends webhook-id, webhook-timestamp and webhook-signature with every delivery: " +
			"a proxy or framework dropped them, or the request was saved without them"
		return in, true
	}
	in.id = c.header.Get(HeaderID)
	tsText := strings.TrimSpace(c.header.Get(HeaderTimestamp))
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		res.Reason = ReasonMalformedHeader
		res.Message = fmt.Sprintf("webhook-timestamp %q is not an integer", tsText)
		res.Hint = "webhook-timestamp is unix seconds, such as 1735689600"
		return in, true
	}
	in.ts = ts
	res.Skew = time.Unix(ts, 0).Sub(c.p.Now)
	for _, entry := range strings.Fields(c.header.Get(HeaderSignature)) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue // other schemes (v1a) are not ours to check
		}
		if b, err := base64.StdEncoding.DecodeString(sig); err == nil {
			in.sigs = append(in.sigs, b)
		}
	}
	if len(in.sigs) == 0 {
		res.Reason = ReasonMalformedHeader
		res.Message = "webhook-signature holds no v1,<base64> entry"
		res.Hint = "the header is a space-separated list of v1,<base64 HMAC-SHA256> signatures"
		return in, true
	}
	return in, false
}

// timestampProblem describes a webhook-timestamp outside the tolerance, or
// returns "".
func (c *checker) timestampProblem(res *Result) string {
	tol := c.p.Tolerance
	switch {
	case res.Skew < -tol:
		return fmt.Sprintf("timestamp is %s old; tolerance %s", FormatDuration(-res.Skew), FormatDuration(tol))
	case res.Skew > tol:
		return fmt.Sprintf("timestamp is %s in the future; tolerance %s", FormatDuration(res.Skew), FormatDuration(tol))
	}
	return ""
}

func timestampHint(skew time.Duration, ts int64) string {
	switch {
	case ts > 1e11:
		return "webhook-timestamp must be unix seconds; this one looks like milliseconds"
	case skew < 0:
		return "the signature is right, but receivers reject old requests to stop replays: " +
			"check the receiver's clock, and that the request was not queued or replayed " +
			"(lokihooks signs every attempt afresh)"
	default:
		return "the signature is right, but the timestamp is ahead of this clock: check both clocks (NTP)"
	}
}

func (c *checker) legacy() Result {
	res := Result{Scheme: SchemeLegacy}
	hdr := c.header.Get(HeaderLegacy)
	if hdr == "" {
		res.Reason, res.Message = ReasonMissingHeader, "missing header "+HeaderLegacy
		res.Hint = "lokihooks sends X-Webhook-Signature with every delivery: a proxy or framework dropped it, " +
			"or the request was saved without it"
		return res
	}
	digits, ok := strings.CutPrefix(hdr, "sha256=")
	sig, err := hex.DecodeString(digits)
	if !ok || err != nil || len(sig) != sha256.Size {
		res.Reason, res.Message = ReasonMalformedHeader, "X-Webhook-Signature is not sha256=<64 hex digits>"
		res.Hint = "the header is sha256= followed by the hex HMAC-SHA256 of the raw body"
		return res
	}
	matches := func(key, body []byte) bool { return hmac.Equal(sig, hmacSHA256(key, body)) }
	fail := func(r Reason, msg, hint string) Result {
		res.Reason, res.Message, res.Hint = r, msg, hint
		return res
	}
	secret := []byte(c.p.Secret)
	if matches(secret, c.body) {
		res.OK, res.Reason, res.Message = true, ReasonVerified, "verified"
		return res
	}
	if !strings.HasPrefix(c.p.Secret, domain.SecretPrefix) && matches([]byte(domain.SecretPrefix+c.p.Secret), c.body) {
		return fail(ReasonSecretPrefix, "the secret given lacks its "+domain.SecretPrefix+" prefix; with it, the signature matches",
			"X-Webhook-Signature is keyed by the whole secret string as shown, "+domain.SecretPrefix+" included")
	}
	for i, prev := range c.p.PreviousSecrets {
		if matches([]byte(prev), c.body) {
			return fail(ReasonPreviousSecret, previousMessage(i, len(c.p.PreviousSecrets)), previousHint)
		}
	}
	for _, v := range c.bodyVariants() {
		if matches(secret, v.body) {
			return fail(ReasonBodyReserialized, "the body was re-serialised: the signature matches "+v.name+", not the bytes given",
				reserializedHint)
		}
	}
	if key, err := standardKey(c.p.Secret); err == nil && matches(key, c.body) {
		return fail(ReasonKeyEncoding, "the signature was computed with the base64-decoded key",
			"X-Webhook-Signature is keyed by the secret string exactly as shown, "+domain.SecretPrefix+
				" included; only webhook-signature uses the decoded bytes")
	}
	if bare := strings.TrimPrefix(c.p.Secret, domain.SecretPrefix); bare != c.p.Secret && matches([]byte(bare), c.body) {
		return fail(ReasonKeyEncoding, "the signature was computed with the secret stripped of its "+domain.SecretPrefix+" prefix",
			"X-Webhook-Signature is keyed by the secret string exactly as shown, "+domain.SecretPrefix+" included")
	}
	return fail(ReasonWrongSecret, c.wrongSecretMessage(1), wrongSecretHint)
}

const (
	previousHint = "lokihooks signs with the new secret once it is rotated (and with the old one too, in " +
		"webhook-signature, during the grace period): give the receiver the new secret"
	reserializedHint = "verify the raw request bytes exactly as received, before any JSON parsing or " +
		"re-encoding (in Express use express.raw(), in Flask request.get_data(), in Go read r.Body)"
	wrongSecretHint = "check that the secret is this webhook's (each webhook has its own) and current " +
		"(POST /api/v1/webhooks/{id}/rotate-secret replaces it), and that nothing changed the body or headers on the way"
)

func previousMessage(i, n int) string {
	which := "--previous-secret"
	if n > 1 {
		which = fmt.Sprintf("previous secret #%d", i+1)
	}
	return "the signature matches " + which + ", not the current secret"
}

func (c *checker) wrongSecretMessage(signatures int) string {
	msg := "the signature does not match the secret"
	if signatures > 1 {
		msg = fmt.Sprintf("none of the %d signatures matches the secret", signatures)
	}
	if len(c.p.PreviousSecrets) > 0 {
		msg += " nor the previous one"
	}
	return msg + ", and no usual mistake explains it"
}

// secretProblem is ValidateSecret's message, which never holds the secret.
func secretProblem(err error) string {
	var ve *domain.ValidationError
	if errors.As(err, &ve) && len(ve.Fields) > 0 {
		return "it " + ve.Fields[0].Message
	}
	return "it is malformed"
}

// standardKey returns the HMAC key of a Standard Webhooks secret.
func standardKey(secret string) ([]byte, error) {
	if err := domain.ValidateSecret(secret); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, domain.SecretPrefix))
}

func standardContent(id string, ts int64, body []byte) []byte {
	out := make([]byte, 0, len(id)+len(body)+24)
	out = append(out, id...)
	out = append(out, '.')
	out = strconv.AppendInt(out, ts, 10)
	out = append(out, '.')
	return append(out, body...)
}

func hmacSHA256(key, content []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(content)
	return mac.Sum(nil)
}

// FormatDuration prints d rounded to the second without zero units:
// 7m12s, 5m, 2h, 45s.
func FormatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
