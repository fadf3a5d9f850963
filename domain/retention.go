package domain

import (
	"fmt"
	"time"
)

// Attempt excerpts (the request headers, response headers and start of
// the response body of each attempt) are most of the event log's bytes,
// and not worth keeping forever. They are therefore not part of the
// delivery.attempted event: the recorder keeps them in a payload row that
// the event references (DeliveryAttempted.PayloadID), and retention
// deletes payload rows once they are old, appending an
// AttemptExcerptsRedacted event first. Event rows are never edited, and a
// replay of the log meets the redaction where it happened.

// RetentionStreamType is the stream type of retention's own stream.
const RetentionStreamType = "retention"

// AttemptExcerptsStream is the stream of AttemptExcerptsRedacted events.
const AttemptExcerptsStream = "retention-attempt-excerpts"

// TypeAttemptExcerptsRedacted is the stored type name of
// AttemptExcerptsRedacted.
const TypeAttemptExcerptsRedacted = "attempt_excerpts.redacted.v1"

// AttemptExcerptsRedacted records that the excerpts of old attempts were
// removed: every attempt payload row with an id up to Through (payload ids
// grow with time), and the excerpts that attempts recorded before payload
// rows existed carry in their event, for attempts made before Before.
type AttemptExcerptsRedacted struct {
	// Through is the largest payload id removed; every smaller one is
	// gone too. Zero if no payload row was removed.
	Through int64 `json:"through,omitempty"`
	// Before bounds the attempts whose excerpts are gone.
	Before time.Time `json:"before"`
	// Count is how many payload rows this redaction removed.
	Count int `json:"count"`
	// At is when it happened.
	At time.Time `json:"at"`
}

// EventType implements Event.
func (AttemptExcerptsRedacted) EventType() string { return TypeAttemptExcerptsRedacted }

func decodeRetentionEvent(typ string, data []byte) (Event, error) {
	switch typ {
	case TypeAttemptExcerptsRedacted:
		e, err := decode[AttemptExcerptsRedacted](data)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", typ, err)
		}
		return e, nil
	default:
		return nil, fmt.Errorf("decode %q: %w", typ, ErrUnknownEventType)
	}
}

// HasExcerpts reports whether the attempt carries excerpts in the event
// itself (attempts recorded before payload rows existed, and events not
// yet recorded).
func (e DeliveryAttempted) HasExcerpts() bool {
	return len(e.RequestHeaders) > 0 || len(e.ResponseHeaders) > 0 || e.ResponseBody != ""
}
