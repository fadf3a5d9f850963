package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/loki-interceptor/lokihooks/domain"
)

// ExpectAny appends without checking the stream's version.
const ExpectAny int64 = -1

// Projector is a read model updated in the same transaction as an append.
// Project receives the events just appended (in order) and must be
// idempotent.
type Projector interface {
	Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error
}

// Config configures a Store. The zero value is usable.
type Config struct {
	// Projectors run inside every append transaction, in order.
	Projectors []Projector
	// Propagator injects trace context into event metadata (default: the
	// otel global propagator).
	Propagator propagation.TextMapPropagator
	// Logger receives diagnostics (default: discard).
	Logger *slog.Logger
}

// Store is the event log. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool, cfg Config) *Store {
	if cfg.Propagator == nil {
		cfg.Propagator = otel.GetTextMapPropagator()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, cfg: cfg}
}

// AppendParams describe events to append to one stream.
type AppendParams struct {
	StreamID   string
	StreamType string
	// ExpectedVersion is the stream's current version (0 for a new stream) or
	// ExpectAny.
	ExpectedVersion int64
	Events          []domain.Event
	// Metadata is stored with every event; trace context from ctx is added.
	Metadata map[string]string
}

const (
	insertEvent = `INSERT INTO events (stream_id, stream_type, version, type, data, metadata)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING position, transaction_id::text, recorded_at`
	// insertEventAny computes the next version itself; a concurrent writer
	// makes it fail with a unique violation, reported as a conflict.
	insertEventAny = `INSERT INTO events (stream_id, stream_type, version, type, data, metadata)
		SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5 FROM events WHERE stream_id = $1
		RETURNING position, transaction_id::text, recorded_at, version`
	selectStream = `SELECT position, transaction_id::text, stream_id, version, type, data, metadata, recorded_at
		FROM events WHERE stream_id = $1 ORDER BY version`
	selectVersion = `SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1`
)

// Append appends events in their own transaction, running the projectors.
func (s *Store) Append(ctx context.Context, p AppendParams) ([]domain.Recorded, error) {
	var out []domain.Recorded
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.AppendTx(ctx, tx, p)
		return err
	})
	return out, err
}

// AppendTx appends events on the caller's transaction and runs the
// projectors on it. A version clash returns *domain.ConflictError (matching
// domain.ErrVersionConflict); the transaction is then aborted.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, p AppendParams) ([]domain.Recorded, error) {
	if len(p.Events) == 0 {
		return nil, nil
	}
	meta := s.metadata(ctx, p.Metadata)
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	out := make([]domain.Recorded, 0, len(p.Events))
	for i, e := range p.Events {
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		rec := domain.Recorded{StreamID: p.StreamID, Type: e.EventType(), Data: data, Metadata: meta}
		var txid string
		if p.ExpectedVersion == ExpectAny {
			err = tx.QueryRow(ctx, insertEventAny, p.StreamID, p.StreamType, rec.Type, data, metaJSON).
				Scan(&rec.Position, &txid, &rec.RecordedAt, &rec.Version)
		} else {
			rec.Version = p.ExpectedVersion + int64(i) + 1
			err = tx.QueryRow(ctx, insertEvent, p.StreamID, p.StreamType, rec.Version, rec.Type, data, metaJSON).
				Scan(&rec.Position, &txid, &rec.RecordedAt)
		}
		if err != nil {
			return nil, s.appendError(ctx, p, err)
		}
		if rec.TransactionID, err = strconv.ParseUint(txid, 10, 64); err != nil {
			return nil, fmt.Errorf("parse transaction id %q: %w", txid, err)
		}
		out = append(out, rec)
	}
	for _, pr := range s.cfg.Projectors {
		if err := pr.Project(ctx, tx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// appendError translates a failed insert. The transaction is aborted, so the
// actual version is read on a separate connection.
func (s *Store) appendError(ctx context.Context, p AppendParams, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key" {
		var actual int64
		if qerr := s.pool.QueryRow(ctx, selectVersion, p.StreamID).Scan(&actual); qerr != nil {
			actual = -1
		}
		return &domain.ConflictError{StreamID: p.StreamID, Expected: p.ExpectedVersion, Actual: actual}
	}
	if errors.As(err, &pgErr) && isUnstorable(pgErr.Code) {
		return fmt.Errorf("append to stream %s: %s: %w", p.StreamID, pgErr.Message, domain.ErrInvalid)
	}
	return fmt.Errorf("append to stream %s: %w", p.StreamID, err)
}

// isUnstorable reports PostgreSQL's refusals of text it cannot hold (a NUL
// character, invalid UTF-8): bad input, never a server fault.
func isUnstorable(code string) bool {
	return code == "22021" /* character_not_in_repertoire */ || code == "22P05" /* untranslatable_character */
}

// metadata merges caller metadata with the trace context of ctx.
func (s *Store) metadata(ctx context.Context, in map[string]string) map[string]string {
	out := make(map[string]string, len(in)+2)
	for k, v := range in {
		out[k] = v
	}
	s.cfg.Propagator.Inject(ctx, propagation.MapCarrier(out))
	return out
}

// Querier is satisfied by *pgxpool.Pool, *pgx.Conn and pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Load returns a stream's events in version order; an unknown stream returns
// domain.ErrNotFound.
func (s *Store) Load(ctx context.Context, streamID string) ([]domain.Recorded, error) {
	return LoadTx(ctx, s.pool, streamID)
}

// LoadTx is Load on the caller's transaction or connection.
func LoadTx(ctx context.Context, q Querier, streamID string) ([]domain.Recorded, error) {
	rows, err := q.Query(ctx, selectStream, streamID)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, err)
	}
	recs, err := scanRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("stream %s: %w", streamID, domain.ErrNotFound)
	}
	return recs, nil
}

func scanRecords(rows pgx.Rows) ([]domain.Recorded, error) {
	defer rows.Close()
	var out []domain.Recorded
	for rows.Next() {
		var r domain.Recorded
		var txid string
		var meta []byte
		if err := rows.Scan(&r.Position, &txid, &r.StreamID, &r.Version, &r.Type, &r.Data, &meta, &r.RecordedAt); err != nil {
			return nil, err
		}
		var err error
		if r.TransactionID, err = strconv.ParseUint(txid, 10, 64); err != nil {
			return nil, fmt.Errorf("parse transaction id %q: %w", txid, err)
		}
		if err := json.Unmarshal(meta, &r.Metadata); err != nil {
			return nil, fmt.Errorf("decode metadata at position %d: %w", r.Position, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DecideFunc turns a stream's history (empty for a new stream) into new
// events. Returning no events appends nothing.
type DecideFunc func(history []domain.Recorded) ([]domain.Event, error)

// ExecuteParams describe one command on one stream.
type ExecuteParams struct {
	StreamID   string
	StreamType string
	// ExpectedVersion, unless ExpectAny, must equal the stream's version
	// before Decide runs (HTTP If-Match); a mismatch is a ConflictError.
	ExpectedVersion int64
	Decide          DecideFunc
	Metadata        map[string]string
}

// ExecuteResult is what Execute appended.
type ExecuteResult struct {
	// Version is the stream's version after the command.
	Version int64
	Events  []domain.Recorded
	History []domain.Recorded
}

// Execute loads a stream, decides and appends in one transaction, with the
// projectors. Concurrent commands on the same stream serialise on the
// unique (stream, version) key: the loser gets a ConflictError.
func (s *Store) Execute(ctx context.Context, p ExecuteParams) (*ExecuteResult, error) {
	var res *ExecuteResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		history, err := LoadTx(ctx, tx, p.StreamID)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			return err
		}
		current := int64(len(history))
		if p.ExpectedVersion != ExpectAny && p.ExpectedVersion != current {
			return &domain.ConflictError{StreamID: p.StreamID, Expected: p.ExpectedVersion, Actual: current}
		}
		events, err := p.Decide(history)
		if err != nil {
			return err
		}
		recs, err := s.AppendTx(ctx, tx, AppendParams{
			StreamID: p.StreamID, StreamType: p.StreamType, ExpectedVersion: current,
			Events: events, Metadata: p.Metadata,
		})
		if err != nil {
			return err
		}
		res = &ExecuteResult{Version: current + int64(len(recs)), Events: recs, History: history}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// LogPosition is a place in the global log: events are ordered by
// (TransactionID, Position).
type LogPosition struct {
	TransactionID uint64
	Position      int64
}

// Of returns the log position of a recorded event.
func Of(r domain.Recorded) LogPosition {
	return LogPosition{TransactionID: r.TransactionID, Position: r.Position}
}

// readLog returns events after a position whose transactions are older than
// every transaction still running, so that a transaction committing late
// (with a lower id) is never skipped: it holds the read back until it ends.
const readLog = `SELECT position, transaction_id::text, stream_id, version, type, data, metadata, recorded_at
	FROM events
	WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
	  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY transaction_id, position
	LIMIT $3`

// ReadLog returns up to limit events after `after`, in log order.
func ReadLog(ctx context.Context, q Querier, after LogPosition, limit int) ([]domain.Recorded, error) {
	rows, err := q.Query(ctx, readLog, strconv.FormatUint(after.TransactionID, 10), after.Position, limit)
	if err != nil {
		return nil, fmt.Errorf("read log after %d/%d: %w", after.TransactionID, after.Position, err)
	}
	recs, err := scanRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return recs, nil
}

// ReadLog is the package function on the store's pool.
func (s *Store) ReadLog(ctx context.Context, after LogPosition, limit int) ([]domain.Recorded, error) {
	return ReadLog(ctx, s.pool, after, limit)
}
