package relay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBodyTimestamp(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 8, 1, 2, 345678000, time.UTC)
	body := `{"id":"evt_1","type":"report.generated","timestamp":"2026-11-30T08:01:02.345678Z","data":{"timestamp":"1999-01-01T00:00:00Z"}}`
	require.Equal(t, at, bodyTimestamp([]byte(body)))
	for _, bad := range []string{"", `{"id":"evt_1"}`, `{"id":"e","type":"t","timestamp":"yesterday","data":{}}`, `{"id":"e","type":"t","timestamp":"2026-11-30`} {
		require.True(t, bodyTimestamp([]byte(bad)).IsZero(), bad)
	}
}
