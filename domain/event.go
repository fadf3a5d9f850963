package domain

import (
	"encoding/json"
	"time"
)

// Event is a domain event: a past-tense fact with a stable stored type name.
type Event interface {
	// EventType returns the stable type name, such as "webhook.created.v1".
	EventType() string
}

// Recorded is an event as it sits in the log.
type Recorded struct {
	// Position is the event's place in the global log (assigned at insert).
	Position int64
	// StreamID names the aggregate instance, e.g. a webhook id.
	StreamID string
	// Version is the event's 1-based position within its stream.
	Version int64
	// Type is the stable event type name.
	Type string
	// Data is the JSON encoding of the event.
	Data json.RawMessage
	// Metadata carries trace context and correlation data.
	Metadata map[string]string
	// TransactionID is the xid8 of the appending transaction; the log is
	// ordered by (TransactionID, Position).
	TransactionID uint64
	// RecordedAt is when the event was appended.
	RecordedAt time.Time
}
