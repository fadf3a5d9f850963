package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/loki-interceptor/lokihooks/domain"
)

// DB is satisfied by *pgxpool.Pool and pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Webhooks is the webhooks read model. It runs inline: the event store calls
// Project inside every append transaction, so a created webhook is readable
// as soon as the command returns, and uniqueness of name and url is enforced
// by the read model's indexes in that same transaction.
type Webhooks struct{}

const (
	webhookColumns = `id, name, url, secret, previous_secrets, status, status_reason, event_types,
		retry_strategy, max_retries, retry_delay_seconds, max_delay_seconds, backoff_multiplier,
		jitter_enabled, timeout_seconds, rate_limit_per_minute, rate_limit_per_hour,
		custom_headers, metadata, created_at, updated_at, last_triggered_at, version`
	selectWebhook   = `SELECT ` + webhookColumns + ` FROM webhooks WHERE id = $1`
	selectForUpdate = selectWebhook + ` FOR UPDATE`
	upsertWebhook   = `INSERT INTO webhooks (` + webhookColumns + `)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23)
		ON CONFLICT (id) DO UPDATE SET
			name = excluded.name, url = excluded.url, secret = excluded.secret,
			previous_secrets = excluded.previous_secrets, status = excluded.status,
			status_reason = excluded.status_reason, event_types = excluded.event_types,
			retry_strategy = excluded.retry_strategy, max_retries = excluded.max_retries,
			retry_delay_seconds = excluded.retry_delay_seconds, max_delay_seconds = excluded.max_delay_seconds,
			backoff_multiplier = excluded.backoff_multiplier, jitter_enabled = excluded.jitter_enabled,
			timeout_seconds = excluded.timeout_seconds, rate_limit_per_minute = excluded.rate_limit_per_minute,
			rate_limit_per_hour = excluded.rate_limit_per_hour, custom_headers = excluded.custom_headers,
			metadata = excluded.metadata, created_at = excluded.created_at, updated_at = excluded.updated_at,
			version = excluded.version`
	// listWebhooks pages by id, which sorts by creation time; $3 is the
	// cursor ('' on the first page).
	listWebhooksFilter = `SELECT ` + webhookColumns + ` FROM webhooks
		WHERE ($1 = '' AND status <> 'deleted' OR status = $1)
		  AND ($2 = '' OR $2 = ANY(event_types) OR '*' = ANY(event_types))`
	listWebhooksAsc  = listWebhooksFilter + ` AND id > $3 ORDER BY id LIMIT $4`
	listWebhooksDesc = listWebhooksFilter + ` AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4`
)

// Project implements the event store's inline projector.
func (Webhooks) Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error {
	for _, r := range events {
		if !strings.HasPrefix(r.Type, "webhook.") {
			continue
		}
		if err := applyWebhook(ctx, tx, r); err != nil {
			return err
		}
	}
	return nil
}

// applyWebhook folds one event into its row, skipping events the row has
// already seen. A savepoint keeps a uniqueness violation from aborting the
// caller's transaction, so it can be reported as domain.ErrConflict.
func applyWebhook(ctx context.Context, tx pgx.Tx, r domain.Recorded) error {
	e, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return fmt.Errorf("project webhook %s: %w", r.StreamID, err)
	}
	w, err := scanWebhook(tx.QueryRow(ctx, selectForUpdate, r.StreamID))
	switch {
	case errors.Is(err, domain.ErrNotFound):
		w = &domain.Webhook{}
	case err != nil:
		return fmt.Errorf("project webhook %s: %w", r.StreamID, err)
	case r.Version <= w.Version:
		return nil
	}
	w.Apply(e, r.Version)
	return pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		_, err := sp.Exec(ctx, upsertWebhook, webhookArgs(w)...)
		return uniqueError(err, w)
	})
}

func uniqueError(err error, w *domain.Webhook) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		if err != nil {
			return fmt.Errorf("upsert webhook %s: %w", w.ID, err)
		}
		return nil
	}
	switch pgErr.ConstraintName {
	case "webhooks_name_key":
		return &FieldConflictError{Field: "name", Value: w.Spec.Name}
	case "webhooks_url_key":
		return &FieldConflictError{Field: "url", Value: w.Spec.URL}
	}
	return fmt.Errorf("upsert webhook %s: %w", w.ID, domain.ErrConflict)
}

// FieldConflictError reports a value another webhook (or integration)
// already uses. It matches domain.ErrConflict.
type FieldConflictError struct {
	Field string
	Value string
	// Of names what holds the value: "webhook" when empty, or
	// "integration".
	Of string
}

func (e *FieldConflictError) Error() string {
	of := e.Of
	if of == "" {
		of = "webhook"
	}
	return fmt.Sprintf("%s %q is already used by another %s", e.Field, e.Value, of)
}

// Is reports whether target is domain.ErrConflict.
func (e *FieldConflictError) Is(target error) bool { return target == domain.ErrConflict }

func webhookArgs(w *domain.Webhook) []any {
	prev := w.PreviousSecrets
	if prev == nil {
		prev = []domain.PreviousSecret{}
	}
	headers := storedHeaders(w.Spec)
	meta := w.Spec.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	return []any{
		string(w.ID), w.Spec.Name, w.Spec.URL, w.Secret, prev, string(w.Status), w.StatusReason,
		w.Spec.EventTypes, string(w.Spec.RetryStrategy), w.Spec.MaxRetries, w.Spec.RetryDelaySeconds,
		w.Spec.MaxDelaySeconds, w.Spec.BackoffMultiplier, w.Spec.JitterEnabled, w.Spec.TimeoutSeconds,
		w.Spec.RateLimitPerMinute, w.Spec.RateLimitPerHour, headers, meta, w.CreatedAt, w.UpdatedAt,
		w.LastTriggeredAt, w.Version,
	}
}

// storedHeader is a custom header listed in secret_headers, in the
// custom_headers column, which maps each header name to its value (a
// string) or, for a listed header, to this object. The column needs no
// migration, and rows written before secret headers existed read as they
// are.
type storedHeader struct {
	Value  string `json:"value"`
	Secret bool   `json:"secret"`
}

func storedHeaders(s domain.WebhookSpec) map[string]any {
	out := make(map[string]any, len(s.CustomHeaders))
	for name, value := range s.CustomHeaders {
		if slices.ContainsFunc(s.SecretHeaders, func(l string) bool { return strings.EqualFold(l, name) }) {
			out[name] = storedHeader{Value: value, Secret: true}
		} else {
			out[name] = value
		}
	}
	return out
}

// readHeaders sets s.CustomHeaders and s.SecretHeaders from the
// custom_headers column.
func readHeaders(raw []byte, s *domain.WebhookSpec) error {
	var stored map[string]json.RawMessage
	if err := json.Unmarshal(raw, &stored); err != nil {
		return err
	}
	s.CustomHeaders = make(map[string]string, len(stored))
	for name, v := range stored {
		var sh storedHeader
		if err := json.Unmarshal(v, &sh.Value); err == nil {
			s.CustomHeaders[name] = sh.Value
			continue
		}
		if err := json.Unmarshal(v, &sh); err != nil {
			return fmt.Errorf("custom header %s: %w", name, err)
		}
		s.CustomHeaders[name] = sh.Value
		if sh.Secret {
			s.SecretHeaders = append(s.SecretHeaders, name)
		}
	}
	slices.Sort(s.SecretHeaders)
	return nil
}

func scanWebhook(row pgx.Row, extra ...any) (*domain.Webhook, error) {
	var w domain.Webhook
	var id, status, strategy string
	var prev, headers, meta []byte
	dest := []any{
		&id, &w.Spec.Name, &w.Spec.URL, &w.Secret, &prev, &status, &w.StatusReason,
		&w.Spec.EventTypes, &strategy, &w.Spec.MaxRetries, &w.Spec.RetryDelaySeconds,
		&w.Spec.MaxDelaySeconds, &w.Spec.BackoffMultiplier, &w.Spec.JitterEnabled, &w.Spec.TimeoutSeconds,
		&w.Spec.RateLimitPerMinute, &w.Spec.RateLimitPerHour, &headers, &meta, &w.CreatedAt, &w.UpdatedAt,
		&w.LastTriggeredAt, &w.Version,
	}
	err := row.Scan(append(dest, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	w.ID, w.Status, w.Spec.RetryStrategy = domain.WebhookID(id), domain.WebhookStatus(status), domain.RetryStrategy(strategy)
	if err := errors.Join(json.Unmarshal(prev, &w.PreviousSecrets), readHeaders(headers, &w.Spec),
		json.Unmarshal(meta, &w.Spec.Metadata)); err != nil {
		return nil, fmt.Errorf("decode webhook %s: %w", id, err)
	}
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	if w.LastTriggeredAt != nil {
		t := w.LastTriggeredAt.UTC()
		w.LastTriggeredAt = &t
	}
	return &w, nil
}

// GetWebhook returns a webhook by id; deleted webhooks are reported as
// domain.ErrNotFound.
func GetWebhook(ctx context.Context, db DB, id domain.WebhookID) (*domain.Webhook, error) {
	w, err := WebhookAnyStatus(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if w.Status == domain.WebhookStatusDeleted {
		return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrNotFound)
	}
	return w, nil
}

// ListWebhooks returns one page of webhooks, newest first (or oldest first
// when f.Ascending) by id, which sorts by creation time.
func ListWebhooks(ctx context.Context, db DB, f domain.WebhookFilter) ([]domain.Webhook, error) {
	q := listWebhooksDesc
	if f.Ascending {
		q = listWebhooksAsc
	}
	rows, err := db.Query(ctx, q, string(f.Status), f.EventType, string(f.After), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []domain.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		out = append(out, *w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return out, nil
}

// foldStreams reads every stream of streamType in (stream, version) order,
// rebuildChunk events at a time, and hands each whole stream to apply, so
// that a rebuild writes each aggregate once, in its final state. It returns
// the number of events read.
func foldStreams(ctx context.Context, tx pgx.Tx, read StreamReadFunc, streamType string, apply func(stream []domain.Recorded) error) (int, error) {
	n := 0
	var stream []domain.Recorded
	flush := func() error {
		if len(stream) == 0 {
			return nil
		}
		err := apply(stream)
		stream = stream[:0]
		return err
	}
	afterStream, afterVersion := "", int64(0)
	for {
		recs, err := read(ctx, tx, streamType, afterStream, afterVersion, rebuildChunk)
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			if len(stream) > 0 && stream[0].StreamID != r.StreamID {
				if err := flush(); err != nil {
					return n, err
				}
			}
			stream = append(stream, r)
		}
		n += len(recs)
		if len(recs) < rebuildChunk {
			break
		}
		last := recs[len(recs)-1]
		afterStream, afterVersion = last.StreamID, last.Version
	}
	return n, flush()
}

// StreamReadFunc returns up to limit events of the streams of one type,
// ordered by (stream id, version), after (afterStream, afterVersion):
// eventstore.ReadStreams, which cmd wires in.
type StreamReadFunc func(ctx context.Context, q DB, streamType, afterStream string, afterVersion int64, limit int) ([]domain.Recorded, error)

// rebuildChunk is how many events RebuildWebhooks reads per query.
const rebuildChunk = 1000

// RebuildWebhooks throws the webhooks read model away and rebuilds it from
// the webhook streams themselves, in one transaction, and returns the
// number of events read.
//
// It reads the committed events of webhook streams only (an index holds
// them apart from the delivery events), so it neither depends on the log's
// visibility horizon nor scans deliveries: its exclusive lock on webhooks,
// which pauses the fan-out and the workers, lasts as long as reading the
// webhook events takes. A webhook command still running when it starts is
// waited for and included; one that starts later waits and then applies on
// top of the rebuilt row. Each stream is folded to its final state before
// it is written, so uniqueness of names and URLs holds at every step.
// last_triggered_at, which comes from the delivery events, is kept.
func RebuildWebhooks(ctx context.Context, tx pgx.Tx, read StreamReadFunc) (int, error) {
	const keep = `CREATE TEMP TABLE webhooks_triggered ON COMMIT DROP AS SELECT id, last_triggered_at FROM webhooks`
	const restore = `UPDATE webhooks w SET last_triggered_at = t.last_triggered_at
		FROM webhooks_triggered t WHERE w.id = t.id`
	if _, err := tx.Exec(ctx, `LOCK TABLE webhooks IN ACCESS EXCLUSIVE MODE`); err != nil {
		return 0, fmt.Errorf("lock webhooks: %w", err)
	}
	if _, err := tx.Exec(ctx, keep); err != nil {
		return 0, fmt.Errorf("keep last_triggered_at: %w", err)
	}
	if _, err := tx.Exec(ctx, `TRUNCATE webhooks`); err != nil {
		return 0, fmt.Errorf("reset webhooks: %w", err)
	}
	n, err := foldStreams(ctx, tx, read, domain.WebhookStreamType, func(stream []domain.Recorded) error {
		w, err := domain.ReplayWebhook(stream)
		if err != nil || !w.Exists() {
			return err
		}
		_, err = tx.Exec(ctx, upsertWebhook, webhookArgs(w)...)
		return uniqueError(err, w)
	})
	if err != nil {
		return n, err
	}
	if _, err := tx.Exec(ctx, restore); err != nil {
		return n, fmt.Errorf("restore last_triggered_at: %w", err)
	}
	return n, nil
}
