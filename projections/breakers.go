package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Breakers is the circuit breakers read model: one row per destination
// whose breaker ever opened. It runs inline, like Webhooks, so that a
// transition is visible to every worker as soon as it commits.
type Breakers struct{}

const (
	breakerColumns = `destination_id, state, reason, since, attempts, failures, failure_rate, window_seconds,
		opens, reopen_at, failing_since, version`
	selectBreaker          = `SELECT ` + breakerColumns + ` FROM breakers WHERE destination_id = $1`
	selectBreakerForUpdate = selectBreaker + ` FOR UPDATE`
	upsertBreaker          = `INSERT INTO breakers (` + breakerColumns + `)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
		ON CONFLICT (destination_id) DO UPDATE SET
			state = excluded.state, reason = excluded.reason, since = excluded.since,
			attempts = excluded.attempts, failures = excluded.failures, failure_rate = excluded.failure_rate,
			window_seconds = excluded.window_seconds, opens = excluded.opens, reopen_at = excluded.reopen_at,
			failing_since = excluded.failing_since, version = excluded.version`
)

// Project implements the event store's inline projector.
func (Breakers) Project(ctx context.Context, tx pgx.Tx, events []domain.Recorded) error {
	for _, r := range events {
		if !strings.HasPrefix(r.Type, "breaker.") {
			continue
		}
		if err := applyBreaker(ctx, tx, r); err != nil {
			return err
		}
	}
	return nil
}

func applyBreaker(ctx context.Context, tx pgx.Tx, r domain.Recorded) error {
	e, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return fmt.Errorf("project breaker %s: %w", r.StreamID, err)
	}
	b, err := scanBreaker(tx.QueryRow(ctx, selectBreakerForUpdate, breakerDestination(r.StreamID)))
	switch {
	case errors.Is(err, domain.ErrNotFound):
		b = domain.NewBreaker(domain.DestinationID(breakerDestination(r.StreamID)))
	case err != nil:
		return fmt.Errorf("project breaker %s: %w", r.StreamID, err)
	case r.Version <= b.Version:
		return nil
	}
	b.Apply(e, r.Version)
	if b.Since.IsZero() {
		b.Since = r.RecordedAt
	}
	if _, err := tx.Exec(ctx, upsertBreaker, breakerArgs(b)...); err != nil {
		return fmt.Errorf("upsert breaker %s: %w", r.StreamID, err)
	}
	return nil
}

func breakerDestination(streamID string) string {
	return strings.TrimPrefix(streamID, domain.BreakerStreamID(""))
}

func breakerArgs(b *domain.Breaker) []any {
	return []any{
		string(b.DestinationID), string(b.State), b.Reason, b.Since, b.Attempts, b.Failures, b.FailureRate,
		b.WindowSeconds, b.Opens, b.ReopenAt, b.FailingSince, b.Version,
	}
}

func scanBreaker(row pgx.Row) (*domain.Breaker, error) {
	var b domain.Breaker
	var id, state string
	err := row.Scan(&id, &state, &b.Reason, &b.Since, &b.Attempts, &b.Failures, &b.FailureRate,
		&b.WindowSeconds, &b.Opens, &b.ReopenAt, &b.FailingSince, &b.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	b.DestinationID, b.State, b.Since = domain.DestinationID(id), domain.BreakerState(state), b.Since.UTC()
	b.ReopenAt, b.FailingSince = utcPtr(b.ReopenAt), utcPtr(b.FailingSince)
	return &b, nil
}

// BreakerOf returns a destination's breaker: closed, at version 0, if it
// never opened.
func BreakerOf(ctx context.Context, db DB, id domain.DestinationID) (*domain.Breaker, error) {
	b, err := scanBreaker(db.QueryRow(ctx, selectBreaker, string(id)))
	if errors.Is(err, domain.ErrNotFound) {
		return domain.NewBreaker(id), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read breaker of %s: %w", id, err)
	}
	return b, nil
}

// RebuildBreakers throws the breakers read model away and rebuilds it from
// the breaker streams, in one transaction, and returns the number of events
// read. It works like RebuildWebhooks; the lock on breakers holds workers
// that read a breaker for as long as reading the breaker streams takes.
func RebuildBreakers(ctx context.Context, tx pgx.Tx, read StreamReadFunc) (int, error) {
	if _, err := tx.Exec(ctx, `LOCK TABLE breakers IN ACCESS EXCLUSIVE MODE`); err != nil {
		return 0, fmt.Errorf("lock breakers: %w", err)
	}
	if _, err := tx.Exec(ctx, `TRUNCATE breakers`); err != nil {
		return 0, fmt.Errorf("reset breakers: %w", err)
	}
	return foldStreams(ctx, tx, read, domain.BreakerStreamType, func(stream []domain.Recorded) error {
		id := domain.DestinationID(breakerDestination(stream[0].StreamID))
		b, err := domain.ReplayBreaker(id, stream)
		if err != nil {
			return err
		}
		if b.Since.IsZero() {
			b.Since = stream[len(stream)-1].RecordedAt
		}
		if _, err := tx.Exec(ctx, upsertBreaker, breakerArgs(b)...); err != nil {
			return fmt.Errorf("upsert breaker of %s: %w", id, err)
		}
		return nil
	})
}
