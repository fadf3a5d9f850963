package relay

import (
	"encoding/json"
	"errors"
	"fmt"
)

// decodeOutboxGroup decodes the payload of one grouped outbox message: the
// JSON array of {"id","metadata","body"} that batchSchema's SelectQuery
// builds. It is pure (the fan-out handler and the fuzz test call it) and
// refuses anything but an array of objects; which items can be scheduled
// (an event id and an event_type) is the handler's to decide, one item at a
// time.
func decodeOutboxGroup(payload []byte) ([]outboxItem, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("decode outbox group: %w", err)
	}
	if raw == nil {
		return nil, errors.New("decode outbox group: not an array")
	}
	items := make([]outboxItem, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &items[i]); err != nil {
			return nil, fmt.Errorf("decode outbox group item %d: %w", i, err)
		}
		if len(r) == 0 || r[0] != '{' {
			return nil, fmt.Errorf("decode outbox group item %d: not an object", i)
		}
	}
	return items, nil
}
