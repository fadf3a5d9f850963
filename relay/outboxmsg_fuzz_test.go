package relay

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeOutboxGroup decodes arbitrary outbox message payloads: an
// error or items, never a panic; decoded items encode and decode to
// themselves, and only trace context survives traceOnly.
func FuzzDecodeOutboxGroup(f *testing.F) {
	f.Add([]byte(`[{"id":"evt_1","metadata":{"event_type":"validation.completed","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},"body":{"id":"evt_1","data":{}}}]`))
	f.Add([]byte(`[{"id":"evt_2","metadata":{"event_type":"x"},"body":null},{"id":"","metadata":null}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[1, "a", null]`))
	f.Add([]byte(`{"id":"evt_1"}`))
	f.Add([]byte(`[{"id":1}]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		items, err := decodeOutboxGroup(payload)
		if err != nil {
			return
		}
		once, err := json.Marshal(items)
		if err != nil {
			t.Fatalf("encode %d items: %v", len(items), err)
		}
		again, err := decodeOutboxGroup(once)
		if err != nil {
			t.Fatalf("decode %s again: %v", once, err)
		}
		twice, err := json.Marshal(again)
		if err != nil || string(twice) != string(once) {
			t.Fatalf("round trip changed %s into %s (%v)", once, twice, err)
		}
		for _, it := range items {
			for k := range traceOnly(it.Metadata) {
				if k != "traceparent" && k != "tracestate" {
					t.Fatalf("traceOnly kept %q", k)
				}
			}
		}
	})
}
