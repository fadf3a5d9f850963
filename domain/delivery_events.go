package domain

import "fmt"

// decodeDeliveryEvent decodes delivery events; extended by the delivery
// pipeline.
func decodeDeliveryEvent(typ string, _ []byte) (Event, error) {
	return nil, fmt.Errorf("decode %q: %w", typ, ErrUnknownEventType)
}
