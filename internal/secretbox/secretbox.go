// Package secretbox encrypts secrets at rest (webhook signing secrets,
// integration credentials) with AES-256-GCM. A sealed value is "enc:v1:" +
// base64(nonce ‖ ciphertext); values without the prefix are plain text
// (written before a key was configured) and open as themselves.
//
// A Box holds one current key, which seals, and any number of previous
// keys, which only open: that is how the key is rotated (seal under the new
// key, re-seal what the old one sealed with Reseal, then drop the old key).
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

// ErrWrongKey reports a sealed value that none of the configured keys
// opens (or that was altered).
var ErrWrongKey = errors.New("sealed secret does not open with any configured key")

// Box seals and opens secrets. A nil *Box stores secrets in plain text.
// It is safe for concurrent use.
type Box struct {
	// aeads[0] is the current key; the others are previous keys.
	aeads []cipher.AEAD
}

// New returns a Box whose current key is key (32 bytes) and which also
// opens what the previous keys sealed.
func New(key []byte, previous ...[]byte) (*Box, error) {
	b := &Box{}
	for i, k := range append([][]byte{key}, previous...) {
		if len(k) != KeySize {
			if i == 0 {
				return nil, fmt.Errorf("secrets key must be %d bytes, got %d", KeySize, len(k))
			}
			return nil, fmt.Errorf("previous secrets key %d must be %d bytes, got %d", i, KeySize, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.aeads = append(b.aeads, aead)
	}
	return b, nil
}

// Parse decodes a base64 (standard or URL, padded or not) current key and
// any previous keys, and returns their Box.
func Parse(encoded string, previous ...string) (*Box, error) {
	key, err := parseKey(encoded)
	if err != nil {
		return nil, err
	}
	prev := make([][]byte, 0, len(previous))
	for i, p := range previous {
		k, err := parseKey(p)
		if err != nil {
			return nil, fmt.Errorf("previous secrets key %d: %w", i+1, err)
		}
		prev = append(prev, k)
	}
	return New(key, prev...)
}

func parseKey(encoded string) ([]byte, error) {
	encoded = strings.TrimSpace(encoded)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(encoded); err == nil {
			return key, nil
		}
	}
	return nil, errors.New("secrets key is not base64")
}

// Keys returns how many keys the Box holds (the current one and the
// previous ones); 0 for a nil Box.
func (b *Box) Keys() int {
	if b == nil {
		return 0
	}
	return len(b.aeads)
}

// Seal encrypts a secret with the current key; a nil Box returns it
// unchanged, and so does an already sealed value.
func (b *Box) Seal(plain string) string {
	if b == nil || plain == "" || strings.HasPrefix(plain, prefix) {
		return plain
	}
	aead := b.aeads[0]
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+).
	sealed := aead.Seal(nonce, nonce, []byte(plain), nil)
	return prefix + base64.RawStdEncoding.EncodeToString(sealed)
}

// Open decrypts a sealed secret with whichever key sealed it and returns
// plain text as is. It fails with ErrNoKey on a sealed value without a
// key, and with ErrWrongKey when no key opens it.
func (b *Box) Open(s string) (string, error) {
	plain, _, err := b.open(s)
	return plain, err
}

// open returns the plain text and the index of the key that opened it (-1
// for plain text).
func (b *Box) open(s string) (string, int, error) {
	rest, sealed := strings.CutPrefix(s, prefix)
	if !sealed {
		return s, -1, nil
	}
	if b == nil {
		return "", -1, ErrNoKey
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aeads[0].NonceSize() {
		return "", -1, errors.New("sealed secret is malformed")
	}
	n := b.aeads[0].NonceSize()
	for i, aead := range b.aeads {
		if plain, err := aead.Open(nil, raw[:n], raw[n:], nil); err == nil {
			return string(plain), i, nil
		}
	}
	return "", -1, ErrWrongKey
}

// Reseal returns s sealed with the current key, and whether that changed
// it: a value a previous key sealed is opened and sealed again, plain text
// is sealed, and a value the current key sealed is returned as is. It
// fails like Open. A nil Box returns s unchanged.
func (b *Box) Reseal(s string) (string, bool, error) {
	if b == nil || s == "" {
		return s, false, nil
	}
	plain, key, err := b.open(s)
	if err != nil {
		return "", false, err
	}
	if key == 0 {
		return s, false, nil
	}
	return b.Seal(plain), true, nil
}
