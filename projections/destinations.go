package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/loki-interceptor/lokihooks/domain"
)

// DestinationIDs returns up to limit ids of webhooks and integrations,
// deleted ones included, after after, in id order (wh_… after int_…).
func DestinationIDs(ctx context.Context, db DB, after string, limit int) ([]domain.DestinationID, error) {
	rows, err := db.Query(ctx, `SELECT id FROM (SELECT id FROM webhooks UNION ALL SELECT id FROM integrations) d
		WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[domain.DestinationID])
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	return ids, nil
}
