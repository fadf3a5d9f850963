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

// LogPosition is a place in the global event log, which is ordered by
// (TransactionID, Position). The zero LogPosition is before every event.
type LogPosition struct {
	TransactionID uint64
	Position      int64
}

// PositionOf returns the log position of a recorded event.
func PositionOf(r Recorded) LogPosition {
	return LogPosition{TransactionID: r.TransactionID, Position: r.Position}
}

// Version expectations of an Append, besides a stream's exact current
// version (0 for a stream that must not exist yet).
const (
	// ExpectAny appends at the stream's next version, whatever it is.
	ExpectAny int64 = -1
	// ExpectNew appends only if the stream does not exist yet and skips it
	// silently otherwise, so that running the same append twice (a
	// redelivered outbox batch) starts each stream once.
	ExpectNew int64 = -2
)

// Append is one stream's share of an append: events to add after Expect.
type Append struct {
	StreamID   string
	StreamType string
	// Expect is the stream's current version (0: the stream must not
	// exist), ExpectAny or ExpectNew.
	Expect int64
	Events []Event
	// Metadata is stored with every event; the appender adds the trace
	// context of its context.
	Metadata map[string]string
}
