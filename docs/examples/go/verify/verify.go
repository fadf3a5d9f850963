// Package verify verifies lokihooks deliveries in Go.
//
// Verify (webhook-signature, recommended) uses the Standard Webhooks
// reference library; VerifyLegacy checks X-Webhook-Signature with the
// standard library. Handler shows both in a receiver. Pass the raw body as
// received: parse the JSON only once the signature checks out.
package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Verify checks webhook-signature: space-separated "v1,<base64 HMAC-SHA256>"
// entries over "<webhook-id>.<webhook-timestamp>.<body>", keyed by the
// base64-decoded part of the secret after "whsec_". One match is enough (two
// entries while a rotated secret is in its grace period); a timestamp more
// than 5 minutes from now is refused.
func Verify(secret string, header http.Header, body []byte) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	return wh.Verify(body, header)
}

// VerifyLegacy checks X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 of the
// body, keyed by the whole secret string, whsec_ included. It has no
// timestamp: prefer Verify.
func VerifyLegacy(secret string, header http.Header, body []byte) bool {
	got, err := hex.DecodeString(strings.TrimPrefix(header.Get("X-Webhook-Signature"), "sha256="))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Event is the body of a delivery.
type Event struct {
	ID        string          `json:"id"` // also the webhook-id header: the same on every attempt
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Handler verifies each delivery, then hands it to process, which must
// skip event ids it has seen before: delivery is at least once. It answers
// 401 to a bad signature and 500 when process fails, so lokihooks retries.
func Handler(secret string, process func(Event) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := Verify(secret, r.Header, body); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := process(ev); err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
