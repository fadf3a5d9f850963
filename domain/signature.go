package domain

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Signing secrets follow Standard Webhooks 1.0: "whsec_" + the standard
// base64 encoding of 24 to 64 random bytes.
const (
	// SecretPrefix starts every signing secret.
	SecretPrefix = "whsec_"
	// SecretMinBytes and SecretMaxBytes bound the decoded key length
	// (Standard Webhooks: between 192 and 512 bits).
	SecretMinBytes = 24
	SecretMaxBytes = 64
	// generatedSecretBytes is the key length GenerateSecret uses.
	generatedSecretBytes = 32
)

// Signature formats of the receiver contract (DESIGN.md §4).
const (
	// standardSigPrefix prefixes each Standard Webhooks symmetric signature.
	standardSigPrefix = "v1,"
	// legacySigPrefix prefixes the X-Webhook-Signature value.
	legacySigPrefix = "sha256="
)

// GenerateSecret returns a new signing secret: SecretPrefix followed by the
// standard base64 encoding of 32 bytes from crypto/rand.
func GenerateSecret() string {
	var key [generatedSecretBytes]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails (Go 1.24+).
	return SecretPrefix + base64.StdEncoding.EncodeToString(key[:])
}

// ValidateSecret reports whether s is a well-formed signing secret:
// SecretPrefix followed by standard base64 (with padding) that decodes to
// SecretMinBytes..SecretMaxBytes bytes. The error is a *ValidationError on
// field "secret" matching ErrInvalid; it never contains the secret.
func ValidateSecret(s string) error {
	_, err := decodeSigningKey(s)
	return err
}

// decodeSigningKey validates s and returns its HMAC key.
func decodeSigningKey(s string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, invalidSecretError("must start with " + SecretPrefix)
	}
	// The base64 decoder skips CR and LF; reject them so that the legacy
	// signature (keyed by the secret string itself) and the Standard Webhooks
	// signature always agree on what the secret is.
	if strings.ContainsAny(encoded, "\r\n") {
		return nil, invalidSecretError("must not contain line breaks")
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, invalidSecretError("must be standard base64 after " + SecretPrefix)
	}
	if len(key) < SecretMinBytes || len(key) > SecretMaxBytes {
		return nil, invalidSecretError("must decode to " + strconv.Itoa(SecretMinBytes) + " to " +
			strconv.Itoa(SecretMaxBytes) + " bytes, got " + strconv.Itoa(len(key)))
	}
	return key, nil
}

func invalidSecretError(msg string) error {
	return &ValidationError{Fields: []FieldError{{Field: "secret", Message: msg}}}
}

// SignStandard returns the Standard Webhooks v1 signature of one message:
// "v1," + base64(HMAC-SHA256(key, msgID + "." + unix seconds of ts + "." +
// body)), where key is the decoded part of secret after SecretPrefix.
//
// It returns an error matching ErrInvalid when secret is malformed (see
// ValidateSecret) or msgID is empty or contains a full stop, which the
// specification forbids so that the signed content stays unambiguous.
func SignStandard(secret, msgID string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSigningKey(secret)
	if err != nil {
		return "", err
	}
	if err := validateSignedMsgID(msgID); err != nil {
		return "", err
	}
	return string(appendStandard(nil, key, msgID, ts, body)), nil
}

// SignatureHeader returns the webhook-signature header value: one v1
// signature per secret, space separated, in the order given (the current
// secret first, then rotated secrets still in their grace period).
//
// It returns an error matching ErrInvalid when secrets is empty, any secret
// is malformed, or msgID is invalid (see SignStandard).
func SignatureHeader(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", invalidSecretError("at least one signing secret is required")
	}
	if err := validateSignedMsgID(msgID); err != nil {
		return "", err
	}
	// 48 bytes per entry: "v1," + 44 base64 characters + a separator.
	out := make([]byte, 0, len(secrets)*48)
	for i, s := range secrets {
		key, err := decodeSigningKey(s)
		if err != nil {
			return "", err
		}
		if i > 0 {
			out = append(out, ' ')
		}
		out = appendStandard(out, key, msgID, ts, body)
	}
	return string(out), nil
}

// appendStandard appends "v1," + the base64 signature to dst.
func appendStandard(dst, key []byte, msgID string, ts time.Time, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	var scratch [64]byte
	prefix := append(scratch[:0], msgID...)
	prefix = append(prefix, '.')
	prefix = strconv.AppendInt(prefix, ts.Unix(), 10)
	prefix = append(prefix, '.')
	mac.Write(prefix)
	mac.Write(body)
	var sum [sha256.Size]byte
	dst = append(dst, standardSigPrefix...)
	return base64.StdEncoding.AppendEncode(dst, mac.Sum(sum[:0]))
}

func validateSignedMsgID(msgID string) error {
	switch {
	case msgID == "":
		return &ValidationError{Fields: []FieldError{{Field: "msg_id", Message: "must not be empty"}}}
	case strings.Contains(msgID, "."):
		return &ValidationError{Fields: []FieldError{{Field: "msg_id", Message: "must not contain a full stop"}}}
	}
	return nil
}

// SignLegacy returns the X-Webhook-Signature value: "sha256=" + hex of
// HMAC-SHA256 over body, keyed by the secret string exactly as shown to the
// user (prefix included), as a receiver computes it with
// hmac.new(secret.encode(), body, sha256).hexdigest().
func SignLegacy(secret string, body []byte) string {
	out := make([]byte, 0, len(legacySigPrefix)+hex.EncodedLen(sha256.Size))
	out = append(out, legacySigPrefix...)
	return string(hex.AppendEncode(out, legacySigMAC(secret, body)))
}

// VerifyLegacy reports whether header is the SignLegacy value of body under
// secret. The hex digits may be in either case; the MAC comparison is
// constant time.
func VerifyLegacy(secret string, body []byte, header string) bool {
	digits, ok := strings.CutPrefix(header, legacySigPrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(digits)
	if err != nil {
		return false
	}
	return hmac.Equal(got, legacySigMAC(secret, body))
}

func legacySigMAC(secret string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return mac.Sum(nil)
}
