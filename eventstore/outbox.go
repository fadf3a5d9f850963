package eventstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

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
	data, meta, err := encodePublish(ctx, p)
	if err != nil {
		return "", err
	}
	var id string
	if err := tx.QueryRow(ctx, publishSQL, p.Type, data, p.ID, meta).Scan(&id); err != nil {
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
			return fmt.Errorf("publish %s: event id %q was already published with different content: %w", p.Type, p.ID, domain.ErrConflict)
		}
	}
	return fmt.Errorf("publish %s: %w", p.Type, err)
}

const startStreams = `INSERT INTO events (stream_id, stream_type, version, type, data, metadata)
	SELECT u.stream_id, $1, 1, u.type, u.data::jsonb, u.metadata::jsonb
	FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(stream_id, type, data, metadata)
	ON CONFLICT ON CONSTRAINT events_stream_version_key DO NOTHING
	RETURNING stream_id`

// StartStreamsSQLTx appends the first event of each stream that does not
// exist yet, in one statement on a database/sql transaction, and returns the
// ids of the streams it started. Streams that already exist are skipped, so
// running it twice for the same streams appends once.
func (s *Store) StartStreamsSQLTx(ctx context.Context, tx *sql.Tx, streamType string, streams []domain.NewStream) ([]string, error) {
	if len(streams) == 0 {
		return nil, nil
	}
	ids := make([]string, len(streams))
	types := make([]string, len(streams))
	datas := make([]string, len(streams))
	metas := make([]string, len(streams))
	for i, st := range streams {
		data, err := json.Marshal(st.Event)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", st.Event.EventType(), err)
		}
		meta, err := json.Marshal(s.metadata(ctx, st.Metadata))
		if err != nil {
			return nil, fmt.Errorf("encode metadata: %w", err)
		}
		ids[i], types[i], datas[i], metas[i] = st.ID, st.Event.EventType(), string(data), string(meta)
	}
	rows, err := tx.QueryContext(ctx, startStreams, streamType, ids, types, datas, metas)
	if err != nil {
		return nil, fmt.Errorf("start %d %s streams: %w", len(streams), streamType, err)
	}
	defer rows.Close()
	started := make([]string, 0, len(streams))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("start streams: %w", err)
		}
		started = append(started, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("start streams: %w", err)
	}
	return started, nil
}

// AppendStreamTx is AppendTx with positional arguments, the shape the relay
// declares.
func (s *Store) AppendStreamTx(ctx context.Context, tx pgx.Tx, streamID, streamType string, expected int64,
	meta map[string]string, events ...domain.Event,
) ([]domain.Recorded, error) {
	return s.AppendTx(ctx, tx, AppendParams{
		StreamID: streamID, StreamType: streamType, ExpectedVersion: expected, Events: events, Metadata: meta,
	})
}

const (
	claimIdempotencyKey = `INSERT INTO idempotency_keys (key, request_hash, event_id) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO NOTHING RETURNING event_id`
	selectIdempotencyKey = `SELECT request_hash, event_id FROM idempotency_keys WHERE key = $1`
)

// PublishIdempotent publishes in its own transaction, remembering key: a
// request repeated with the same key and the same content returns the first
// event id with replayed true; the same key with other content is an error
// matching domain.ErrConflict. Concurrent requests with one key serialise on
// the key's row. An empty key publishes plainly.
func PublishIdempotent(ctx context.Context, pool interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, key string, p PublishParams,
) (id domain.EventID, replayed bool, err error) {
	data, _, err := encodePublish(ctx, PublishParams{Type: p.Type, Data: p.Data})
	if err != nil {
		return "", false, err
	}
	hash := requestHash(p, data) // before an id is generated: it is not part of the request
	if p.ID == "" {
		p.ID = domain.NewID(domain.EventIDPrefix, time.Now())
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if key != "" {
			var claimed string
			err := tx.QueryRow(ctx, claimIdempotencyKey, key, hash, p.ID).Scan(&claimed)
			if errors.Is(err, pgx.ErrNoRows) {
				var prevHash, prevID string
				if err := tx.QueryRow(ctx, selectIdempotencyKey, key).Scan(&prevHash, &prevID); err != nil {
					return fmt.Errorf("read idempotency key: %w", err)
				}
				if prevHash != hash {
					return fmt.Errorf("idempotency key reused with a different request: %w", domain.ErrConflict)
				}
				id, replayed = domain.EventID(prevID), true
				return nil
			}
			if err != nil {
				return fmt.Errorf("claim idempotency key: %w", err)
			}
		}
		var err error
		id, err = PublishTx(ctx, tx, p)
		return err
	})
	if err != nil {
		return "", false, err
	}
	return id, replayed, nil
}

// requestHash identifies a publish request's content.
func requestHash(p PublishParams, data []byte) string {
	h := sha256.New()
	keys := make([]string, 0, len(p.Metadata))
	for k := range p.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", p.Type, p.ID, data)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\x00", k, p.Metadata[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendNext appends one event to each of several streams at their next
// version, in one statement. Two writers racing on one stream make it fail
// with a unique violation (a ConflictError).
const appendNext = `INSERT INTO events (stream_id, stream_type, version, type, data, metadata)
	SELECT u.stream_id, u.stream_type,
		coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = u.stream_id), 0) + 1,
		u.type, u.data::jsonb, u.metadata::jsonb
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
		AS u(stream_id, stream_type, type, data, metadata)`

// AppendNextTx appends each event at the next version of its stream, all
// in one statement on the caller's transaction. Streams must be distinct.
// Inline projectors do not run: use it for streams they don't read.
func (s *Store) AppendNextTx(ctx context.Context, tx pgx.Tx, events []domain.NewStream, streamType string) error {
	if len(events) == 0 {
		return nil
	}
	ids := make([]string, len(events))
	types := make([]string, len(events))
	kinds := make([]string, len(events))
	datas := make([]string, len(events))
	metas := make([]string, len(events))
	for i, e := range events {
		data, err := json.Marshal(e.Event)
		if err != nil {
			return fmt.Errorf("encode %s: %w", e.Event.EventType(), err)
		}
		meta, err := json.Marshal(s.metadata(ctx, e.Metadata))
		if err != nil {
			return fmt.Errorf("encode metadata: %w", err)
		}
		ids[i], types[i], kinds[i], datas[i], metas[i] = e.ID, streamType, e.Event.EventType(), string(data), string(meta)
	}
	if _, err := tx.Exec(ctx, appendNext, ids, types, kinds, datas, metas); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == sqlstateUniqueViolation {
			return &domain.ConflictError{StreamID: pgErr.Detail, Expected: ExpectAny}
		}
		return fmt.Errorf("append %d events: %w", len(events), err)
	}
	return nil
}
