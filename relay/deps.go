package relay

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Sender makes one delivery attempt. *connectors.Webhook satisfies it.
type Sender interface {
	Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult
}

// Subscription is one (event, webhook) pair selected by the fan-out.
type Subscription struct {
	EventID   domain.EventID
	EventType string
	WebhookID domain.WebhookID
}

// OutboxEvent identifies one event read from the outbox.
type OutboxEvent struct {
	ID   domain.EventID
	Type string
}

// Store is the storage the relay needs. cmd/lokihooks wires it from the
// event store and the read models.
type Store interface {
	// MatchSQLTx returns, for each event, the webhooks that are active or
	// paused and subscribed to its type.
	MatchSQLTx(ctx context.Context, tx *sql.Tx, events []OutboxEvent) ([]Subscription, error)
	// StartStreamsSQLTx appends the first event of each stream that does not
	// exist yet and returns the ids it started.
	StartStreamsSQLTx(ctx context.Context, tx *sql.Tx, streamType string, streams []domain.NewStream) ([]string, error)
	// Webhook returns a webhook, deleted ones included (domain.ErrNotFound
	// if it never existed).
	Webhook(ctx context.Context, id domain.WebhookID) (*domain.Webhook, error)
	// EventBody returns the exact body of a published event.
	EventBody(ctx context.Context, id domain.EventID) ([]byte, error)
	// AppendStreamTx appends events to a stream on a pgx transaction.
	AppendStreamTx(ctx context.Context, tx pgx.Tx, streamID, streamType string, expected int64,
		meta map[string]string, events ...domain.Event) ([]domain.Recorded, error)
	// AppendNextTx appends one event to each of several distinct streams at
	// their next version, in one statement.
	AppendNextTx(ctx context.Context, tx pgx.Tx, events []domain.NewStream, streamType string) error
	// LoadStreamTx returns a stream's history (domain.ErrNotFound if none).
	LoadStreamTx(ctx context.Context, tx pgx.Tx, streamID string) ([]domain.Recorded, error)
}
