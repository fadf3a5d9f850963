package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

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

// selectTarget reads what one attempt needs in one round trip.
var selectTarget = `SELECT ` + qualified("w", webhookColumns) + `, e.body
	FROM webhooks w, published_events e WHERE w.id = $1 AND e.id = $2`

// DeliveryTarget returns a webhook and the exact body of an event. Errors
// match domain.ErrNotFound when either is missing.
func DeliveryTarget(ctx context.Context, db DB, webhookID domain.WebhookID, eventID domain.EventID) (*domain.Webhook, []byte, error) {
	var body []byte
	w, err := scanWebhook(db.QueryRow(ctx, selectTarget, string(webhookID), string(eventID)), &body)
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("webhook %s or event %s: %w", webhookID, eventID, domain.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("delivery target %s/%s: %w", webhookID, eventID, err)
	}
	return w, body, nil
}

// qualified prefixes each column of a comma-separated list with a table alias.
func qualified(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
