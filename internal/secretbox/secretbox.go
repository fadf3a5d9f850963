// Package secretbox encrypts webhook signing secrets at rest with AES-256-GCM.
// A sealed value is "enc:v1:" + base64(nonce ‖ ciphertext); values without
// the prefix are plain text (written before a key was configured) and open
// as themselves.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the key length in bytes (AES-256).
const KeySize = 32

const prefix = "enc:v1:"

// ErrNoKey reports a sealed value met without a key to open it.
var ErrNoKey = errors.New("secret is encrypted but no LOKIHOOKS_SECRETS_KEY is configured")

// Box seals and opens secrets. A nil *Box stores secrets in plain text.
// It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secrets key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Parse decodes a base64 (standard or URL, padded or not) key and returns
// its Box.
func Parse(encoded string) (*Box, error) {
	encoded = strings.TrimSpace(encoded)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(encoded); err == nil {
			return New(key)
		}
	}
	return nil, errors.New("secrets key is not base64")
}

// Seal encrypts a secret; a nil Box returns it unchanged.
func (b *Box) Seal(plain string) string {
	if b == nil || plain == "" || strings.HasPrefix(plain, prefix) {
		return plain
	}
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+).
	sealed := b.aead.Seal(nonce, nonce, []byte(plain), nil)
	return prefix + base64.RawStdEncoding.EncodeToString(sealed)
}

// Open decrypts a sealed secret and returns plain text as is. It fails with
// ErrNoKey on a sealed value without a key, and when the value was sealed
// with another key or altered.
func (b *Box) Open(s string) (string, error) {
	rest, sealed := strings.CutPrefix(s, prefix)
	if !sealed {
		return s, nil
	}
	if b == nil {
		return "", ErrNoKey
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", errors.New("sealed secret is malformed")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", errors.New("sealed secret does not open with this key")
	}
	return string(plain), nil
}
