package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

// rateLimiter enforces per-destination limits with counters in PostgreSQL,
// so every worker process shares them. A delivery over the limit does not
// poll for a free slot: it reserves a token in the first window that has
// one and waits for that window, so a backlog of held deliveries costs
// nothing while it waits and is released one window's worth at a time.
type rateLimiter struct {
	pool *pgxpool.Pool
}

// reserveToken takes a token in the latest window at or after $3 that has
// one: the latest window holding tokens if it is not full, else the one
// after it. Windows fill in order, so the earlier ones are full. The lock
// on that latest row serialises concurrent reservations of one destination;
// the WHERE of the upsert keeps a window from going over the limit if a
// reservation still lost a race (no row back: try again).
const reserveToken = `WITH last AS (
		SELECT window_start, count FROM rate_windows
		WHERE destination_id = $1 AND window_kind = $2 AND window_start >= $3
		ORDER BY window_start DESC LIMIT 1
		FOR UPDATE
	), target AS (
		SELECT CASE
			WHEN last.window_start IS NULL THEN $3
			WHEN last.count < $4 THEN last.window_start
			ELSE last.window_start + make_interval(secs => $5)
		END AS window_start
		FROM (SELECT) one LEFT JOIN last ON true
	)
	INSERT INTO rate_windows AS w (destination_id, window_kind, window_start, count)
	SELECT $1, $2, window_start, 1 FROM target
	ON CONFLICT (destination_id, window_kind, window_start)
	DO UPDATE SET count = w.count + 1 WHERE w.count < $4
	RETURNING window_start, count`

// dropOldWindows deletes a destination's finished windows of one kind.
const dropOldWindows = `DELETE FROM rate_windows
	WHERE destination_id = $1 AND window_kind = $2 AND window_start < $3`

// maxReserveTries bounds retries of a reservation that lost a race.
const maxReserveTries = 5

// reserve takes a token from each configured window and returns the start
// of the window the attempt may go in: at or before now means at once. The
// hour's token is taken first; the minute's token is then taken no earlier
// than that hour. A delivery over both limits may, rarely, hold an hour
// token of one hour and send in the next: limits err on sending less.
func (l *rateLimiter) reserve(ctx context.Context, d *domain.Destination, now time.Time) (time.Time, error) {
	at := now.UTC()
	if d.RateLimitPerHour > 0 {
		w, err := l.take(ctx, d.ID, "hour", d.RateLimitPerHour, time.Hour, at.Truncate(time.Hour))
		if err != nil {
			return time.Time{}, err
		}
		if w.After(at) {
			at = w
		}
	}
	if d.RateLimitPerMinute > 0 {
		w, err := l.take(ctx, d.ID, "minute", d.RateLimitPerMinute, time.Minute, at.Truncate(time.Minute))
		if err != nil {
			return time.Time{}, err
		}
		if w.After(at) {
			at = w
		}
	}
	if at.Equal(now.UTC()) {
		return now, nil
	}
	return at, nil
}

// take reserves one token of a window kind at or after from.
func (l *rateLimiter) take(ctx context.Context, id domain.DestinationID, kind string, limit int, size time.Duration, from time.Time) (time.Time, error) {
	for range maxReserveTries {
		var window time.Time
		var count int
		err := l.pool.QueryRow(ctx, reserveToken, string(id), kind, from, limit, size.Seconds()).Scan(&window, &count)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // the window filled between the read and the upsert
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("rate limit of %s: %w", id, err)
		}
		if count == 1 && !window.After(from) { // a new current window: drop the finished ones
			if _, err := l.pool.Exec(ctx, dropOldWindows, string(id), kind, window); err != nil {
				return time.Time{}, fmt.Errorf("rate limit of %s: %w", id, err)
			}
		}
		return window.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("rate limit of %s: no token after %d tries", id, maxReserveTries)
}
