package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/loki-interceptor/lokihooks/domain"
)

// matchSubscribers joins a batch of events with the webhooks that are
// active or paused and subscribed to each event's type.
const matchSubscribers = `SELECT e.id, e.type, w.id
	FROM unnest($1::text[], $2::text[]) AS e(id, type)
	JOIN webhooks w ON w.status IN ('active', 'paused')
	 AND (e.type = ANY(w.event_types) OR '*' = ANY(w.event_types))
	ORDER BY e.id, w.id`

// Subscription pairs an event with a webhook that receives it.
type Subscription struct {
	EventID   domain.EventID
	EventType string
	WebhookID domain.WebhookID
}

// MatchSubscribersSQLTx returns the (event, webhook) pairs a fan-out must
// deliver, on a database/sql transaction (the outbox consumer's).
func MatchSubscribersSQLTx(ctx context.Context, tx *sql.Tx, ids, types []string) ([]Subscription, error) {
	rows, err := tx.QueryContext(ctx, matchSubscribers, ids, types)
	if err != nil {
		return nil, fmt.Errorf("match subscribers: %w", err)
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		var s Subscription
		if err := rows.Scan(&s.EventID, &s.EventType, &s.WebhookID); err != nil {
			return nil, fmt.Errorf("match subscribers: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// WebhookAnyStatus returns a webhook whatever its status, deleted ones
// included (the delivery worker must see a deletion to cancel).
func WebhookAnyStatus(ctx context.Context, db DB, id domain.WebhookID) (*domain.Webhook, error) {
	w, err := scanWebhook(db.QueryRow(ctx, selectWebhook, string(id)))
	if errors.Is(err, domain.ErrNotFound) {
		return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return w, nil
}
