package eventstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
)

// TestReadLog_OrdersByTransactionIDNotItsText: the query selects
// transaction_id::text under the column's own name, and a bare ORDER BY
// transaction_id sorts by that output column, as text ("1000" before
// "999"). A page would then end on the wrong event, and the next read,
// after it, would skip transaction 999 for good.
func TestReadLog_OrdersByTransactionIDNotItsText(t *testing.T) {
	t.Parallel()
	_, b := setup(t)
	ctx := t.Context()
	_, err := b.pool.Exec(ctx, `INSERT INTO events (transaction_id, stream_id, stream_type, version, type, data)
		VALUES ('1000', 'wh_b', 'webhook', 1, 'webhook.paused.v1', '{}'),
		       ('999', 'wh_a', 'webhook', 1, 'webhook.paused.v1', '{}')`)
	require.NoError(t, err)
	var got []uint64
	after := domain.LogPosition{}
	for range 2 {
		recs, err := eventstore.ReadLog(ctx, b.pool, after, 1)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		got = append(got, recs[0].TransactionID)
		after = domain.PositionOf(recs[0])
	}
	require.Equal(t, []uint64{999, 1000}, got)
}

func TestReadLogLean(t *testing.T) {
	t.Parallel()
	s, b := setup(t)
	ctx := t.Context()
	next := b.now.Add(time.Minute)
	_, err := s.Append(ctx, domain.Append{
		StreamID: "dlv_lean", StreamType: domain.DeliveryStreamType, Metadata: map[string]string{"k": "v"},
		Events: []domain.Event{
			domain.DeliveryScheduled{DeliveryID: "dlv_lean", DestinationID: "wh_lean", Kind: domain.KindWebhook, EventID: "evt_1", Type: "system.error", At: b.now},
			domain.DeliveryAttempted{
				Attempt: 1, RequestHeaders: map[string]string{"A": "b"}, StatusCode: 503,
				ResponseHeaders: map[string]string{"C": "d"}, ResponseBody: "busy", DurationMS: 1.5,
				ErrorCategory: domain.ErrorCategoryHTTP5xx, ErrorDetail: "HTTP 503", Status: domain.DeliveryRetrying,
				NextAttemptAt: &next, At: b.now,
			},
		},
	})
	require.NoError(t, err)
	var full, lean []domain.Recorded
	require.Eventually(t, func() bool {
		full, err = eventstore.ReadLog(ctx, b.pool, domain.LogPosition{}, 10)
		require.NoError(t, err)
		lean, err = eventstore.ReadLogLean(ctx, b.pool, domain.LogPosition{}, 10)
		require.NoError(t, err)
		return len(full) == 2 && len(lean) == 2
	}, 10*time.Second, time.Millisecond)
	for i := range full {
		require.Equal(t, domain.PositionOf(full[i]), domain.PositionOf(lean[i]))
		require.Equal(t, full[i].StreamID, lean[i].StreamID)
		require.Equal(t, full[i].Version, lean[i].Version)
		require.Nil(t, lean[i].Metadata)
	}
	require.JSONEq(t, string(full[0].Data), string(lean[0].Data), "other events keep their data")
	f, err := domain.DecodeAttemptFacts(lean[1].Data)
	require.NoError(t, err)
	want, err := domain.DecodeAttemptFacts(full[1].Data)
	require.NoError(t, err)
	require.Equal(t, want, f)
	require.NotContains(t, string(lean[1].Data), "busy")
	require.NotContains(t, string(lean[1].Data), "request_headers")
}
