package eventstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/loki-interceptor/lokihooks/domain"
)

// InlineProjector is a read model kept in the append's own transaction, so
// that a command's result is readable as soon as it commits (webhooks,
// integrations). Project receives, in order, the events just appended to
// streams of StreamTypes, and must be idempotent.
type InlineProjector struct {
	StreamTypes []string
	Project     func(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error
}

// Config configures a Store. The zero value is usable.
type Config struct {
	// Inline are the read models projected inside every append transaction.
	Inline []InlineProjector
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

// appendEvents inserts the events of any number of streams in one statement
// and returns what it inserted as one JSON array, so that a *sql.Tx (one
// QueryRow) and a pgx.Tx run it alike. Per input row:
//
//   - expect >= 0 inserts only if the stream's version is exactly expect;
//   - expect = ExpectNew inserts only into a stream that does not exist;
//   - expect = ExpectAny inserts at the next version.
//
// It also refuses to append after a head event written by a younger
// transaction (a larger transaction id). The log is read in transaction-id
// order, so that append would put version n+1 before version n in the log;
// refused, the caller retries in a new transaction, whose id is younger.
// With that rule, a stream's versions appear in the log in version order.
//
// A refused or conflicting row inserts nothing (ON CONFLICT DO NOTHING), so
// the transaction stays usable and the caller learns the actual version in
// it; the caller then rolls back, which undoes the other rows.
const appendEvents = `WITH input AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::text[], $6::text[], $7::text[])
			WITH ORDINALITY AS u(stream_id, stream_type, expect, ord, type, data, metadata, n)
	),
	heads AS (
		SELECT s.stream_id, coalesce(h.version, 0) AS version, h.transaction_id
		FROM (SELECT DISTINCT stream_id FROM input) s
		LEFT JOIN LATERAL (
			SELECT e.version, e.transaction_id FROM events e
			WHERE e.stream_id = s.stream_id ORDER BY e.version DESC LIMIT 1
		) h ON true
	),
	ins AS (
		INSERT INTO events (stream_id, stream_type, version, type, data, metadata)
		SELECT i.stream_id, i.stream_type,
			CASE WHEN i.expect >= 0 THEN i.expect ELSE h.version END + i.ord,
			i.type, i.data::jsonb, i.metadata::jsonb
		FROM input i JOIN heads h USING (stream_id)
		WHERE (i.expect <> -2 OR h.version = 0)
		  AND (i.expect < 0 OR i.expect = h.version)
		  AND (h.transaction_id IS NULL OR h.transaction_id <= pg_current_xact_id())
		ORDER BY i.n
		ON CONFLICT ON CONSTRAINT events_stream_version_key DO NOTHING
		RETURNING position, transaction_id, stream_id, version, recorded_at
	)
	SELECT coalesce(json_agg(json_build_object(
		'p', position, 'x', transaction_id::text, 's', stream_id, 'v', version, 't', recorded_at) ORDER BY position), '[]')
	FROM ins`

const selectVersion = `SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1`

// row is one event of a prepared append.
type row struct {
	stream *domain.Append
	event  domain.Event
	data   []byte
	meta   map[string]string
}

// queryRower runs one statement returning one row; pgx.Tx and the
// sqlTx adapter both provide it.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// sqlTx adapts a database/sql transaction to queryRower.
type sqlTx struct{ tx *sql.Tx }

func (s sqlTx) QueryRow(ctx context.Context, q string, args ...any) pgx.Row {
	return s.tx.QueryRowContext(ctx, q, args...)
}

// Append appends to one or more streams in its own transaction; see
// AppendTx.
func (s *Store) Append(ctx context.Context, streams ...domain.Append) ([]domain.Recorded, error) {
	var out []domain.Recorded
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.AppendTx(ctx, tx, streams...)
		return err
	})
	return out, err
}

// AppendTx appends the events of one or more distinct streams in one
// statement on the caller's transaction, then runs the inline projectors of
// their stream types on it. It returns the recorded events in log order;
// streams skipped under domain.ExpectNew are absent from the result.
//
// A stream whose version is not what it expected, or that a concurrent
// transaction appended to, returns a *domain.ConflictError (matching
// domain.ErrVersionConflict). After any error the caller must roll the
// transaction back: other streams' events may have been inserted.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, streams ...domain.Append) ([]domain.Recorded, error) {
	recs, err := s.append(ctx, tx, streams)
	if err != nil || len(recs) == 0 {
		return recs, err
	}
	for _, p := range s.cfg.Inline {
		var mine []domain.Recorded
		for _, r := range recs {
			if slices.Contains(p.StreamTypes, streamType(streams, r.StreamID)) {
				mine = append(mine, r)
			}
		}
		if len(mine) > 0 {
			if err := p.Project(ctx, tx, mine); err != nil {
				return nil, err
			}
		}
	}
	return recs, nil
}

// AppendSQLTx is AppendTx on a database/sql transaction (the outbox
// consumer's). Streams of a type with an inline projector cannot be
// appended this way: it returns an error before writing anything.
func (s *Store) AppendSQLTx(ctx context.Context, tx *sql.Tx, streams ...domain.Append) ([]domain.Recorded, error) {
	for _, st := range streams {
		for _, p := range s.cfg.Inline {
			if slices.Contains(p.StreamTypes, st.StreamType) {
				return nil, fmt.Errorf("append to %s stream %s: its inline read model needs a pgx transaction", st.StreamType, st.StreamID)
			}
		}
	}
	return s.append(ctx, sqlTx{tx}, streams)
}

func streamType(streams []domain.Append, id string) string {
	for _, s := range streams {
		if s.StreamID == id {
			return s.StreamType
		}
	}
	return ""
}

func (s *Store) append(ctx context.Context, q queryRower, streams []domain.Append) ([]domain.Recorded, error) {
	rows, err := s.prepare(ctx, streams)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	n := len(rows)
	ids, types, kinds, datas, metas := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	expects, ords := make([]int64, n), make([]int32, n)
	ord := int32(0)
	for i, r := range rows {
		if i > 0 && rows[i-1].stream != r.stream {
			ord = 0
		}
		ord++
		meta, err := json.Marshal(r.meta)
		if err != nil {
			return nil, fmt.Errorf("encode metadata of stream %s: %w", r.stream.StreamID, err)
		}
		ids[i], types[i], kinds[i], datas[i], metas[i] = r.stream.StreamID, r.stream.StreamType, r.event.EventType(), string(r.data), string(meta)
		expects[i], ords[i] = r.stream.Expect, ord
	}
	var out []byte
	if err := q.QueryRow(ctx, appendEvents, ids, types, expects, ords, kinds, datas, metas).Scan(&out); err != nil {
		return nil, appendError(streams, err)
	}
	recs, err := recorded(out, rows)
	if err != nil {
		return nil, err
	}
	if err := s.checkCounts(ctx, q, streams, recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// prepare encodes the events, grouped by stream in input order, and
// rejects a stream listed twice.
func (s *Store) prepare(ctx context.Context, streams []domain.Append) ([]row, error) {
	var rows []row
	seen := make(map[string]bool, len(streams))
	for i := range streams {
		st := &streams[i]
		if seen[st.StreamID] {
			return nil, fmt.Errorf("append: stream %s listed twice", st.StreamID)
		}
		seen[st.StreamID] = true
		meta := s.metadata(ctx, st.Metadata)
		for _, e := range st.Events {
			data, err := json.Marshal(e)
			if err != nil {
				return nil, fmt.Errorf("encode %s of stream %s: %w", e.EventType(), st.StreamID, err)
			}
			rows = append(rows, row{stream: st, event: e, data: data, meta: meta})
		}
	}
	return rows, nil
}

// recorded decodes the statement's result and joins it with the input.
func recorded(out []byte, rows []row) ([]domain.Recorded, error) {
	var got []struct {
		P int64     `json:"p"`
		X string    `json:"x"`
		S string    `json:"s"`
		V int64     `json:"v"`
		T time.Time `json:"t"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, fmt.Errorf("decode appended events: %w", err)
	}
	byStream := make(map[string][]row)
	for _, r := range rows {
		byStream[r.stream.StreamID] = append(byStream[r.stream.StreamID], r)
	}
	first := make(map[string]int64) // the first version inserted per stream
	for _, g := range got {
		if v, ok := first[g.S]; !ok || g.V < v {
			first[g.S] = g.V
		}
	}
	recs := make([]domain.Recorded, len(got))
	for i, g := range got {
		txid, err := strconv.ParseUint(g.X, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse transaction id %q: %w", g.X, err)
		}
		r := byStream[g.S][g.V-first[g.S]]
		recs[i] = domain.Recorded{
			Position: g.P, StreamID: g.S, Version: g.V, Type: r.event.EventType(), Data: r.data,
			Metadata: r.meta, TransactionID: txid, RecordedAt: g.T.UTC(),
		}
	}
	return recs, nil
}

// checkCounts turns streams that got fewer events than they carried into a
// ConflictError, reading the actual version on the same transaction.
func (s *Store) checkCounts(ctx context.Context, q queryRower, streams []domain.Append, recs []domain.Recorded) error {
	got := make(map[string]int, len(streams))
	for _, r := range recs {
		got[r.StreamID]++
	}
	for _, st := range streams {
		n := got[st.StreamID]
		if n == len(st.Events) || (n == 0 && st.Expect == domain.ExpectNew) {
			continue
		}
		var actual int64
		if err := q.QueryRow(ctx, selectVersion, st.StreamID).Scan(&actual); err != nil {
			return fmt.Errorf("read version of stream %s after a conflict: %w", st.StreamID, err)
		}
		return &domain.ConflictError{StreamID: st.StreamID, Expected: st.Expect, Actual: actual}
	}
	return nil
}

// appendError translates a failed append.
func appendError(streams []domain.Append, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && isUnstorable(pgErr.Code) {
		return fmt.Errorf("append to %d streams: %s: %w", len(streams), pgErr.Message, domain.ErrInvalid)
	}
	return fmt.Errorf("append to %d streams: %w", len(streams), err)
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

const selectStream = `SELECT position, transaction_id::text, stream_id, version, type, data, metadata, recorded_at
	FROM events WHERE stream_id = $1 ORDER BY version`

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
		// Scanned as bytes: PostgreSQL has validated the jsonb already,
		// and scanning into a json.RawMessage would validate it again.
		var data, meta []byte
		if err := rows.Scan(&r.Position, &txid, &r.StreamID, &r.Version, &r.Type, &data, &meta, &r.RecordedAt); err != nil {
			return nil, err
		}
		r.Data = data
		var err error
		if r.TransactionID, err = strconv.ParseUint(txid, 10, 64); err != nil {
			return nil, fmt.Errorf("parse transaction id %q: %w", txid, err)
		}
		if r.Metadata, err = decodeMetadata(meta); err != nil {
			return nil, fmt.Errorf("decode metadata at position %d: %w", r.Position, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// decodeMetadata decodes an event's metadata; most events have none.
func decodeMetadata(b []byte) (map[string]string, error) {
	if string(b) == "{}" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// DecideFunc turns a stream's history (empty for a new stream) into new
// events. Returning no events appends nothing.
type DecideFunc func(history []domain.Recorded) ([]domain.Event, error)

// ExecuteParams describe one command on one stream.
type ExecuteParams struct {
	StreamID   string
	StreamType string
	// ExpectedVersion, unless domain.ExpectAny, must equal the stream's
	// version before Decide runs (HTTP If-Match); a mismatch is a
	// ConflictError.
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

// Execute runs a command: it loads a stream, decides and appends at the
// version it loaded, in one transaction with the inline projectors. A
// concurrent command on the same stream makes one of them fail with a
// ConflictError; retrying is the caller's choice.
func (s *Store) Execute(ctx context.Context, p ExecuteParams) (*ExecuteResult, error) {
	var res *ExecuteResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		history, err := LoadTx(ctx, tx, p.StreamID)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			return err
		}
		current := int64(len(history))
		if p.ExpectedVersion != domain.ExpectAny && p.ExpectedVersion != current {
			return &domain.ConflictError{StreamID: p.StreamID, Expected: p.ExpectedVersion, Actual: current}
		}
		events, err := p.Decide(history)
		if err != nil {
			return err
		}
		recs, err := s.AppendTx(ctx, tx, domain.Append{
			StreamID: p.StreamID, StreamType: p.StreamType, Expect: current, Events: events, Metadata: p.Metadata,
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

// readLog returns events after a position whose transactions are older than
// every transaction still running, so that a transaction committing late
// (with a lower id) is never skipped: it holds the read back until it ends.
// ORDER BY names the table's columns: a bare transaction_id would be the
// output column transaction_id::text, sorted as text ("1000" < "999"),
// which pages wrongly and defeats events_transaction_position_idx.
const readLog = `SELECT position, transaction_id::text, stream_id, version, type, data, metadata, recorded_at
	FROM events
	WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
	  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	ORDER BY events.transaction_id, events.position
	LIMIT $3`

// ReadLog returns up to limit events after `after`, in log order, on q.
func ReadLog(ctx context.Context, q Querier, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
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

// configStreams reads the configuration streams of one type from the
// partial index events_config_streams_idx, in (stream, version) order.
const configStreams = `SELECT position, transaction_id::text, stream_id, version, type, data, metadata, recorded_at
	FROM events
	WHERE stream_type = $1 AND stream_type <> 'delivery' AND (stream_id, version) > ($2, $3)
	ORDER BY stream_type, stream_id, version
	LIMIT $4`

// ReadStreams returns up to limit committed events of streams of one type
// (not "delivery"), ordered by (stream id, version), after the event
// (afterStream, afterVersion). Rebuilding a configuration read model from
// its own streams this way reads neither the delivery events nor depends
// on the log's visibility horizon.
func ReadStreams(ctx context.Context, q Querier, streamType, afterStream string, afterVersion int64, limit int) ([]domain.Recorded, error) {
	rows, err := q.Query(ctx, configStreams, streamType, afterStream, afterVersion, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s streams: %w", streamType, err)
	}
	recs, err := scanRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("read %s streams: %w", streamType, err)
	}
	return recs, nil
}
