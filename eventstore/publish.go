package eventstore

import (
	"context"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Publish writes an event into the outbox in a transaction of its own: one
// statement (lokihooks_publish), so one round trip instead of the three of
// BEGIN, PublishTx and COMMIT. q is a pool or a connection outside a
// transaction (inside one, the event commits with it, as with PublishTx).
// It returns the event id; errors are those of PublishTx.
func Publish(ctx context.Context, q Querier, p PublishParams) (domain.EventID, error) {
	data, meta, err := encodePublish(ctx, p)
	if err != nil {
		return "", err
	}
	var id string
	if err := q.QueryRow(ctx, publishSQL, p.Type, data, p.ID, meta).Scan(&id); err != nil {
		return "", publishError(p, err)
	}
	return domain.EventID(id), nil
}
