//go:build ignore

// Command verify-go verifies the signatures of a lokihooks delivery in Go.
//
// Verify (Standard Webhooks, recommended) uses the reference library
// github.com/standard-webhooks/standard-webhooks/libraries/go; VerifyLegacy
// checks X-Webhook-Signature with the standard library only. Handler shows
// both in an http.Handler.
//
// As a command, it checks one captured request (the format receiver.py
// --save writes: {"headers": {...}, "body": "..."}); from the repository root:
//
//	WEBHOOK_SECRET=whsec_... go run ./docs/examples/verify-go/main.go request.json
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Verify checks the webhook-signature header (one or more "v1,<base64>"
// entries; any match is enough) over "<webhook-id>.<webhook-timestamp>.<body>",
// and rejects timestamps more than 5 minutes from now.
func Verify(secret string, header http.Header, body []byte) error {
	wh, err := standardwebhooks.NewWebhook(secret) // decodes the part after "whsec_"
	if err != nil {
		return err
	}
	return wh.Verify(body, header)
}

// VerifyLegacy checks X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 of the
// body, keyed by the whole secret string (whsec_ prefix included). It has no
// timestamp, so it does not protect against replays; prefer Verify.
func VerifyLegacy(secret string, header http.Header, body []byte) bool {
	digits, ok := strings.CutPrefix(header.Get("X-Webhook-Signature"), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(digits)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Handler is a receiver: it verifies, then deduplicates on webhook-id (the
// same on every retry of one event), then processes.
func Handler(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		if err := Verify(secret, r.Header, body); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var event struct {
			ID        string          `json:"id"`
			Type      string          `json:"type"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		// Skip event.ID if it was processed before, else process it.
		w.WriteHeader(http.StatusNoContent)
	})
}

func main() {
	secret := os.Getenv("WEBHOOK_SECRET")
	if len(os.Args) != 2 || secret == "" {
		fmt.Fprintln(os.Stderr, "usage: WEBHOOK_SECRET=whsec_... go run ./docs/examples/verify-go/main.go request.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var captured struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	if err := json.Unmarshal(raw, &captured); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	header := http.Header{}
	for k, v := range captured.Headers {
		header.Set(k, v)
	}
	body := []byte(captured.Body)

	ok := true
	if err := Verify(secret, header, body); err != nil {
		fmt.Println("webhook-signature (Standard Webhooks): INVALID:", err)
		ok = false
	} else {
		fmt.Println("webhook-signature (Standard Webhooks): valid")
	}
	if VerifyLegacy(secret, header, body) {
		fmt.Println("X-Webhook-Signature: valid")
	} else {
		fmt.Println("X-Webhook-Signature: INVALID")
		ok = false
	}
	if !ok {
		os.Exit(1)
	}
}
