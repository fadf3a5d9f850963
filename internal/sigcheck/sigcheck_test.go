package sigcheck_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/sigcheck"
)

const (
	// secret is the Standard Webhooks known-answer secret.
	secret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	eventID  = "evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"
	original = `{"id":"evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC","type":"validation.completed",` +
		`"timestamp":"2026-03-01T10:00:00.000000Z","data":{"issues": [], "source_id": "val_123", ` +
		`"document_id": "doc_456", "gates_failed": 0, "gates_passed": 8, "validation_status": "pass"}}`
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// request is a delivery as lokihooks sends it.
type request struct {
	header http.Header
	body   []byte
}

// signed builds a correctly signed request signed at ts with secrets (the
// first also signs the legacy header).
func signed(t *testing.T, body string, ts time.Time, secrets ...string) request {
	t.Helper()
	sig, err := domain.SignatureHeader(secrets, eventID, ts, []byte(body))
	require.NoError(t, err)
	h := http.Header{}
	h.Set("webhook-id", eventID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	h.Set("X-Webhook-Signature", domain.SignLegacy(secrets[0], []byte(body)))
	return request{header: h, body: []byte(body)}
}

func mac(key []byte, content string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(content))
	return m.Sum(nil)
}

func decodedKey(t *testing.T) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	return k
}

func TestCheck(t *testing.T) {
	t.Parallel()
	other := domain.GenerateSecret()
	standardContent := eventID + "." + strconv.FormatInt(now.Unix(), 10) + "." + original
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, []byte(original), "", "  "))
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, []byte(original)))

	tests := []struct {
		name     string
		req      func(t *testing.T) request
		params   sigcheck.Params
		standard sigcheck.Reason
		legacy   sigcheck.Reason
		message  string // part of the standard message, when set
	}{
		{
			name:     "Verified",
			req:      func(t *testing.T) request { return signed(t, original, now, secret) },
			standard: sigcheck.ReasonVerified, legacy: sigcheck.ReasonVerified,
		},
		{
			name:     "VerifiedWithinTolerance",
			req:      func(t *testing.T) request { return signed(t, original, now.Add(-4*time.Minute), secret) },
			standard: sigcheck.ReasonVerified, legacy: sigcheck.ReasonVerified,
		},
		{
			name:     "VerifiedDuringRotation",
			req:      func(t *testing.T) request { return signed(t, original, now, other, secret) },
			params:   sigcheck.Params{Secret: other},
			standard: sigcheck.ReasonVerified, legacy: sigcheck.ReasonVerified,
		},
		{
			name:     "TimestampOld",
			req:      func(t *testing.T) request { return signed(t, original, now.Add(-7*time.Minute-12*time.Second), secret) },
			standard: sigcheck.ReasonTimestamp, legacy: sigcheck.ReasonVerified,
			message: "timestamp is 7m12s old; tolerance 5m",
		},
		{
			name:     "TimestampFuture",
			req:      func(t *testing.T) request { return signed(t, original, now.Add(6*time.Minute), secret) },
			standard: sigcheck.ReasonTimestamp, legacy: sigcheck.ReasonVerified,
			message: "timestamp is 6m in the future; tolerance 5m",
		},
		{
			name:     "WrongSecret",
			req:      func(t *testing.T) request { return signed(t, original, now, other) },
			standard: sigcheck.ReasonWrongSecret, legacy: sigcheck.ReasonWrongSecret,
		},
		{
			name:     "WrongSecretAndOld",
			req:      func(t *testing.T) request { return signed(t, original, now.Add(-time.Hour), other) },
			standard: sigcheck.ReasonWrongSecret, legacy: sigcheck.ReasonWrongSecret,
			message: "does not match",
		},
		{
			name:     "PreviousSecret",
			req:      func(t *testing.T) request { return signed(t, original, now, other) },
			params:   sigcheck.Params{Secret: secret, PreviousSecrets: []string{other}},
			standard: sigcheck.ReasonPreviousSecret, legacy: sigcheck.ReasonPreviousSecret,
			message: "--previous-secret",
		},
		{
			name: "PrettyPrintedBody",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.body = pretty.Bytes()
				return r
			},
			standard: sigcheck.ReasonBodyReserialized, legacy: sigcheck.ReasonBodyReserialized,
			message: "as lokihooks encodes it",
		},
		{
			name: "CompactedBody",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.body = compact.Bytes()
				return r
			},
			standard: sigcheck.ReasonBodyReserialized, legacy: sigcheck.ReasonBodyReserialized,
			message: "as lokihooks encodes it",
		},
		{
			// A sender that signed Go's re-encoding but sent the original.
			name: "SignedSortedSentOriginal",
			req: func(t *testing.T) request {
				var v any
				require.NoError(t, json.Unmarshal([]byte(original), &v))
				sorted, err := json.Marshal(v)
				require.NoError(t, err)
				r := signed(t, string(sorted), now, secret)
				r.body = []byte(original)
				return r
			},
			standard: sigcheck.ReasonBodyReserialized, legacy: sigcheck.ReasonBodyReserialized,
			message: "Go's encoding/json",
		},
		{
			name: "TrailingNewline",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.body = append(r.body, '\n')
				return r
			},
			standard: sigcheck.ReasonBodyReserialized, legacy: sigcheck.ReasonBodyReserialized,
			message: "without its trailing newline",
		},
		{
			name: "MissingHeaders",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.header.Del("webhook-signature")
				r.header.Del("X-Webhook-Signature")
				return r
			},
			standard: sigcheck.ReasonMissingHeader, legacy: sigcheck.ReasonMissingHeader,
			message: "missing header webhook-signature",
		},
		{
			name: "MalformedTimestamp",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.header.Set("webhook-timestamp", now.Format(time.RFC3339))
				return r
			},
			standard: sigcheck.ReasonMalformedHeader, legacy: sigcheck.ReasonVerified,
		},
		{
			name: "MalformedLegacy",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.header.Set("X-Webhook-Signature", hex.EncodeToString(mac([]byte(secret), original)))
				return r
			},
			standard: sigcheck.ReasonVerified, legacy: sigcheck.ReasonMalformedHeader,
		},
		{
			name:     "SecretWithoutPrefix",
			req:      func(t *testing.T) request { return signed(t, original, now, secret) },
			params:   sigcheck.Params{Secret: strings.TrimPrefix(secret, "whsec_")},
			standard: sigcheck.ReasonSecretPrefix, legacy: sigcheck.ReasonSecretPrefix,
		},
		{
			name: "LegacyWithDecodedKey",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.header.Set("X-Webhook-Signature", "sha256="+hex.EncodeToString(mac(decodedKey(t), original)))
				return r
			},
			standard: sigcheck.ReasonVerified, legacy: sigcheck.ReasonKeyEncoding,
		},
		{
			name: "LegacyWithoutPrefix",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				bare := strings.TrimPrefix(secret, "whsec_")
				r.header.Set("X-Webhook-Signature", "sha256="+hex.EncodeToString(mac([]byte(bare), original)))
				return r
			},
			standard: sigcheck.ReasonVerified, legacy: sigcheck.ReasonKeyEncoding,
		},
		{
			name: "StandardWithStringKey",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac([]byte(secret), standardContent)))
				return r
			},
			standard: sigcheck.ReasonKeyEncoding, legacy: sigcheck.ReasonVerified,
			message: "secret string as the HMAC key",
		},
		{
			name: "StandardOverBodyOnly",
			req: func(t *testing.T) request {
				r := signed(t, original, now, secret)
				r.header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac(decodedKey(t), original)))
				return r
			},
			standard: sigcheck.ReasonSignedContent, legacy: sigcheck.ReasonVerified,
		},
		{
			name:     "MalformedSecret",
			req:      func(t *testing.T) request { return signed(t, original, now, secret) },
			params:   sigcheck.Params{Secret: "hunter2"},
			standard: sigcheck.ReasonMalformedSecret, legacy: sigcheck.ReasonWrongSecret,
			message: "must start with whsec_",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.req(t)
			p := tt.params
			if p.Secret == "" {
				p.Secret = secret
			}
			p.Now = now
			rep := sigcheck.Check(r.header, r.body, p)
			require.Equal(t, tt.standard, rep.Standard.Reason, "standard: %+v", rep.Standard)
			require.Equal(t, tt.legacy, rep.Legacy.Reason, "legacy: %+v", rep.Legacy)
			require.Equal(t, tt.standard == sigcheck.ReasonVerified, rep.Standard.OK)
			require.Equal(t, tt.legacy == sigcheck.ReasonVerified, rep.Legacy.OK)
			require.Equal(t, rep.Standard.OK && rep.Legacy.OK, rep.OK())
			if tt.message != "" {
				require.Contains(t, rep.Standard.Message, tt.message)
			}
			for _, res := range []sigcheck.Result{rep.Standard, rep.Legacy} {
				require.NotContains(t, res.Message+res.Hint+strings.Join(res.Notes, ""), strings.TrimPrefix(secret, "whsec_"),
					"no secret in the report")
				if !res.OK {
					require.NotEmpty(t, res.Hint, "every failure says what to do")
				}
			}
		})
	}

	t.Run("StaleNoteBesideWrongSecret", func(t *testing.T) {
		t.Parallel()
		r := signed(t, original, now.Add(-time.Hour), other)
		rep := sigcheck.Check(r.header, r.body, sigcheck.Params{Secret: secret, Now: now})
		require.Equal(t, []string{"also, timestamp is 1h old; tolerance 5m"}, rep.Standard.Notes)
	})

	t.Run("Milliseconds", func(t *testing.T) {
		t.Parallel()
		r := signed(t, original, now, secret)
		ms := strconv.FormatInt(now.UnixMilli(), 10)
		r.header.Set("webhook-timestamp", ms)
		r.header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac(decodedKey(t), eventID+"."+ms+"."+original)))
		rep := sigcheck.Check(r.header, r.body, sigcheck.Params{Secret: secret, Now: now})
		require.Equal(t, sigcheck.ReasonTimestamp, rep.Standard.Reason)
		require.Contains(t, rep.Standard.Hint, "milliseconds")
	})
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                                    "0s",
		45 * time.Second:                     "45s",
		5 * time.Minute:                      "5m",
		7*time.Minute + 12*time.Second:       "7m12s",
		2 * time.Hour:                        "2h",
		2*time.Hour + 30*time.Minute:         "2h30m",
		time.Hour + 1*time.Second:            "1h0m1s",
		7*time.Minute + 400*time.Millisecond: "7m",
	} {
		require.Equal(t, want, sigcheck.FormatDuration(d), "%v", time.Duration(d))
	}
}
