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
// happen only when a worker crashes or the database fails: outcomes of HTTP
// attempts are scheduled by the webhook's policy as new jobs.
const deliverMaxAttempts = 25

// pausedRecheck is how long a job of a paused webhook sleeps before it
// looks again (resume wakes it earlier).
const pausedRecheck = 30 * time.Second

// DeliverArgs is the River job of one attempt of one delivery.
type DeliverArgs struct {
	DeliveryID domain.DeliveryID `json:"delivery_id"`
	WebhookID  domain.WebhookID  `json:"webhook_id"`
	EventID    domain.EventID    `json:"event_id"`
	EventType  string            `json:"event_type"`
	// Attempt is the attempt number over the delivery's whole life
	// (X-Webhook-Attempt).
	Attempt int `json:"attempt"`
	// Try counts attempts since the delivery was scheduled or redriven; the
	// retry policy allows 1 + max_retries tries.
	Try int `json:"try"`
	// Trace carries the producer's W3C trace context.
	Trace map[string]string `json:"trace,omitempty"`
	// Body is the event's exact body when small enough to travel with the
	// job; otherwise the worker reads it from the outbox.
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
	store    Store
	sender   Sender
	now      func() time.Time
	random   func() float64
	logger   *slog.Logger
	tracer   trace.Tracer
	limiter  *rateLimiter
	recorder *recorder
	webhooks *webhookCache
}

// Work makes one attempt. It returns nil after recording the outcome, a
// snooze when the webhook is paused or over its rate limit, and an error
// only when recording failed (River then retries the job).
func (w *Worker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	a := job.Args
	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(a.Trace))
	ctx, span := w.tracer.Start(ctx, "relay.deliver", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("delivery_id", string(a.DeliveryID)),
			attribute.String("webhook_id", string(a.WebhookID)), attribute.Int("attempt", a.Attempt)))
	defer span.End()

	hook, err := w.webhooks.get(ctx, a.WebhookID, false)
	if err == nil && hook.Status != domain.WebhookStatusActive {
		// Only an active webhook is taken from the cache: any other status
		// is confirmed, so a resumed webhook is never held by a stale copy.
		hook, err = w.webhooks.get(ctx, a.WebhookID, true)
	}
	if errors.Is(err, domain.ErrNotFound) {
		return w.finish(ctx, job, nil, domain.DeliveryCancelled{Reason: "webhook no longer exists", At: w.now().UTC()})
	}
	if err != nil {
		return err
	}
	switch hook.Status {
	case domain.WebhookStatusPaused:
		return river.JobSnooze(pausedRecheck)
	case domain.WebhookStatusInactive, domain.WebhookStatusDeleted:
		reason := "webhook is " + string(hook.Status)
		return w.finish(ctx, job, nil, domain.DeliveryCancelled{Reason: reason, At: w.now().UTC()})
	}
	if wait, err := w.limiter.take(ctx, hook, w.now()); err != nil {
		return err
	} else if wait > 0 {
		return river.JobSnooze(wait)
	}

	body := []byte(a.Body)
	if a.Body == "" {
		body, err = w.store.EventBody(ctx, a.EventID)
		if errors.Is(err, domain.ErrNotFound) {
			return w.finish(ctx, job, nil, domain.DeliveryCancelled{Reason: "event no longer exists", At: w.now().UTC()})
		}
		if err != nil {
			return err
		}
	}
	now := w.now()
	res := w.sender.Send(ctx, domain.AttemptRequest{
		URL: hook.Spec.URL, EventID: string(a.EventID), EventType: a.EventType, DeliveryID: string(a.DeliveryID),
		Attempt: a.Attempt, Body: body, Secrets: hook.SigningSecrets(now), Headers: hook.Spec.CustomHeaders,
		Timeout: time.Duration(hook.Spec.TimeoutSeconds) * time.Second, Now: now,
	})
	if ctx.Err() != nil && errors.Is(res.Err, context.Canceled) {
		// Shutting down mid-attempt: record nothing; River runs the job again.
		return ctx.Err()
	}
	outcome := domain.DecideAttempt(hook.Spec.RetryPolicy(), a.Try, res, now, w.random())
	ev := attemptEvent(a.Attempt, res, outcome, now)
	if !res.Success {
		span.SetStatus(codes.Error, string(res.Category))
	}
	w.logger.DebugContext(ctx, "delivery attempted", "delivery_id", a.DeliveryID, "attempt", a.Attempt,
		"status_code", res.StatusCode, "duration_ms", ev.DurationMS, "status", outcome.Status)
	return w.finish(ctx, job, &outcome, ev)
}

// finish records the event, deactivates the webhook on 410, schedules the
// next attempt and completes the job, all in one transaction shared with
// other finished jobs (see recorder).
func (w *Worker) finish(ctx context.Context, job *river.Job[DeliverArgs], outcome *domain.AttemptOutcome, ev domain.Event) error {
	if err := w.recorder.submit(ctx, &record{job: job, event: ev, outcome: outcome}); err != nil {
		return fmt.Errorf("record delivery %s attempt %d: %w", job.Args.DeliveryID, job.Args.Attempt, err)
	}
	return nil
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
		ev.ErrorDetail = r.Detail
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

// webhookCache keeps webhooks for a short time so that a burst of
// deliveries to one webhook reads it once. Changes (pause, secret rotation,
// deletion) reach the workers within the TTL.
type webhookCache struct {
	store Store
	ttl   time.Duration
	mu    sync.Mutex
	items map[domain.WebhookID]cachedWebhook
}

type cachedWebhook struct {
	hook    *domain.Webhook
	fetched time.Time
}

func (c *webhookCache) get(ctx context.Context, id domain.WebhookID, fresh bool) (*domain.Webhook, error) {
	if c.ttl > 0 && !fresh {
		c.mu.Lock()
		e, ok := c.items[id]
		c.mu.Unlock()
		if ok && time.Since(e.fetched) < c.ttl {
			return e.hook, nil
		}
	}
	hook, err := c.store.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if len(c.items) > maxCachedWebhooks {
			clear(c.items)
		}
		c.items[id] = cachedWebhook{hook: hook, fetched: time.Now()}
		c.mu.Unlock()
	}
	return hook, nil
}

// maxCachedWebhooks bounds the cache; past it the cache starts over.
const maxCachedWebhooks = 10000
