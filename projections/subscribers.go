package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/loki-interceptor/lokihooks/domain"
)

// matchSubscribers joins a batch of events with the destinations, webhooks
// and integrations, that are active or paused and subscribed to each
// event's type. (A paused destination's deliveries are scheduled and held
// until it resumes.) An integration's kind is its integration_type.
const matchSubscribers = `WITH e AS (SELECT * FROM unnest($1::text[], $2::text[]) AS e(id, type))
	SELECT e.id, e.type, w.id, 'webhook'
	FROM e JOIN webhooks w ON w.status IN ('active', 'paused')
	 AND (e.type = ANY(w.event_types) OR '*' = ANY(w.event_types))
	UNION ALL
	SELECT e.id, e.type, i.id, i.integration_type
	FROM e JOIN integrations i ON i.status IN ('active', 'paused')
	 AND (e.type = ANY(i.event_types) OR '*' = ANY(i.event_types))
	ORDER BY 1, 3`

// Subscribers answers the fan-out's question: who receives these events.
// The zero value is ready to use.
type Subscribers struct{}

// MatchSQLTx returns the (event, destination) pairs to deliver, on the
// outbox consumer's database/sql transaction, ordered by event then
// destination.
func (Subscribers) MatchSQLTx(ctx context.Context, tx *sql.Tx, events []domain.EventRef) ([]domain.Subscription, error) {
	ids := make([]string, len(events))
	types := make([]string, len(events))
	for i, e := range events {
		ids[i], types[i] = string(e.ID), e.Type
	}
	rows, err := tx.QueryContext(ctx, matchSubscribers, ids, types)
	if err != nil {
		return nil, fmt.Errorf("match subscribers: %w", err)
	}
	defer rows.Close()
	var out []domain.Subscription
	for rows.Next() {
		var s domain.Subscription
		if err := rows.Scan(&s.EventID, &s.EventType, &s.DestinationID, &s.Kind); err != nil {
			return nil, fmt.Errorf("match subscribers: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("match subscribers: %w", err)
	}
	return out, nil
}

// WebhookAnyStatus returns a webhook whatever its status, deleted ones
// included (the delivery worker must see a deletion to cancel). Its
// secrets are as stored (sealed when a secrets key is configured).
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
