package domain_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

func TestRetryPolicy_Backoff(t *testing.T) {
	t.Parallel()
	base := domain.RetryPolicy{Delay: 10 * time.Second, MaxDelay: time.Hour, Multiplier: 2}
	tests := []struct {
		name     string
		strategy domain.RetryStrategy
		jitter   bool
		random   float64
		n        int
		want     time.Duration
	}{
		{"ExponentialFirst", domain.RetryExponential, false, 0, 1, 10 * time.Second},
		{"ExponentialThird", domain.RetryExponential, false, 0, 3, 40 * time.Second},
		{"ExponentialCapped", domain.RetryExponential, false, 0, 20, time.Hour},
		{"LinearThird", domain.RetryLinear, false, 0, 3, 30 * time.Second},
		{"FixedThird", domain.RetryFixed, false, 0, 3, 10 * time.Second},
		{"NoRetry", domain.RetryNone, false, 0, 1, 0},
		{"JitterLowest", domain.RetryExponential, true, 0, 1, 8 * time.Second},
		{"JitterMiddle", domain.RetryExponential, true, 0.5, 1, 10 * time.Second},
		{"JitterHighest", domain.RetryExponential, true, 0.999999, 1, 12 * time.Second},
		{"JitterNeverAboveCap", domain.RetryFixed, true, 0.99, 1, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := base
			p.Strategy, p.Jitter = tt.strategy, tt.jitter
			if tt.name == "JitterNeverAboveCap" {
				p.MaxDelay = 10 * time.Second
			}
			require.InDelta(t, float64(tt.want), float64(p.Backoff(tt.n, tt.random)), float64(time.Millisecond))
		})
	}
}

func TestRetryPolicy_Schedule(t *testing.T) {
	t.Parallel()
	s := time.Second
	defaults := domain.DefaultWebhookSpec().RetryPolicy()
	tests := []struct {
		name   string
		policy domain.RetryPolicy
		want   []domain.ScheduledRetry
	}{
		{
			name:   "DefaultsExponentialWithJitter",
			policy: defaults,
			want: []domain.ScheduledRetry{
				{N: 1, Delay: 60 * s, Min: 48 * s, Max: 72 * s, Cumulative: 60 * s, CumulativeMin: 48 * s, CumulativeMax: 72 * s},
				{N: 2, Delay: 120 * s, Min: 96 * s, Max: 144 * s, Cumulative: 180 * s, CumulativeMin: 144 * s, CumulativeMax: 216 * s},
				{N: 3, Delay: 240 * s, Min: 192 * s, Max: 288 * s, Cumulative: 420 * s, CumulativeMin: 336 * s, CumulativeMax: 504 * s},
				{N: 4, Delay: 480 * s, Min: 384 * s, Max: 576 * s, Cumulative: 900 * s, CumulativeMin: 720 * s, CumulativeMax: 1080 * s},
				{N: 5, Delay: 960 * s, Min: 768 * s, Max: 1152 * s, Cumulative: 1860 * s, CumulativeMin: 1488 * s, CumulativeMax: 2232 * s},
			},
		},
		{
			name: "CapAppliesAfterJitter",
			policy: domain.RetryPolicy{
				Strategy: domain.RetryExponential, MaxRetries: 3, Delay: 60 * s, MaxDelay: 100 * s, Multiplier: 2, Jitter: true,
			},
			want: []domain.ScheduledRetry{
				{N: 1, Delay: 60 * s, Min: 48 * s, Max: 72 * s, Cumulative: 60 * s, CumulativeMin: 48 * s, CumulativeMax: 72 * s},
				{N: 2, Delay: 100 * s, Min: 96 * s, Max: 100 * s, Cumulative: 160 * s, CumulativeMin: 144 * s, CumulativeMax: 172 * s},
				{N: 3, Delay: 100 * s, Min: 100 * s, Max: 100 * s, Cumulative: 260 * s, CumulativeMin: 244 * s, CumulativeMax: 272 * s},
			},
		},
		{
			name:   "LinearWithoutJitter",
			policy: domain.RetryPolicy{Strategy: domain.RetryLinear, MaxRetries: 3, Delay: 10 * s, MaxDelay: time.Hour},
			want: []domain.ScheduledRetry{
				{N: 1, Delay: 10 * s, Min: 10 * s, Max: 10 * s, Cumulative: 10 * s, CumulativeMin: 10 * s, CumulativeMax: 10 * s},
				{N: 2, Delay: 20 * s, Min: 20 * s, Max: 20 * s, Cumulative: 30 * s, CumulativeMin: 30 * s, CumulativeMax: 30 * s},
				{N: 3, Delay: 30 * s, Min: 30 * s, Max: 30 * s, Cumulative: 60 * s, CumulativeMin: 60 * s, CumulativeMax: 60 * s},
			},
		},
		{
			name:   "Fixed",
			policy: domain.RetryPolicy{Strategy: domain.RetryFixed, MaxRetries: 2, Delay: 5 * s, MaxDelay: 5 * s},
			want: []domain.ScheduledRetry{
				{N: 1, Delay: 5 * s, Min: 5 * s, Max: 5 * s, Cumulative: 5 * s, CumulativeMin: 5 * s, CumulativeMax: 5 * s},
				{N: 2, Delay: 5 * s, Min: 5 * s, Max: 5 * s, Cumulative: 10 * s, CumulativeMin: 10 * s, CumulativeMax: 10 * s},
			},
		},
		{name: "NoRetry", policy: domain.RetryPolicy{Strategy: domain.RetryNone, MaxRetries: 5, Delay: s}},
		{name: "ZeroRetries", policy: domain.RetryPolicy{Strategy: domain.RetryExponential, Delay: s, Multiplier: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.policy.Schedule())
		})
	}

	t.Run("AgreesWithDecideAttempt", func(t *testing.T) {
		t.Parallel()
		// Every jittered delay DecideAttempt draws lies within the schedule's
		// bounds for that retry.
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		sched := defaults.Schedule()
		for _, random := range []float64{0, 0.25, 0.5, 0.75, 0.999999} {
			for _, r := range sched {
				out := domain.DecideAttempt(defaults, r.N, domain.AttemptResult{StatusCode: 500}, now, random)
				require.NotNil(t, out.NextAttemptAt, "retry %d", r.N)
				d := out.NextAttemptAt.Sub(now)
				require.GreaterOrEqual(t, d, r.Min, "retry %d, random %v", r.N, random)
				require.LessOrEqual(t, d, r.Max, "retry %d, random %v", r.N, random)
			}
		}
	})
}

func TestDecideAttempt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	policy := domain.RetryPolicy{Strategy: domain.RetryExponential, MaxRetries: 2, Delay: 10 * time.Second, MaxDelay: time.Hour, Multiplier: 2}
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	tests := []struct {
		name   string
		policy domain.RetryPolicy
		try    int
		result domain.AttemptResult
		want   domain.AttemptOutcome
	}{
		{"Success", policy, 1, domain.AttemptResult{Success: true, StatusCode: 204}, domain.AttemptOutcome{Status: domain.DeliveryDelivered}},
		{"ServerErrorRetries", policy, 1, domain.AttemptResult{StatusCode: 500}, domain.AttemptOutcome{Status: domain.DeliveryRetrying, NextAttemptAt: at(10 * time.Second)}},
		{"SecondFailureBacksOff", policy, 2, domain.AttemptResult{StatusCode: 500}, domain.AttemptOutcome{Status: domain.DeliveryRetrying, NextAttemptAt: at(20 * time.Second)}},
		{"Exhausted", policy, 3, domain.AttemptResult{StatusCode: 500}, domain.AttemptOutcome{Status: domain.DeliveryPermanentFailure}},
		{"NoRetryStrategy", domain.RetryPolicy{Strategy: domain.RetryNone, MaxRetries: 5}, 1, domain.AttemptResult{StatusCode: 500}, domain.AttemptOutcome{Status: domain.DeliveryPermanentFailure}},
		{"ZeroMaxRetries", domain.RetryPolicy{Strategy: domain.RetryFixed}, 1, domain.AttemptResult{Category: domain.ErrorCategoryTimeout}, domain.AttemptOutcome{Status: domain.DeliveryPermanentFailure}},
		{"GoneDeactivates", policy, 1, domain.AttemptResult{StatusCode: 410}, domain.AttemptOutcome{Status: domain.DeliveryFailed, Deactivate: "receiver answered 410 Gone"}},
		{"RedirectIsAFailure", policy, 1, domain.AttemptResult{StatusCode: 301, Category: domain.ErrorCategoryHTTP3xx}, domain.AttemptOutcome{Status: domain.DeliveryRetrying, NextAttemptAt: at(10 * time.Second)}},
		{"RetryAfterLonger", policy, 1, domain.AttemptResult{StatusCode: 429, RetryAfter: 2 * time.Minute}, domain.AttemptOutcome{Status: domain.DeliveryRetrying, NextAttemptAt: at(2 * time.Minute)}},
		{"RetryAfterShorterKeepsPolicy", policy, 1, domain.AttemptResult{StatusCode: 503, RetryAfter: time.Second}, domain.AttemptOutcome{Status: domain.DeliveryRetrying, NextAttemptAt: at(10 * time.Second)}},
		{"RetryAfterBounded", policy, 1, domain.AttemptResult{StatusCode: 429, RetryAfter: 48 * time.Hour}, domain.AttemptOutcome{Status: domain.DeliveryRetrying, NextAttemptAt: at(domain.MaxRetryAfter)}},
		{"RetryAfterIgnoredOn500", policy, 1, domain.AttemptResult{StatusCode: 500, RetryAfter: time.Hour}, domain.AttemptOutcome{Status: domain.DeliveryRetrying, NextAttemptAt: at(10 * time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, domain.DecideAttempt(tt.policy, tt.try, tt.result, now, 0.5))
		})
	}
}

func TestDeliveryIDFor(t *testing.T) {
	t.Parallel()
	a := domain.DeliveryIDFor("evt_1", "wh_1")
	require.Equal(t, a, domain.DeliveryIDFor("evt_1", "wh_1"), "deterministic")
	require.NotEqual(t, a, domain.DeliveryIDFor("evt_1", "wh_2"))
	require.NotEqual(t, a, domain.DeliveryIDFor("evt_1w", "h_1"), "the separator keeps pairs apart")
	require.Regexp(t, `^dlv_[0-9A-Z]{26}$`, string(a))

	// A lokihooks event id lends its time to the delivery id, so that
	// delivery ids sort by time like the events they deliver.
	early := domain.EventID(domain.NewID(domain.EventIDPrefix, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	late := domain.EventID(domain.NewID(domain.EventIDPrefix, time.Date(2026, 1, 1, 0, 0, 0, 1e6, time.UTC)))
	d1, d2 := domain.DeliveryIDFor(early, "wh_1"), domain.DeliveryIDFor(late, "wh_1")
	require.Equal(t, string(early)[4:14], string(d1)[4:14])
	require.Less(t, string(d1), string(d2))
	require.Equal(t, d1, domain.DeliveryIDFor(early, "wh_1"), "still deterministic")
	require.NotEqual(t, d1, domain.DeliveryIDFor(early, "wh_2"))
	require.Regexp(t, `^dlv_[0-9A-Z]{26}$`, string(d1))
	// Ids producers chose themselves, and look-alikes, are hashed whole.
	for _, ev := range []domain.EventID{"evt_order-1", "evt_ZZZZZZZZZZZZZZZZZZZZZZZZZZ", "evt_0000000000000000000000000U", "order-1"} {
		require.Regexp(t, `^dlv_[0-9A-Z]{26}$`, string(domain.DeliveryIDFor(ev, "wh_1")), ev)
	}
	require.NotEqual(t, "ZZZZZZZZZZ", string(domain.DeliveryIDFor("evt_ZZZZZZZZZZZZZZZZZZZZZZZZZZ", "wh_1"))[4:14])
}

func TestDeliveryEvents_RoundTrip(t *testing.T) {
	t.Parallel()
	next := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for _, e := range []domain.Event{
		domain.DeliveryScheduled{DeliveryID: "dlv_1", DestinationID: "int_1", Kind: domain.KindSlack, EventID: "evt_1", Type: "system.error", At: next},
		domain.DeliveryAttempted{
			Attempt: 2, StatusCode: 500, RequestHeaders: map[string]string{"A": "b"}, DurationMS: 1.5,
			ErrorCategory: domain.ErrorCategoryHTTP5xx, Status: domain.DeliveryRetrying, NextAttemptAt: &next, At: next,
		},
		domain.DeliveryCancelled{Reason: "webhook is deleted", At: next},
		domain.DeliveryRedriven{At: next},
	} {
		data := mustMarshal(t, e)
		got, err := domain.DecodeEvent(e.EventType(), data)
		require.NoError(t, err)
		require.Equal(t, e, got)
	}
	_, err := domain.DecodeEvent("delivery.unknown.v1", []byte(`{}`))
	require.ErrorIs(t, err, domain.ErrUnknownEventType)
}

func TestDeliveryScheduled_ReadsEventsWrittenBeforeDestinations(t *testing.T) {
	t.Parallel()
	got, err := domain.DecodeEvent(domain.TypeDeliveryScheduled,
		[]byte(`{"delivery_id":"dlv_1","webhook_id":"wh_1","event_id":"evt_1","event_type":"system.error","at":"2026-11-29T10:00:00Z"}`))
	require.NoError(t, err)
	s := got.(domain.DeliveryScheduled)
	require.Equal(t, domain.DestinationID("wh_1"), s.DestinationID)
	require.Equal(t, domain.KindWebhook, s.Kind)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
