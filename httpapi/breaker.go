package httpapi

import (
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
)

// CircuitBreaker explains whether deliveries to a destination are held and
// why.
type CircuitBreaker struct {
	State  string    `json:"state" enum:"closed,open,half_open" doc:"closed: deliveries are sent; open: they are held until next_probe_at; half_open: one delivery is sent as a probe, the others wait for its outcome"`
	Reason string    `json:"reason,omitempty" doc:"Why the breaker is in its state, e.g. \"85% of 20 attempts failed in the last 5m0s (last: http_5xx: HTTP 503 Service Unavailable)\""`
	Since  time.Time `json:"since,omitzero" doc:"When the breaker entered its state; absent if it never opened"`
	// The counts of the last opening.
	FailureRate   float64    `json:"failure_rate" doc:"Share of failed attempts, 0 to 1, over the window that opened the breaker last"`
	Attempts      int        `json:"attempts" doc:"Attempts counted when the breaker opened last"`
	Failures      int        `json:"failures" doc:"Failed attempts among them"`
	WindowSeconds int        `json:"window_seconds" doc:"The span they were counted over"`
	Opens         int        `json:"opens" doc:"Consecutive openings since the breaker last closed; each doubles the wait before a probe"`
	NextProbeAt   *time.Time `json:"next_probe_at,omitempty" doc:"When an open breaker sends its next probe"`
	FailingSince  *time.Time `json:"failing_since,omitempty" doc:"When the run of failures that opened the breaker began; a destination failing without a success for five days (configurable) is deactivated"`
}

// toCircuitBreaker maps a breaker that opened at least once; one that
// never did is closed and has nothing to explain.
func toCircuitBreaker(b *domain.Breaker) *CircuitBreaker {
	if b == nil || b.Version == 0 {
		return nil
	}
	out := &CircuitBreaker{
		State: string(b.State), Reason: b.Reason, Since: b.Since.UTC(), FailureRate: b.FailureRate,
		Attempts: b.Attempts, Failures: b.Failures, WindowSeconds: b.WindowSeconds, Opens: b.Opens,
		FailingSince: utcPtr(b.FailingSince),
	}
	if b.State == domain.BreakerStateOpen {
		out.NextProbeAt = utcPtr(b.ReopenAt)
	}
	return out
}
