package eventstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/loki-interceptor/lokihooks/domain"
)

// PublishParams describe one event for the outbox.
type PublishParams struct {
	// Type is an event type of the catalog (domain.Catalog).
	Type string
	// Data is the event's data object: a json.RawMessage, []byte of JSON, or
	// any value encoding to a JSON object.
	Data any
	// ID is the event id; generated when empty. Publishing an id again with
	// the same type and data is a no-op that returns the id.
	ID string
	// Metadata is kept with the event; the trace context of ctx is added.
	Metadata map[string]string
}

// SQLSTATEs raised by lokihooks_publish.
const (
	sqlstateUnknownEventType = "LH001"
	sqlstateInvalid          = "22023"
	sqlstateUniqueViolation  = "23505"
)

const publishSQL = `SELECT lokihooks_publish($1, $2::jsonb, NULLIF($3, ''), $4::jsonb)`

// PublishTx writes an event into the outbox on the caller's pgx transaction:
// it is delivered if and only if that transaction commits. It returns the
// event id. Errors match domain.ErrUnknownEventType, domain.ErrInvalid or
// domain.ErrConflict (same id, different content); after such an error the
// transaction is aborted, as after any failed statement.
func PublishTx(ctx context.Context, tx pgx.Tx, p PublishParams) (domain.EventID, error) {
	return Publish(ctx, tx, p)
}

// Publish writes an event into the outbox with one statement
// (lokihooks_publish) on q. On a pool or a connection outside a
// transaction, that statement is a transaction of its own: one round trip
// instead of the three of BEGIN, PublishTx and COMMIT. Inside a
// transaction, the event commits with it (PublishTx). It returns the event
// id; errors are those of PublishTx.
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

// PublishSQLTx is PublishTx for a database/sql transaction (pgx stdlib).
func PublishSQLTx(ctx context.Context, tx *sql.Tx, p PublishParams) (domain.EventID, error) {
	data, meta, err := encodePublish(ctx, p)
	if err != nil {
		return "", err
	}
	var id string
	if err := tx.QueryRowContext(ctx, publishSQL, p.Type, string(data), p.ID, string(meta)).Scan(&id); err != nil {
		return "", publishError(p, err)
	}
	return domain.EventID(id), nil
}

func encodePublish(ctx context.Context, p PublishParams) (data, meta []byte, err error) {
	switch d := p.Data.(type) {
	case json.RawMessage:
		data = d
	case []byte:
		data = d
	default:
		if data, err = json.Marshal(d); err != nil {
			return nil, nil, fmt.Errorf("encode %s data: %w: %w", p.Type, domain.ErrInvalid, err)
		}
	}
	if !json.Valid(data) {
		return nil, nil, fmt.Errorf("%s data is not valid JSON: %w", p.Type, domain.ErrInvalid)
	}
	md := make(map[string]string, len(p.Metadata)+2)
	for k, v := range p.Metadata {
		md[k] = v
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(md))
	meta, err = json.Marshal(md)
	return data, meta, err
}

func publishError(p PublishParams, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if isUnstorable(pgErr.Code) {
			return fmt.Errorf("publish %s: %s: %w", p.Type, pgErr.Message, domain.ErrInvalid)
		}
		switch pgErr.Code {
		case sqlstateUnknownEventType:
			return fmt.Errorf("publish %q: %w", p.Type, domain.ErrUnknownEventType)
		case sqlstateInvalid:
			return fmt.Errorf("publish %s: %s: %w", p.Type, pgErr.Message, domain.ErrInvalid)
		case sqlstateUniqueViolation:
			if pgErr.ConstraintName == "published_events_pkey" {
				return fmt.Errorf("publish %s: event id %q was already published with different content: %w", p.Type, p.ID, domain.ErrConflict)
			}
		}
	}
	return fmt.Errorf("publish %s: %w", p.Type, err)
}
