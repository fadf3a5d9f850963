package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

// rateLimiter enforces per-webhook limits with counters in PostgreSQL, so
// every worker process shares them. A webhook without limits costs nothing.
type rateLimiter struct {
	pool *pgxpool.Pool
}

// takeToken increments the window's counter unless it reached the limit;
// no row back means the window is full.
const takeToken = `INSERT INTO webhook_rate_windows AS w (webhook_id, window_kind, window_start, count)
	VALUES ($1, $2, $3, 1)
	ON CONFLICT (webhook_id, window_kind, window_start)
	DO UPDATE SET count = w.count + 1 WHERE w.count < $4
	RETURNING count`

// take consumes one token from each configured window. It returns how long
// to wait when a window is full (its end), or 0 when the attempt may go.
// A token taken from the minute window is kept even if the hour window is
// full: limits err on the side of sending less.
func (l *rateLimiter) take(ctx context.Context, hook *domain.Webhook, now time.Time) (time.Duration, error) {
	windows := []struct {
		kind  string
		limit int
		size  time.Duration
	}{
		{"minute", hook.Spec.RateLimitPerMinute, time.Minute},
		{"hour", hook.Spec.RateLimitPerHour, time.Hour},
	}
	for _, win := range windows {
		if win.limit <= 0 {
			continue
		}
		start := now.UTC().Truncate(win.size)
		var count int
		err := l.pool.QueryRow(ctx, takeToken, string(hook.ID), win.kind, start, win.limit).Scan(&count)
		if isNoRows(err) {
			return start.Add(win.size).Sub(now), nil
		}
		if err != nil {
			return 0, fmt.Errorf("rate limit of webhook %s: %w", hook.ID, err)
		}
		if count == 1 { // a new window began: drop this webhook's finished ones
			if _, err := l.pool.Exec(ctx, dropOldWindows, string(hook.ID), win.kind, start); err != nil {
				return 0, fmt.Errorf("rate limit of webhook %s: %w", hook.ID, err)
			}
		}
	}
	return 0, nil
}

const dropOldWindows = `DELETE FROM webhook_rate_windows
	WHERE webhook_id = $1 AND window_kind = $2 AND window_start < $3`
