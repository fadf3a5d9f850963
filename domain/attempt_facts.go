package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// AttemptFacts are the fields of a DeliveryAttempted event that statistics
// read. Decoding only them skips the request and response headers and the
// response body the event also holds, which a replay of millions of
// attempts would otherwise turn into maps and strings for nothing.
type AttemptFacts struct {
	Attempt       int            `json:"attempt"`
	StatusCode    int            `json:"status_code,omitempty"`
	DurationMS    float64        `json:"duration_ms"`
	ErrorCategory ErrorCategory  `json:"error_category,omitempty"`
	ErrorDetail   string         `json:"error_detail,omitempty"`
	Status        DeliveryStatus `json:"status"`
	At            time.Time      `json:"at"`
}

// DecodeAttemptFacts decodes the facts of a stored delivery.attempted.v1
// event (the same JSON keys as DeliveryAttempted).
func DecodeAttemptFacts(data []byte) (AttemptFacts, error) {
	var f AttemptFacts
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("decode %s facts: %w", TypeDeliveryAttempted, err)
	}
	return f, nil
}
