package eventstore

import (
	"context"
	"fmt"

	"github.com/loki-interceptor/lokihooks/domain"
)

// selectFirst reads the first event of each stream through the unique index
// on (stream_id, version).
const selectFirst = `SELECT position, transaction_id::text, stream_id, version, type, data, metadata, recorded_at
	FROM events WHERE stream_id = ANY($1::text[]) AND version = 1`

// ReadFirst returns the first event (version 1) of each of the given
// streams that exists, in no particular order. Projections keyed by what a
// stream's first event says (the destination of a delivery) use it for
// streams whose first event an earlier batch applied.
func ReadFirst(ctx context.Context, q Querier, streamIDs []string) ([]domain.Recorded, error) {
	rows, err := q.Query(ctx, selectFirst, streamIDs)
	if err != nil {
		return nil, fmt.Errorf("read first events of %d streams: %w", len(streamIDs), err)
	}
	recs, err := scanRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("read first events of %d streams: %w", len(streamIDs), err)
	}
	return recs, nil
}
