package domain

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// Identifier prefixes. IDs are the prefix followed by 26 characters of
// Crockford base32: 48 bits of milliseconds then 80 random bits, so IDs sort
// by creation time (cursor pagination relies on it).
const (
	WebhookIDPrefix  = "wh_"
	DeliveryIDPrefix = "dlv_"
	EventIDPrefix    = "evt_"
)

// WebhookID identifies a webhook.
type WebhookID string

// DeliveryID identifies one delivery of one event to one webhook.
type DeliveryID string

// EventID identifies a published event; it is the receiver's idempotency key.
type EventID string

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns prefix + a time-sortable, random 26-character identifier.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+).
	return prefix + encodeBase32(b)
}

// encodeBase32 renders 128 bits as 26 Crockford base32 characters.
func encodeBase32(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	out := make([]byte, 26)
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out)
}
