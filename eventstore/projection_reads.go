package eventstore

import (
	"context"
	"fmt"
	"strconv"

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

// readLogLean is readLog without the metadata and without the bulky parts
// of attempt events (headers and response body), as text so that nothing
// re-validates it. ORDER BY names the table's columns (see readLog).
const readLogLean = `SELECT position, transaction_id::text, stream_id, version, type,
		CASE WHEN type = 'delivery.attempted.v1'
			THEN data - 'request_headers' - 'response_headers' - 'response_body'
			ELSE data END::text,
		recorded_at
	FROM events
	WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
	  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY events.transaction_id, events.position
	LIMIT $3`

// ReadLogLean is ReadLog for projections that read counts and outcomes
// only (analytics): the events come without Metadata, and the data of
// delivery.attempted.v1 events without request_headers, response_headers
// and response_body, which make up most of an attempt's size. Same order,
// same visibility rule, same positions as ReadLog.
func ReadLogLean(ctx context.Context, q Querier, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
	rows, err := q.Query(ctx, readLogLean, strconv.FormatUint(after.TransactionID, 10), after.Position, limit)
	if err != nil {
		return nil, fmt.Errorf("read log after %d/%d: %w", after.TransactionID, after.Position, err)
	}
	defer rows.Close()
	out := make([]domain.Recorded, 0, limit)
	for rows.Next() {
		var r domain.Recorded
		var txid string
		var data []byte
		if err := rows.Scan(&r.Position, &txid, &r.StreamID, &r.Version, &r.Type, &data, &r.RecordedAt); err != nil {
			return nil, fmt.Errorf("read log: %w", err)
		}
		if r.TransactionID, err = strconv.ParseUint(txid, 10, 64); err != nil {
			return nil, fmt.Errorf("parse transaction id %q: %w", txid, err)
		}
		r.Data = data
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return out, nil
}
