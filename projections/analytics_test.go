package projections_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

func readFirst(ctx context.Context, tx pgx.Tx, ids []string) ([]domain.Recorded, error) {
	return eventstore.ReadFirst(ctx, tx, ids)
}

type analyticsBundle struct {
	pool   *pgxpool.Pool
	store  *eventstore.Store
	runner *projections.Runner
	// durations are the response times appended, per destination.
	durations map[domain.DestinationID][]float64
	n         int
}

func setupAnalytics(t *testing.T, batch int) *analyticsBundle {
	t.Helper()
	pool := dbtest.Pool(t, nil)
	r, err := projections.NewRunner(pool, projections.RunnerConfig{
		Name: "analytics", Projector: projections.Analytics{First: readFirst}, Read: readLog, BatchSize: batch,
	})
	require.NoError(t, err)
	return &analyticsBundle{
		pool: pool, store: eventstore.New(pool, eventstore.Config{}), runner: r,
		durations: map[domain.DestinationID][]float64{},
	}
}

// deliver appends a delivery to dest created at `at` whose attempts, one
// second apart, answer the given status codes (0: connection refused).
// Attempts are appended in a second transaction, so that the projector
// meets them apart from the scheduled event.
func (b *analyticsBundle) deliver(t *testing.T, dest domain.DestinationID, at time.Time, codes []int, final domain.DeliveryStatus, ms func(i int) float64) {
	t.Helper()
	b.n++
	ev := domain.EventID(domain.NewID(domain.EventIDPrefix, at))
	id := domain.DeliveryIDFor(ev, dest)
	_, err := b.store.Append(t.Context(), domain.Append{
		StreamID: string(id), StreamType: domain.DeliveryStreamType, Expect: 0,
		Events: []domain.Event{domain.DeliveryScheduled{
			DeliveryID: id, DestinationID: dest, Kind: domain.KindWebhook,
			EventID: ev, Type: domain.EventTypeSystemError, At: at,
		}},
	})
	require.NoError(t, err)
	var events []domain.Event
	for i, code := range codes {
		a := domain.DeliveryAttempted{
			Attempt: i + 1, StatusCode: code, DurationMS: ms(i), Status: domain.DeliveryRetrying,
			At: at.Add(time.Duration(i+1) * time.Second),
		}
		switch {
		case code == 0:
			a.ErrorCategory, a.ErrorDetail = domain.ErrorCategoryNetwork, "connect: connection refused"
		case code >= 500:
			a.ErrorCategory = domain.ErrorCategoryHTTP5xx
		case code >= 400:
			a.ErrorCategory = domain.ErrorCategoryHTTP4xx
		}
		if i == len(codes)-1 {
			a.Status = final
		}
		if code > 0 {
			b.durations[dest] = append(b.durations[dest], a.DurationMS)
		}
		events = append(events, a)
	}
	if len(events) > 0 {
		_, err = b.store.Append(t.Context(), domain.Append{
			StreamID: string(id), StreamType: domain.DeliveryStreamType,
			Expect: 1, Events: events,
		})
		require.NoError(t, err)
	}
}

func (b *analyticsBundle) catchUp(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := b.runner.CatchUp(t.Context())
		require.NoError(t, err)
		var behind bool
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM events e, projection_checkpoints c
			WHERE c.name = 'analytics' AND (e.transaction_id, e.position) > (c.transaction_id, c.position))`).Scan(&behind))
		return !behind
	}, 30*time.Second, 5*time.Millisecond)
}

// exactAt is the exact quantile the sketch estimates: the value at rank
// floor(q·(n−1)).
func exactAt(values []float64, q float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	return s[int(math.Floor(q*float64(len(s)-1)))]
}

func requireWithinBound(t *testing.T, exact, got float64, what string) {
	t.Helper()
	require.LessOrEqual(t, math.Abs(got-exact), domain.AnalyticsRelativeAccuracy*exact+1e-9,
		"%s: got %v, exact %v", what, got, exact)
}

func TestAnalytics_DayIsTheMergeOfItsHours(t *testing.T) {
	t.Parallel()
	b := setupAnalytics(t, 7) // small batches: rows are merged across batches
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	dest := domain.DestinationID("wh_analytics_day")
	rng := rand.New(rand.NewPCG(1, 2))
	ms := func(int) float64 { return math.Round(rng.ExpFloat64()*40*1000) / 1000 }
	for h := 0; h < 24; h += 1 + h%3 { // some hours stay empty
		at := day.Add(time.Duration(h)*time.Hour + 10*time.Minute)
		b.deliver(t, dest, at, []int{200}, domain.DeliveryDelivered, ms)
		b.deliver(t, dest, at, []int{500, 503, 0}, domain.DeliveryPermanentFailure, ms)
		b.deliver(t, dest, at, []int{404, 200}, domain.DeliveryDelivered, ms)
	}
	b.deliver(t, "wh_analytics_other", day.Add(time.Hour), []int{200}, domain.DeliveryDelivered, ms)
	b.catchUp(t)
	ctx := t.Context()

	hours, err := domain.NewAnalyticsRange(day, day.Add(24*time.Hour), domain.GranularityHour, day)
	require.NoError(t, err)
	byHour, err := projections.DestinationAnalytics(ctx, b.pool, dest, hours)
	require.NoError(t, err)
	require.Len(t, byHour.Series, 24)
	days, err := domain.NewAnalyticsRange(day, day.Add(24*time.Hour), domain.GranularityDay, day)
	require.NoError(t, err)
	byDay, err := projections.DestinationAnalytics(ctx, b.pool, dest, days)
	require.NoError(t, err)
	require.Len(t, byDay.Series, 1)

	var sum domain.AnalyticsStats
	for _, p := range byHour.Series {
		if p.TotalDeliveries == 0 {
			require.Equal(t, domain.AnalyticsStats{}, p.AnalyticsStats, "empty hour %s is zeros", p.Start)
		}
		sum.TotalDeliveries += p.TotalDeliveries
		sum.Attempts += p.Attempts
		sum.Delivered += p.Delivered
		sum.PermanentFailures += p.PermanentFailures
		sum.Retries += p.Retries
		sum.Errors.HTTP4xx += p.Errors.HTTP4xx
		sum.Errors.HTTP5xx += p.Errors.HTTP5xx
		sum.Errors.Network += p.Errors.Network
		sum.ResponseCount += p.ResponseCount
	}
	d := byDay.Series[0].AnalyticsStats
	require.Equal(t, byDay.Summary, d, "a one-day range's summary is its one day")
	require.Equal(t, byHour.Summary, d, "the day equals the merge of its 24 hours")
	require.Equal(t, sum.TotalDeliveries, d.TotalDeliveries)
	require.Equal(t, sum.Attempts, d.Attempts)
	require.Equal(t, sum.Delivered, d.Delivered)
	require.Equal(t, sum.PermanentFailures, d.PermanentFailures)
	require.Equal(t, sum.Retries, d.Retries)
	require.Equal(t, sum.Errors, d.Errors)
	require.Equal(t, sum.ResponseCount, d.ResponseCount)
	require.Equal(t, int64(3*len(byHourNonEmpty(byHour))), d.TotalDeliveries)
	require.InDelta(t, 2.0/3, d.SuccessRate(), 1e-9)

	obs := b.durations[dest]
	require.Equal(t, int64(len(obs)), d.ResponseCount)
	require.InDelta(t, sumOf(obs), d.ResponseSumMS, 1e-3*float64(len(obs)))
	require.Equal(t, slices.Min(obs), d.MinResponseMS)
	require.Equal(t, slices.Max(obs), d.MaxResponseMS)
	for _, q := range []struct {
		q   float64
		got float64
	}{{0.5, d.P50ResponseMS}, {0.95, d.P95ResponseMS}, {0.99, d.P99ResponseMS}} {
		requireWithinBound(t, exactAt(obs, q.q), q.got, "percentile")
	}
}

func byHourNonEmpty(a *domain.DestinationAnalytics) []domain.AnalyticsPoint {
	var out []domain.AnalyticsPoint
	for _, p := range a.Series {
		if p.TotalDeliveries > 0 {
			out = append(out, p)
		}
	}
	return out
}

func sumOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func TestAnalytics_RangeAcrossMidnight(t *testing.T) {
	t.Parallel()
	b := setupAnalytics(t, 1000)
	midnight := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	dest := domain.DestinationID("wh_analytics_midnight")
	ms := func(i int) float64 { return float64(10 * (i + 1)) }
	b.deliver(t, dest, midnight.Add(-90*time.Minute), []int{200}, domain.DeliveryDelivered, ms) // 22:30
	b.deliver(t, dest, midnight.Add(-5*time.Second), []int{500, 200}, domain.DeliveryDelivered, ms)
	b.deliver(t, dest, midnight.Add(30*time.Minute), []int{410}, domain.DeliveryFailed, ms)
	b.deliver(t, dest, midnight.Add(2*time.Hour), nil, "", ms) // pending, created at 02:00
	b.catchUp(t)

	// 22:10 to 02:20 widens to 22:00–03:00: five hours.
	r, err := domain.NewAnalyticsRange(midnight.Add(-110*time.Minute), midnight.Add(140*time.Minute), domain.GranularityHour, midnight)
	require.NoError(t, err)
	require.Equal(t, midnight.Add(-2*time.Hour), r.From)
	require.Equal(t, midnight.Add(3*time.Hour), r.To)
	a, err := projections.DestinationAnalytics(t.Context(), b.pool, dest, r)
	require.NoError(t, err)
	require.Len(t, a.Series, 5)
	created := []int64{1, 1, 1, 0, 1}
	attempts := []int64{1, 2, 1, 0, 0}
	for i, p := range a.Series {
		require.Equal(t, r.From.Add(time.Duration(i)*time.Hour), p.Start)
		require.Equal(t, created[i], p.TotalDeliveries, "created in hour %d", i)
		require.Equal(t, attempts[i], p.Attempts, "attempts in hour %d", i)
	}
	require.Equal(t, domain.AnalyticsStats{}, a.Series[3].AnalyticsStats, "01:00 is empty")
	require.Equal(t, int64(1), a.Series[2].Failed)
	require.Equal(t, int64(1), a.Series[2].Errors.HTTP4xx)
	require.Equal(t, int64(4), a.Summary.TotalDeliveries)
	require.Equal(t, int64(2), a.Summary.Delivered)
	require.InDelta(t, 2.0/3, a.Summary.SuccessRate(), 1e-9)

	days, err := domain.NewAnalyticsRange(midnight.Add(-110*time.Minute), midnight.Add(140*time.Minute), domain.GranularityDay, midnight)
	require.NoError(t, err)
	d, err := projections.DestinationAnalytics(t.Context(), b.pool, dest, days)
	require.NoError(t, err)
	require.Len(t, d.Series, 2)
	require.Equal(t, int64(2), d.Series[0].TotalDeliveries)
	require.Equal(t, int64(2), d.Series[1].TotalDeliveries)

	all, err := projections.AnalyticsOverview(t.Context(), b.pool, days, 0)
	require.NoError(t, err)
	require.Equal(t, 1, all.Destinations)
	require.Equal(t, d.Summary, all.Summary)
	require.Len(t, all.TopByFailures, 1)
	require.Equal(t, dest, all.TopByFailures[0].DestinationID)
}

func TestAnalyticsRange_Validation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 10, 17, 0, 0, time.UTC)
	r, err := domain.NewAnalyticsRange(time.Time{}, time.Time{}, "", now)
	require.NoError(t, err)
	require.Equal(t, now.Add(-24*time.Hour).Truncate(time.Hour), r.From)
	require.Equal(t, now.Truncate(time.Hour).Add(time.Hour), r.To)
	require.Len(t, r.Periods(), 25)
	_, err = domain.NewAnalyticsRange(now, now.Add(-time.Second), "", now)
	require.ErrorIs(t, err, domain.ErrInvalid)
	_, err = domain.NewAnalyticsRange(now.Add(-401*24*time.Hour), now, domain.GranularityDay, now)
	require.ErrorIs(t, err, domain.ErrInvalid)
	_, err = domain.NewAnalyticsRange(now.Add(-time.Hour), now, "week", now)
	require.ErrorIs(t, err, domain.ErrInvalid)
	r, err = domain.NewAnalyticsRange(now, now, domain.GranularityDay, now)
	require.NoError(t, err)
	require.Len(t, r.Periods(), 1, "an empty range still names its period")
}

func TestAnalytics_PostponedCancelledRedrivenAndIntegrations(t *testing.T) {
	t.Parallel()
	b := setupAnalytics(t, 1000)
	ctx := t.Context()
	at := time.Date(2026, 11, 29, 8, 15, 0, 0, time.UTC)
	dest := domain.DestinationID("int_slack_ops")
	id := domain.DeliveryIDFor(domain.EventID("evt_misc"), dest)
	_, err := b.store.Append(ctx, domain.Append{StreamID: string(id), StreamType: domain.DeliveryStreamType, Events: []domain.Event{
		domain.DeliveryScheduled{DeliveryID: id, DestinationID: dest, Kind: domain.KindSlack, EventID: "evt_misc", Type: domain.EventTypeSystemError, At: at},
		domain.DeliveryPostponed{Reason: domain.PostponedRateLimited, Until: at.Add(time.Minute), At: at},
		domain.DeliveryAttempted{
			Attempt: 1, DurationMS: 2, ErrorCategory: domain.ErrorCategoryNetwork,
			ErrorDetail: domain.NetworkDetailBlocked + ": destination is not allowed", Status: domain.DeliveryPermanentFailure, At: at.Add(time.Minute),
		},
		domain.DeliveryRedriven{At: at.Add(2 * time.Minute)},
		domain.DeliveryCancelled{Reason: "integration is inactive", At: at.Add(3 * time.Minute)},
	}})
	require.NoError(t, err)
	b.catchUp(t)
	r, err := domain.NewAnalyticsRange(at, at, domain.GranularityHour, at)
	require.NoError(t, err)
	a, err := projections.DestinationAnalytics(ctx, b.pool, dest, r)
	require.NoError(t, err)
	s := a.Summary
	require.Equal(t, int64(1), s.TotalDeliveries)
	require.Equal(t, int64(1), s.Postponed)
	require.Equal(t, int64(1), s.Redriven)
	require.Equal(t, int64(1), s.PermanentFailures)
	require.Equal(t, int64(1), s.Failed, "a cancelled delivery is a failed final")
	require.Equal(t, int64(1), s.Errors.Blocked)
	require.Zero(t, s.Errors.Network)
	require.Zero(t, s.ResponseCount, "a blocked attempt has no response time")
	o, err := projections.AnalyticsOverview(ctx, b.pool, r, 0)
	require.NoError(t, err)
	require.Equal(t, domain.KindSlack, o.TopByFailures[0].Kind)
}
