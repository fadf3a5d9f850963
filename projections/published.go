package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/loki-interceptor/lokihooks/domain"
)

// DefaultPublishedEventsLimit is the page size of ListPublishedEvents when
// the filter's Limit is zero or negative.
const DefaultPublishedEventsLimit = 100

const (
	// An event's data is the "data" member of its body (bodyData), the one
	// copy stored.
	publishedColumns = `seq, id, type, body, metadata, published_at, schema_violations`
	selectPublished  = `SELECT ` + publishedColumns + ` FROM published_events WHERE id = $1`
	// The listings walk published_events_type_seq_idx and the unique index
	// on seq, forwards or backwards. $2 (the cursor) is 0 on the first page.
	listPublishedByType = `SELECT ` + publishedColumns + ` FROM published_events
		WHERE ($1 = '' OR type = $1) AND seq > $2 ORDER BY seq LIMIT $3`
	listPublishedByTypeDesc = `SELECT ` + publishedColumns + ` FROM published_events
		WHERE ($1 = '' OR type = $1) AND ($2 = 0 OR seq < $2) ORDER BY seq DESC LIMIT $3`
	selectPublishedBody = `SELECT body FROM published_events WHERE id = $1`
)

// GetPublishedEvent returns an event published through lokihooks_publish;
// an unknown id returns an error matching domain.ErrNotFound.
func GetPublishedEvent(ctx context.Context, db DB, id domain.EventID) (*domain.PublishedEvent, error) {
	rows, err := db.Query(ctx, selectPublished, string(id))
	if err != nil {
		return nil, fmt.Errorf("get published event %s: %w", id, err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanPublished)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("published event %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get published event %s: %w", id, err)
	}
	return &e, nil
}

// ListPublishedEvents returns one page of published events, newest first
// (or in publication order when f.Ascending), optionally of one type.
// f.AfterSeq continues after the previous page; f.Limit <= 0 means
// DefaultPublishedEventsLimit.
func ListPublishedEvents(ctx context.Context, db DB, f domain.PublishedEventFilter) ([]domain.PublishedEvent, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPublishedEventsLimit
	}
	q := listPublishedByTypeDesc
	if f.Ascending {
		q = listPublishedByType
	}
	rows, err := db.Query(ctx, q, f.Type, f.AfterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list published events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanPublished)
	if err != nil {
		return nil, fmt.Errorf("list published events: %w", err)
	}
	return out, nil
}

// PublishedBody returns the exact bytes delivered to receivers for an
// event ({"id","type","timestamp","data"}); an unknown id returns an error
// matching domain.ErrNotFound.
func PublishedBody(ctx context.Context, db DB, id domain.EventID) ([]byte, error) {
	var body []byte
	err := db.QueryRow(ctx, selectPublishedBody, string(id)).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("published event %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get body of published event %s: %w", id, err)
	}
	return body, nil
}

func scanPublished(row pgx.CollectableRow) (domain.PublishedEvent, error) {
	var e domain.PublishedEvent
	var body, violations []byte
	err := row.Scan(&e.Seq, &e.ID, &e.Type, &body, &e.Metadata, &e.PublishedAt, &violations)
	if err != nil {
		return e, err
	}
	if e.Data, err = bodyData(body); err != nil {
		return e, fmt.Errorf("body of published event %s: %w", e.ID, err)
	}
	e.PublishedAt = e.PublishedAt.UTC()
	if violations != nil {
		if err := json.Unmarshal(violations, &e.SchemaViolations); err != nil {
			return e, fmt.Errorf("schema violations of published event %s: %w", e.ID, err)
		}
	}
	return e, nil
}
