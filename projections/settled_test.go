package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// TestSettled checks that the settled reader stops before the first event
// younger than settle, whatever comes after it, and passes everything when
// settle is off.
func TestSettled(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	var now time.Time
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT now()`).Scan(&now))
	ago := func(d time.Duration) domain.Recorded { return domain.Recorded{RecordedAt: now.Add(-d)} }
	log := []domain.Recorded{ago(time.Hour), ago(10 * time.Second), ago(0), ago(time.Minute)}
	read := func(context.Context, pgx.Tx, domain.LogPosition, int) ([]domain.Recorded, error) { return log, nil }
	got := func(settle time.Duration) int {
		var n int
		require.NoError(t, pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
			events, err := projections.Settled(read, settle)(t.Context(), tx, domain.LogPosition{}, 10)
			n = len(events)
			return err
		}))
		return n
	}
	require.Equal(t, 2, got(5*time.Second), "stops at the young third event, though the fourth is old")
	require.Equal(t, 1, got(30*time.Second))
	require.Equal(t, 0, got(2*time.Hour))
	require.Equal(t, 4, got(0), "off")
}
