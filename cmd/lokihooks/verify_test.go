package main

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
	verifySecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	verifyBody   = `{"id":"evt_1","type":"webhook.test","timestamp":"2026-03-01T10:00:00.000000Z","data":{"message": "hi", "sent_at": "2026-03-01T10:00:00Z"}}`
)

var verifyNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// signedDelivery returns the headers lokihooks sends with body, signed at
// ts with secrets.
func signedDelivery(t *testing.T, body string, ts time.Time, secrets ...string) http.Header {
	t.Helper()
	sig, err := domain.SignatureHeader(secrets, "evt_1", ts, []byte(body))
	require.NoError(t, err)
	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	h.Set("X-Webhook-Signature", domain.SignLegacy(secrets[0], []byte(body)))
	h.Set("X-Webhook-Event", "webhook.test")
	return h
}

// rawRequest renders a request as `lokihooks receive --save` does.
func rawRequest(h http.Header, body string) []byte {
	var b bytes.Buffer
	b.WriteString("POST /hooks HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n")
	h = h.Clone()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_ = h.Write(&b)
	b.WriteString("\r\n" + body)
	return b.Bytes()
}

// verifyReport runs verify --json on a saved request.
func verifyReport(t *testing.T, raw []byte, extra ...string) (verifyJSON, error) {
	t.Helper()
	args := append([]string{"verify", "--json", "--at", verifyNow.Format(time.RFC3339)}, extra...)
	args = append(args, writeFile(t, "request.http", raw))
	out, _, err := runCmd(t, args...)
	var rep verifyJSON
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep, err
}

func TestVerify_NamesTheReason(t *testing.T) {
	t.Parallel()
	other := domain.GenerateSecret()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(verifySecret, "whsec_"))
	require.NoError(t, err)
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, []byte(verifyBody), "", "  "))

	tests := []struct {
		name     string
		raw      func(t *testing.T) []byte
		flags    []string
		standard sigcheck.Reason
		legacy   sigcheck.Reason
		message  string // in the standard message, or the legacy one when standard verifies
	}{
		{
			name: "StaleTimestamp",
			raw: func(t *testing.T) []byte {
				return rawRequest(signedDelivery(t, verifyBody, verifyNow.Add(-7*time.Minute-12*time.Second), verifySecret), verifyBody)
			},
			standard: sigcheck.ReasonTimestamp, legacy: sigcheck.ReasonVerified,
			message: "timestamp is 7m12s old; tolerance 5m",
		},
		{
			name: "WrongSecret",
			raw: func(t *testing.T) []byte {
				return rawRequest(signedDelivery(t, verifyBody, verifyNow, other), verifyBody)
			},
			standard: sigcheck.ReasonWrongSecret, legacy: sigcheck.ReasonWrongSecret,
			message: "does not match the secret",
		},
		{
			name: "RotatedOutSecretMatches",
			raw: func(t *testing.T) []byte {
				return rawRequest(signedDelivery(t, verifyBody, verifyNow, other), verifyBody)
			},
			flags:    []string{"--previous-secret", other},
			standard: sigcheck.ReasonPreviousSecret, legacy: sigcheck.ReasonPreviousSecret,
			message: "matches --previous-secret",
		},
		{
			name: "WrongSecretNotThePreviousEither",
			raw: func(t *testing.T) []byte {
				return rawRequest(signedDelivery(t, verifyBody, verifyNow, other), verifyBody)
			},
			flags:    []string{"--previous-secret", domain.GenerateSecret()},
			standard: sigcheck.ReasonWrongSecret, legacy: sigcheck.ReasonWrongSecret,
			message: "nor the previous one",
		},
		{
			name: "BodyPrettyPrinted",
			raw: func(t *testing.T) []byte {
				return rawRequest(signedDelivery(t, verifyBody, verifyNow, verifySecret), pretty.String())
			},
			standard: sigcheck.ReasonBodyReserialized, legacy: sigcheck.ReasonBodyReserialized,
			message: "the body was re-serialised",
		},
		{
			name: "BodyKeysSorted",
			raw: func(t *testing.T) []byte {
				var v any
				require.NoError(t, json.Unmarshal([]byte(verifyBody), &v))
				sorted, err := json.Marshal(v)
				require.NoError(t, err)
				return rawRequest(signedDelivery(t, verifyBody, verifyNow, verifySecret), string(sorted))
			},
			standard: sigcheck.ReasonBodyReserialized, legacy: sigcheck.ReasonBodyReserialized,
			message: "as lokihooks encodes it",
		},
		{
			name: "MissingHeader",
			raw: func(t *testing.T) []byte {
				h := signedDelivery(t, verifyBody, verifyNow, verifySecret)
				h.Del("webhook-timestamp")
				return rawRequest(h, verifyBody)
			},
			standard: sigcheck.ReasonMissingHeader, legacy: sigcheck.ReasonVerified,
			message: "missing header webhook-timestamp",
		},
		{
			name: "SecretWithoutPrefix",
			raw: func(t *testing.T) []byte {
				return rawRequest(signedDelivery(t, verifyBody, verifyNow, verifySecret), verifyBody)
			},
			flags:    []string{"--secret", strings.TrimPrefix(verifySecret, "whsec_")},
			standard: sigcheck.ReasonSecretPrefix, legacy: sigcheck.ReasonSecretPrefix,
			message: "lacks its whsec_ prefix",
		},
		{
			name: "LegacyKeyedWithDecodedSecret",
			raw: func(t *testing.T) []byte {
				h := signedDelivery(t, verifyBody, verifyNow, verifySecret)
				mac := hmac.New(sha256.New, key)
				mac.Write([]byte(verifyBody))
				h.Set("X-Webhook-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
				return rawRequest(h, verifyBody)
			},
			standard: sigcheck.ReasonVerified, legacy: sigcheck.ReasonKeyEncoding,
			message: "base64-decoded key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			flags := tt.flags
			if !strings.Contains(strings.Join(flags, " "), "--secret ") {
				flags = append(flags, "--secret", verifySecret)
			}
			rep, err := verifyReport(t, tt.raw(t), flags...)
			require.ErrorIs(t, err, errNotVerified)
			require.False(t, rep.Verified)
			require.Equal(t, string(tt.standard), rep.Standard.Reason)
			require.Equal(t, string(tt.legacy), rep.Legacy.Reason)
			msg := rep.Standard.Message
			if rep.Standard.OK {
				msg = rep.Legacy.Message
			}
			require.Contains(t, msg, tt.message)
		})
	}
}

func TestVerify_Inputs(t *testing.T) {
	t.Parallel()
	h := signedDelivery(t, verifyBody, verifyNow, verifySecret)
	at := "--at=" + strconv.FormatInt(verifyNow.Unix(), 10)

	t.Run("RawRequest", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "verify", "--secret", verifySecret, at, writeFile(t, "r.http", rawRequest(h, verifyBody)))
		require.NoError(t, err)
		require.Contains(t, out, "Standard Webhooks (webhook-signature)  ✓ verified")
		require.Contains(t, out, "legacy (X-Webhook-Signature)           ✓ verified")
	})

	t.Run("EditorNewlineAfterContentLength", func(t *testing.T) {
		t.Parallel()
		lf := strings.ReplaceAll(string(rawRequest(h, verifyBody)), "\r\n", "\n") + "\n"
		out, _, err := runCmd(t, "verify", "--secret", verifySecret, at, writeFile(t, "r.http", []byte(lf)))
		require.NoError(t, err)
		require.Contains(t, out, "ignored 1 bytes after the Content-Length")
	})

	t.Run("HeadersAndBodyFile", func(t *testing.T) {
		t.Parallel()
		args := []string{"verify", "--secret", verifySecret, at, "--body-file", writeFile(t, "body.json", []byte(verifyBody))}
		for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature", "X-Webhook-Signature"} {
			args = append(args, "--header", name+": "+h.Get(name))
		}
		_, _, err := runCmd(t, args...)
		require.NoError(t, err)
	})

	t.Run("ReceiverPyCapture", func(t *testing.T) {
		t.Parallel()
		capture := map[string]any{"headers": map[string]string{}, "body": verifyBody}
		for name := range h {
			capture["headers"].(map[string]string)[name] = h.Get(name)
		}
		b, err := json.Marshal(capture)
		require.NoError(t, err)
		_, _, err = runCmd(t, "verify", "--secret", verifySecret, at, writeFile(t, "capture.json", b))
		require.NoError(t, err)
	})

	t.Run("OneSchemeOnly", func(t *testing.T) {
		t.Parallel()
		h := h.Clone()
		h.Del("X-Webhook-Signature")
		raw := writeFile(t, "r.http", rawRequest(h, verifyBody))
		_, _, err := runCmd(t, "verify", "--secret", verifySecret, at, raw)
		require.ErrorIs(t, err, errNotVerified)
		_, _, err = runCmd(t, "verify", "--secret", verifySecret, at, "--scheme", "standard", raw)
		require.NoError(t, err)
	})

	t.Run("TextShowsTheHint", func(t *testing.T) {
		t.Parallel()
		stale := signedDelivery(t, verifyBody, verifyNow.Add(-10*time.Minute), verifySecret)
		out, _, err := runCmd(t, "verify", "--secret", verifySecret, at, writeFile(t, "r.http", rawRequest(stale, verifyBody)))
		require.ErrorIs(t, err, errNotVerified)
		require.Contains(t, out, "✗ timestamp is 10m old; tolerance 5m\n")
		require.Contains(t, out, "→ the signature is right, but receivers reject old requests")
		require.True(t, strings.HasSuffix(out, "NOT verified\n"))
	})

	t.Run("Unreadable", func(t *testing.T) {
		t.Parallel()
		_, _, err := runCmd(t, "verify", "--secret", verifySecret, writeFile(t, "r.http", []byte("no blank line here")))
		require.Error(t, err)
		require.NotErrorIs(t, err, errReported, "main prints what is wrong with the file")
	})

	t.Run("ExitCodes", func(t *testing.T) {
		t.Parallel()
		good := writeFile(t, "good.http", rawRequest(h, verifyBody))
		code, stderr := runMain(t, nil, "verify", "--secret", verifySecret, at, good)
		require.Equal(t, 0, code, stderr)
		code, stderr = runMain(t, nil, "verify", "--secret", domain.GenerateSecret(), at, good)
		require.Equal(t, 1, code)
		require.Empty(t, stderr, "the report on stdout says it all")
	})
}
