package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/loki-interceptor/lokihooks/domain"
)

// DeliveryQueue is the River queue of delivery jobs.
const DeliveryQueue = "deliveries"

// deliverMaxAttempts bounds River's own retries of a delivery job, which
// happen only when a worker crashes or the database fails: outcomes of
// attempts are scheduled by the destination's policy as new jobs.
const deliverMaxAttempts = 25

// DeliverArgs is the River job of one attempt of one delivery.
type DeliverArgs struct {
	DeliveryID    domain.DeliveryID    `json:"delivery_id"`
	DestinationID domain.DestinationID `json:"destination_id"`
	// DestinationKind selects the connector (the job's Kind is "deliver").
	DestinationKind domain.DestinationKind `json:"kind"`
	EventID         domain.EventID         `json:"event_id"`
	EventType       string                 `json:"event_type"`
	// Attempt is the attempt number over the delivery's whole life
	// (X-Webhook-Attempt).
	Attempt int `json:"attempt"`
	// Try counts attempts since the delivery was scheduled or redriven; the
	// retry policy allows 1 + max_retries tries.
	Try int `json:"try"`
	// Reserved is the start of the rate-limit window whose token this job
	// already holds (it was postponed to it); zero if none.
	Reserved time.Time `json:"reserved,omitzero"`
	// Trace carries the producer's W3C trace context.
	Trace map[string]string `json:"trace,omitempty"`
	// Body is the event's exact body when its outbox row carried one (not
	// written by lokihooks_publish) small enough to travel with the job;
	// otherwise the worker reads it from the published events, which keep
	// the one copy (River writes a job's args twice: at insert and at
	// fetch).
	Body string `json:"body,omitempty"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "deliver" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: DeliveryQueue, MaxAttempts: deliverMaxAttempts}
}

// Worker runs delivery jobs.
type Worker struct {
	river.WorkerDefaults[DeliverArgs]
	deps     Deps
	cfg      Config
	logger   *slog.Logger
	tracer   trace.Tracer
	limiter  *rateLimiter
	recorder *recorder
	cache    *destinationCache
	batcher  *batcher
	breakers *breakers
	bodies   *bodies
}

// quickRetries is how many times a job that failed for want of the
// database is retried soon (after 1, 2, 4, 8 and 16 seconds) before
// River's default policy (hours, then days) takes over.
const quickRetries = 5

// infraRetry is when a job that failed on its attempt'th run runs again:
// soon for the first quickRetries, then as River's policy says (zero).
func infraRetry(attempt int) time.Time {
	if attempt < 1 || attempt > quickRetries {
		return time.Time{}
	}
	return time.Now().Add(time.Second << (attempt - 1))
}

// NextRetry implements river.Worker. Outcomes of attempts are scheduled by
// the destination's policy as new jobs; a deliver job fails only when its
// outcome could not be recorded (the database was away), so it is retried
// soon.
func (w *Worker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	return infraRetry(job.Attempt)
}

// Work makes one attempt. It returns nil after recording the outcome, a
// snooze when the destination is paused or its circuit breaker holds
// deliveries (the delivery is parked), and an error only when recording
// failed (River then runs the job again). A delivery woken as the probe of
// a half-open breaker is sent alone, and its outcome closes or reopens
// the breaker.
func (w *Worker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	a := job.Args
	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(a.Trace))
	ctx, span := w.tracer.Start(ctx, "relay.deliver", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("delivery_id", string(a.DeliveryID)),
			attribute.String("destination_id", string(a.DestinationID)), attribute.Int("attempt", a.Attempt)))
	defer span.End()

	dest, err := w.cache.get(ctx, a.DestinationID)
	if errors.Is(err, domain.ErrNotFound) {
		return w.cancel(ctx, job, "destination no longer exists")
	}
	if err != nil {
		return err
	}
	switch dest.Status {
	case domain.WebhookStatusPaused:
		// Parked: nothing polls it; resuming wakes it (Relay.Wake).
		return river.JobSnooze(w.cfg.ParkFor)
	case domain.WebhookStatusInactive, domain.WebhookStatusDeleted:
		return w.cancel(ctx, job, "destination is "+string(dest.Status))
	}
	probe := false
	if w.breakers.enabled(dest) {
		switch dest.Breaker.State {
		case domain.BreakerStateOpen:
			return w.breakers.hold(ctx, dest, w.cfg.ParkFor)
		case domain.BreakerStateHalfOpen:
			if !isProbe(job.JobRow) {
				return w.breakers.hold(ctx, dest, w.cfg.ParkFor)
			}
			probe = true
		}
	}
	now := w.cfg.NowFunc()
	if hasLimits(dest) && (a.Reserved.IsZero() || a.Reserved.After(now)) {
		window, err := w.limiter.reserve(ctx, dest, now)
		if err != nil {
			return err
		}
		if window.After(now) {
			return w.postpone(ctx, job, window, now)
		}
	}
	if dest.BatchSize > 1 && !probe {
		// Sent with others by the destination's flush job (batch.go).
		return w.batcher.park(ctx, job, dest)
	}
	body, err := eventBody(ctx, w.bodies, a)
	if errors.Is(err, domain.ErrNotFound) {
		return w.cancel(ctx, job, "event no longer exists")
	}
	if err != nil {
		return err
	}
	res := w.deps.Sender.Send(ctx, domain.AttemptRequest{
		Kind: dest.Kind, DestinationID: dest.ID, URL: dest.URL, EventID: string(a.EventID), EventType: a.EventType,
		DeliveryID: string(a.DeliveryID), Attempt: a.Attempt, Body: body, Secrets: dest.Secrets,
		Headers: dest.Headers, SecretHeaders: dest.SecretHeaders, Config: dest.Config, Credentials: dest.Credentials,
		Timeout: dest.Timeout, Now: now,
	})
	if ctx.Err() != nil && errors.Is(res.Err, context.Canceled) {
		// Shutting down mid-attempt: record nothing; River runs the job again.
		return ctx.Err()
	}
	w.breakers.observe(dest.ID, res, now)
	outcome := domain.DecideAttempt(dest.Retry, a.Try, res, now, w.cfg.RandomFunc())
	ev := attemptEvent(a.Attempt, res, outcome, now)
	if !res.Success {
		span.SetStatus(codes.Error, string(res.Category))
	}
	w.logger.DebugContext(ctx, "delivery attempted", "delivery_id", a.DeliveryID, "attempt", a.Attempt,
		"status_code", res.StatusCode, "duration_ms", ev.DurationMS, "status", outcome.Status)
	rec := &record{job: job, event: ev, deactivate: outcome.Deactivate, published: firstPublished(a.Attempt, body)}
	if outcome.Status == domain.DeliveryRetrying {
		next := a
		next.Attempt, next.Try, next.Reserved = a.Attempt+1, a.Try+1, time.Time{}
		rec.next = &river.InsertManyParams{Args: next, InsertOpts: &river.InsertOpts{ScheduledAt: *outcome.NextAttemptAt}}
	}
	if err := w.finish(ctx, rec); err != nil || !probe {
		return err
	}
	if err := w.breakers.probed(ctx, dest, res, now); err != nil {
		// The attempt is recorded; the breaker job wakes another probe.
		w.logger.WarnContext(ctx, "deciding on a probe failed", "destination_id", dest.ID, "error", err)
	}
	return nil
}

// cancel records that the delivery is dropped without an attempt.
func (w *Worker) cancel(ctx context.Context, job *river.Job[DeliverArgs], reason string) error {
	return w.finish(ctx, &record{job: job, event: domain.DeliveryCancelled{Reason: reason, At: w.cfg.NowFunc().UTC()}})
}

// postpone records that the attempt waits for the rate-limit window whose
// token it reserved, and schedules it there.
func (w *Worker) postpone(ctx context.Context, job *river.Job[DeliverArgs], window, now time.Time) error {
	next := job.Args
	next.Reserved = window
	return w.finish(ctx, &record{
		job:   job,
		event: domain.DeliveryPostponed{Reason: domain.PostponedRateLimited, Until: window.UTC(), At: now.UTC()},
		next:  &river.InsertManyParams{Args: next, InsertOpts: &river.InsertOpts{ScheduledAt: window}},
	})
}

// finish records the event, deactivates the destination on 410, schedules
// the next job and completes this one, all in one transaction shared with
// other finished jobs (see recorder).
func (w *Worker) finish(ctx context.Context, rec *record) error {
	if err := w.recorder.submit(ctx, rec); err != nil {
		a := rec.job.Args
		return fmt.Errorf("record delivery %s attempt %d: %w", a.DeliveryID, a.Attempt, err)
	}
	return nil
}

func hasLimits(d *domain.Destination) bool {
	return d.RateLimitPerMinute > 0 || d.RateLimitPerHour > 0
}

// attemptEvent converts a result into the recorded event.
func attemptEvent(attempt int, r domain.AttemptResult, o domain.AttemptOutcome, now time.Time) domain.DeliveryAttempted {
	ev := domain.DeliveryAttempted{
		Attempt: attempt, RequestHeaders: flatten(r.RequestHeaders), StatusCode: r.StatusCode,
		ResponseHeaders: flatten(r.ResponseHeaders), ResponseBody: storableText(string(r.ResponseBody)),
		Truncated: r.Truncated, DurationMS: float64(r.Duration.Microseconds()) / 1000,
		ErrorCategory: r.Category, Status: o.Status, NextAttemptAt: o.NextAttemptAt, At: now.UTC(),
	}
	if !r.Success {
		ev.ErrorDetail = storableText(r.Detail)
	}
	return ev
}

func flatten(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[storableText(k)] = storableText(strings.Join(v, ", "))
	}
	return out
}

// storableText makes what a receiver sent storable in PostgreSQL text and
// jsonb: invalid UTF-8 and NUL characters become U+FFFD. Left as they are,
// they would fail the recording transaction on every retry.
func storableText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func defaultRandom() float64 { return rand.Float64() } //nolint:gosec // jitter, not security

// destinationCache keeps active destinations whose breaker is closed for a
// short time so that a burst of deliveries to one destination reads it
// once. Any other destination is read again every time, so a resumed
// destination, or one whose breaker closed, is never held back by a stale
// copy.
type destinationCache struct {
	source Destinations
	ttl    time.Duration
	mu     sync.Mutex
	items  map[domain.DestinationID]cachedDestination
}

type cachedDestination struct {
	dest    *domain.Destination
	fetched time.Time
}

// maxCachedDestinations bounds the cache; past it the cache starts over.
const maxCachedDestinations = 10000

func newDestinationCache(source Destinations, ttl time.Duration) *destinationCache {
	return &destinationCache{source: source, ttl: ttl, items: map[domain.DestinationID]cachedDestination{}}
}

// forget drops a destination, so that the next delivery reads it again (its
// breaker changed in this process).
func (c *destinationCache) forget(id domain.DestinationID) {
	c.mu.Lock()
	delete(c.items, id)
	c.mu.Unlock()
}

func (c *destinationCache) get(ctx context.Context, id domain.DestinationID) (*domain.Destination, error) {
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.items[id]
		c.mu.Unlock()
		if ok && time.Since(e.fetched) < c.ttl {
			return e.dest, nil
		}
	}
	dest, err := c.source.Destination(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.ttl > 0 && dest.Status == domain.WebhookStatusActive &&
		(dest.Breaker == nil || dest.Breaker.State == domain.BreakerStateClosed) {
		c.mu.Lock()
		if len(c.items) >= maxCachedDestinations {
			clear(c.items)
		}
		c.items[id] = cachedDestination{dest: dest, fetched: time.Now()}
		c.mu.Unlock()
	}
	return dest, nil
}
