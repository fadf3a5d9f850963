package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of RateLimit: generous, so that only a runaway client meets
// them.
const (
	DefaultRateLimitPerSecond = 1000
	DefaultRateLimitBurst     = 2000
)

// RateLimit is the request budget of each API key: a token bucket that
// refills at PerSecond and holds at most Burst. It lives in the process:
// with several API processes, each grants a key the full budget.
type RateLimit struct {
	// PerSecond is the sustained number of requests a key may make per
	// second (default DefaultRateLimitPerSecond); a negative value turns
	// the limit off.
	PerSecond float64
	// Burst is how many requests a key may make at once (default
	// DefaultRateLimitBurst, and never less than PerSecond).
	Burst int
}

func (r RateLimit) withDefaults() RateLimit {
	if r.PerSecond == 0 {
		r.PerSecond = DefaultRateLimitPerSecond
	}
	if r.Burst <= 0 {
		r.Burst = DefaultRateLimitBurst
	}
	r.Burst = max(r.Burst, int(math.Ceil(r.PerSecond)))
	return r
}

// keyLimiter holds one token bucket per configured API key (their number
// is fixed, so it never grows). It is safe for concurrent use.
type keyLimiter struct {
	cfg     RateLimit
	now     func() time.Time
	mu      sync.Mutex
	buckets []bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// newKeyLimiter returns a limiter for keys API keys, or nil when the limit
// is off.
func newKeyLimiter(cfg RateLimit, keys int, now func() time.Time) *keyLimiter {
	cfg = cfg.withDefaults()
	if cfg.PerSecond < 0 {
		return nil
	}
	l := &keyLimiter{cfg: cfg, now: now, buckets: make([]bucket, keys)}
	for i := range l.buckets {
		l.buckets[i] = bucket{tokens: float64(cfg.Burst), at: now()}
	}
	return l
}

// take spends one token of key i. When none is left it reports how long
// until one is.
func (l *keyLimiter) take(i int) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.buckets[i]
	now := l.now()
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = min(float64(l.cfg.Burst), b.tokens+elapsed*l.cfg.PerSecond)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.cfg.PerSecond * float64(time.Second)), false
}

// limit spends a token of key i, or answers 429 with Retry-After.
func (a *API) limit(w http.ResponseWriter, r *http.Request, key int) bool {
	if a.limiter == nil {
		return true
	}
	wait, ok := a.limiter.take(key)
	if ok {
		return true
	}
	seconds := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	writeProblem(w, r, http.StatusTooManyRequests, fmt.Sprintf(
		"this API key made more than %g requests per second (bursts up to %d): retry after %d s (Retry-After), "+
			"and spread requests out; the operator sets the limit (LOKIHOOKS_API_RATE_LIMIT)",
		a.limiter.cfg.PerSecond, a.limiter.cfg.Burst, seconds))
	return false
}
