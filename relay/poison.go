package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Poison defaults.
const (
	DefaultPoisonMaxTries      = 5
	DefaultPoisonRetryInterval = 5 * time.Second
	// poisonRetryMeta marks an outbox row put back by the poison retry, so
	// that its success clears the poison row.
	poisonRetryMeta = "lokihooks_poison_retry"
	maxPoisonReason = 1000
	poisonRetryRows = 100
)

// PoisonConfig tunes how the fan-out handles events it cannot schedule.
type PoisonConfig struct {
	// MaxTries is how many times an event is tried before it stays in the
	// poison table for an operator (default 5).
	MaxTries int
	// RetryInterval is how often poisoned events whose backoff passed are
	// put back into the outbox (default 5s).
	RetryInterval time.Duration
}

func (c PoisonConfig) withDefaults() PoisonConfig {
	if c.MaxTries == 0 {
		c.MaxTries = DefaultPoisonMaxTries
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultPoisonRetryInterval
	}
	return c
}

func (c PoisonConfig) validate() error {
	if c.MaxTries < 1 || c.RetryInterval < time.Millisecond {
		return errors.New("Poison.MaxTries must be at least 1 and Poison.RetryInterval at least 1ms")
	}
	return nil
}

// poison keeps the events the fan-out could not schedule in outbox_poison,
// one row per event with the reason, and puts each back into the outbox
// after a backoff until MaxTries; the events behind it flow on meanwhile.
type poison struct {
	db     *sql.DB
	cfg    PoisonConfig
	logger *slog.Logger
}

// addPoison records a failed try of an event. Its payload is the event's
// body as published (the outbox row's payload). The wait before the next
// try grows 4× per try, from 1s to at most 10 minutes (poisonBackoff).
const addPoison = `INSERT INTO outbox_poison AS p (event_id, payload, metadata, reason, tries, next_try_at)
	SELECT $1, body::json, $2::json, $3, 1, CASE WHEN $4 > 1 THEN now() + interval '1 second' END
	FROM published_events WHERE id = $1
	ON CONFLICT (event_id) DO UPDATE SET
		reason = excluded.reason, tries = p.tries + 1, last_failed_at = now(),
		next_try_at = CASE WHEN p.tries + 1 < $4
			THEN now() + make_interval(secs => least(600, power(4, p.tries))) END
	RETURNING tries`

// add records item as poisoned because of cause, on the consumer's
// transaction; the consumer then acknowledges it.
func (p *poison) add(ctx context.Context, tx *sql.Tx, it outboxItem, cause error) error {
	reason := cause.Error()
	if len(reason) > maxPoisonReason {
		reason = reason[:maxPoisonReason]
	}
	meta := map[string]string{}
	for k, v := range it.Metadata {
		if k != poisonRetryMeta {
			meta[k] = v
		}
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode metadata of poisoned event %s: %w", it.ID, err)
	}
	var tries int
	err = tx.QueryRowContext(ctx, addPoison, it.ID, string(metaJSON), storableText(reason), p.cfg.MaxTries).Scan(&tries)
	if errors.Is(err, sql.ErrNoRows) {
		// Not a published event (written into the outbox by hand): nothing
		// to deliver or to retry.
		p.logger.ErrorContext(ctx, "outbox row names no published event; skipped", "event_id", it.ID, "error", cause)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record poisoned event %s: %w", it.ID, err)
	}
	if tries >= p.cfg.MaxTries {
		p.logger.ErrorContext(ctx, "outbox event poisoned: it will not be delivered until retried by hand",
			"event_id", it.ID, "tries", tries, "error", cause)
	} else {
		p.logger.WarnContext(ctx, "outbox event could not be scheduled; events behind it go on", "event_id", it.ID,
			"tries", tries, "error", cause)
	}
	return nil
}

// clear removes the poison rows of retried events that were scheduled.
func (p *poison) clear(ctx context.Context, tx *sql.Tx, items []outboxItem) error {
	var ids []string
	for _, it := range items {
		if it.Metadata[poisonRetryMeta] != "" {
			ids = append(ids, it.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox_poison WHERE event_id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("clear %d recovered poison rows: %w", len(ids), err)
	}
	return nil
}

// republishDue puts poisoned events whose backoff passed back into the
// outbox (as a new row, read after everything already there) and marks them
// waiting for the outcome.
const republishDue = `WITH due AS (
		UPDATE outbox_poison SET next_try_at = NULL
		WHERE event_id IN (SELECT event_id FROM outbox_poison WHERE next_try_at <= now()
			ORDER BY next_try_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING event_id, payload, metadata
	)
	INSERT INTO watermill_outbox (uuid, payload, metadata, transaction_id)
	SELECT event_id, payload, (metadata::jsonb || jsonb_build_object($2::text, 'true'))::json, pg_current_xact_id()
	FROM due`

// retryLoop puts due poisoned events back into the outbox every
// RetryInterval, and calls wake when it did.
func (p *poison) retryLoop(ctx context.Context, wake func()) {
	t := time.NewTicker(p.cfg.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := p.db.ExecContext(ctx, republishDue, poisonRetryRows, poisonRetryMeta)
		if err != nil {
			if ctx.Err() == nil {
				p.logger.WarnContext(ctx, "put poisoned events back into the outbox", "error", err)
			}
			continue
		}
		if n, _ := res.RowsAffected(); n > 0 {
			wake()
		}
	}
}

// Poisoned is an outbox event the fan-out could not schedule.
type Poisoned struct {
	EventID       domain.EventID
	EventType     string
	Reason        string
	Tries         int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	// NextTryAt is when it is tried again; nil when it waits for an
	// operator (or for the outcome of a try in progress).
	NextTryAt *time.Time
}

// Querier is satisfied by *pgxpool.Pool and pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ListPoisoned returns up to limit poisoned outbox events, oldest failure
// first.
func ListPoisoned(ctx context.Context, q Querier, limit int) ([]Poisoned, error) {
	rows, err := q.Query(ctx, `SELECT event_id, coalesce(metadata->>'event_type', ''), reason, tries,
			first_failed_at, last_failed_at, next_try_at
		FROM outbox_poison ORDER BY first_failed_at, event_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list poisoned events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Poisoned, error) {
		var p Poisoned
		err := r.Scan(&p.EventID, &p.EventType, &p.Reason, &p.Tries, &p.FirstFailedAt, &p.LastFailedAt, &p.NextTryAt)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list poisoned events: %w", err)
	}
	return out, nil
}

// RetryPoisoned puts poisoned events back into the outbox now, with their
// tries counted from zero again: the given ids, or every poisoned event
// when ids is empty. It returns how many it put back.
func RetryPoisoned(ctx context.Context, pool *pgxpool.Pool, ids []domain.EventID) (int, error) {
	const retry = `WITH chosen AS (
			UPDATE outbox_poison SET tries = 0, next_try_at = NULL
			WHERE cardinality($1::text[]) = 0 OR event_id = ANY($1::text[])
			RETURNING event_id, payload, metadata
		)
		INSERT INTO watermill_outbox (uuid, payload, metadata, transaction_id)
		SELECT event_id, payload, (metadata::jsonb || jsonb_build_object($2::text, 'true'))::json, pg_current_xact_id()
		FROM chosen`
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = string(id)
	}
	tag, err := pool.Exec(ctx, retry, list, poisonRetryMeta)
	if err != nil {
		return 0, fmt.Errorf("retry poisoned events: %w", err)
	}
	if tag.RowsAffected() > 0 {
		// Wake the fan-out (it would otherwise find them at its fallback
		// poll).
		if _, err := pool.Exec(ctx, `SELECT pg_notify($1, current_schema())`, OutboxChannel); err != nil {
			return int(tag.RowsAffected()), fmt.Errorf("notify the fan-out: %w", err)
		}
	}
	return int(tag.RowsAffected()), nil
}
