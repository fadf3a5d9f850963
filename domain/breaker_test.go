package domain_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

func TestBreakerPolicy(t *testing.T) {
	t.Parallel()
	p := domain.BreakerPolicy{}.WithDefaults()
	require.NoError(t, p.Validate())

	t.Run("Trips", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			name               string
			attempts, failures int
			want               bool
		}{
			{"TooFewAttempts", 9, 9, false},
			{"AtTheRate", 10, 7, true},
			{"BelowTheRate", 10, 6, false},
			{"ManyAttempts", 1000, 700, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				require.Equal(t, c.want, p.Trips(domain.BreakerStats{Attempts: c.attempts, Failures: c.failures}))
			})
		}
	})

	t.Run("CoolDownDoublesUpToTheMaximum", func(t *testing.T) {
		t.Parallel()
		got := []time.Duration{}
		for n := 1; n <= 7; n++ {
			got = append(got, p.CoolDownFor(n))
		}
		require.Equal(t, []time.Duration{
			30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute,
		}, got)
	})

	t.Run("Validate", func(t *testing.T) {
		t.Parallel()
		for _, bad := range []domain.BreakerPolicy{
			{Window: time.Millisecond, MinAttempts: 1, FailureRate: 0.5, CoolDown: time.Second, MaxCoolDown: time.Second},
			{Window: time.Minute, MinAttempts: 0, FailureRate: 0.5, CoolDown: time.Second, MaxCoolDown: time.Second},
			{Window: time.Minute, MinAttempts: 1, FailureRate: 1.5, CoolDown: time.Second, MaxCoolDown: time.Second},
			{Window: time.Minute, MinAttempts: 1, FailureRate: 0.5, CoolDown: time.Minute, MaxCoolDown: time.Second},
		} {
			require.ErrorIs(t, bad.Validate(), domain.ErrInvalid, "%+v", bad)
		}
	})
}

// TestBreaker: given a breaker's past events, when a decision is taken,
// then these events (or none).
func TestBreaker(t *testing.T) {
	t.Parallel()
	p := domain.BreakerPolicy{}.WithDefaults()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const dest = domain.DestinationID("wh_1")
	since := now.Add(-time.Hour)
	opened := domain.BreakerOpened{
		DestinationID: dest, Reason: "r", Attempts: 10, Failures: 10, FailureRate: 1,
		WindowSeconds: 300, Opens: 1, ReopenAt: now.Add(30 * time.Second), FailingSince: &since, At: now,
	}
	halfOpened := domain.BreakerHalfOpened{DestinationID: dest, Reason: "cool-down ended; probing with one delivery", At: now.Add(time.Minute)}
	tripping := domain.BreakerStats{
		Attempts: 20, Failures: 17, Window: 5 * time.Minute,
		LastFailure: "http_5xx: HTTP 503 Service Unavailable", FailingSince: &since,
	}

	breaker := func(t *testing.T, given ...domain.Event) *domain.Breaker {
		t.Helper()
		b := domain.NewBreaker(dest)
		for i, e := range given {
			b.Apply(e, int64(i+1))
		}
		return b
	}
	cases := []struct {
		name  string
		given []domain.Event
		when  func(b *domain.Breaker) []domain.Event
		then  []domain.Event
	}{
		{
			name: "ClosedOpensWhenTripped",
			when: func(b *domain.Breaker) []domain.Event { return b.Open(p, tripping, now) },
			then: []domain.Event{domain.BreakerOpened{
				DestinationID: dest, Reason: "85% of 20 attempts failed in the last 5m0s (last: http_5xx: HTTP 503 Service Unavailable)",
				Attempts: 20, Failures: 17, FailureRate: 0.85, WindowSeconds: 300, Opens: 1,
				ReopenAt: now.Add(30 * time.Second), FailingSince: &since, At: now,
			}},
		},
		{
			name: "ClosedStaysClosedBelowTheRate",
			when: func(b *domain.Breaker) []domain.Event {
				return b.Open(p, domain.BreakerStats{Attempts: 20, Failures: 13, Window: time.Minute}, now)
			},
		},
		{
			name:  "OpenStaysOpen",
			given: []domain.Event{opened},
			when:  func(b *domain.Breaker) []domain.Event { return b.Open(p, tripping, now) },
		},
		{
			name:  "OpenWaitsForItsCoolDown",
			given: []domain.Event{opened},
			when:  func(b *domain.Breaker) []domain.Event { return b.HalfOpen(now.Add(29 * time.Second)) },
		},
		{
			name:  "OpenHalfOpensAfterItsCoolDown",
			given: []domain.Event{opened},
			when:  func(b *domain.Breaker) []domain.Event { return b.HalfOpen(now.Add(time.Minute)) },
			then:  []domain.Event{halfOpened},
		},
		{
			name:  "FailedProbeOpensForTwiceAsLong",
			given: []domain.Event{opened, halfOpened},
			when: func(b *domain.Breaker) []domain.Event {
				return b.Open(p, domain.BreakerStats{Attempts: 1, Failures: 1, LastFailure: "timeout"}, now.Add(2*time.Minute))
			},
			then: []domain.Event{domain.BreakerOpened{
				DestinationID: dest, Reason: "probe failed (last: timeout)", Attempts: 1, Failures: 1, FailureRate: 1,
				Opens: 2, ReopenAt: now.Add(3 * time.Minute), At: now.Add(2 * time.Minute),
			}},
		},
		{
			name:  "ProbeThatSucceedsCloses",
			given: []domain.Event{opened, halfOpened},
			when:  func(b *domain.Breaker) []domain.Event { return b.Close("probe succeeded", now.Add(2*time.Minute)) },
			then:  []domain.Event{domain.BreakerClosed{DestinationID: dest, Reason: "probe succeeded", At: now.Add(2 * time.Minute)}},
		},
		{
			name: "ClosedStaysClosed",
			when: func(b *domain.Breaker) []domain.Event { return b.Close("destination resumed", now) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.then, c.when(breaker(t, c.given...)))
		})
	}

	t.Run("Apply", func(t *testing.T) {
		t.Parallel()
		b := breaker(t, opened)
		require.Equal(t, domain.BreakerStateOpen, b.State)
		require.Equal(t, 1, b.Opens)
		require.Equal(t, &since, b.FailingSince)
		b.Apply(halfOpened, 2)
		require.Equal(t, domain.BreakerStateHalfOpen, b.State)
		require.Equal(t, now.Add(time.Minute), b.Since)
		b.Apply(domain.BreakerClosed{DestinationID: dest, Reason: "probe succeeded", At: now.Add(2 * time.Minute)}, 3)
		require.Equal(t, domain.BreakerStateClosed, b.State)
		require.Zero(t, b.Opens, "a closed breaker's next opening is the first again")
		require.Nil(t, b.ReopenAt)
		require.Nil(t, b.FailingSince)
		require.Equal(t, int64(3), b.Version)
	})

	t.Run("Replay", func(t *testing.T) {
		t.Parallel()
		var history []domain.Recorded
		for i, e := range []domain.Event{opened, halfOpened} {
			data := mustMarshal(t, e)
			history = append(history, domain.Recorded{StreamID: domain.BreakerStreamID(dest), Version: int64(i + 1), Type: e.EventType(), Data: data})
		}
		b, err := domain.ReplayBreaker(dest, history)
		require.NoError(t, err)
		require.Equal(t, domain.BreakerStateHalfOpen, b.State)
		require.Equal(t, int64(2), b.Version)
		require.Equal(t, "breaker-wh_1", domain.BreakerStreamID(dest))
	})
}
