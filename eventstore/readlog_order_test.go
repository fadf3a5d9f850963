package eventstore_test

import (
	"testing"

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
