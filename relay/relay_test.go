package relay_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/projections"
	"github.com/loki-interceptor/lokihooks/relay"
)

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func TestRelay_DeliversSignedEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL+"/in", func(s *domain.WebhookSpec) {
		s.EventTypes = []string{domain.EventTypeValidationCompleted}
		s.CustomHeaders = map[string]string{"X-Tenant": "acme"}
	})
	ev := b.publish(t, domain.EventTypeValidationCompleted, `{"document_id":"doc_456","gates_passed":8}`)
	d := b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
	require.Equal(t, 1, d.Attempts)

	reqs := rc.requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	var body struct {
		ID, Type, Timestamp string
		Data                map[string]any
	}
	require.NoError(t, json.Unmarshal(got.Body, &body))
	require.Equal(t, string(ev), body.ID)
	require.Equal(t, domain.EventTypeValidationCompleted, body.Type)
	require.Equal(t, "doc_456", body.Data["document_id"])

	stored, err := projections.PublishedBody(t.Context(), b.pool, ev)
	require.NoError(t, err)
	require.Equal(t, string(stored), string(got.Body), "the body is sent exactly as stored")

	require.Equal(t, string(ev), got.Header.Get("webhook-id"))
	require.Equal(t, domain.EventTypeValidationCompleted, got.Header.Get("X-Webhook-Event"))
	require.Equal(t, string(d.ID), got.Header.Get("X-Webhook-Delivery"))
	require.Equal(t, "1", got.Header.Get("X-Webhook-Attempt"))
	require.Equal(t, "acme", got.Header.Get("X-Tenant"))

	// Standard Webhooks, checked by the reference library.
	verifier, err := standardwebhooks.NewWebhook(hook.Secret)
	require.NoError(t, err)
	require.NoError(t, verifier.Verify(got.Body, got.Header))
	// The seed's scheme: hex HMAC-SHA256 of the raw body keyed by the secret
	// string exactly as shown to the user.
	mac := hmac.New(sha256.New, []byte(hook.Secret))
	mac.Write(got.Body)
	require.Equal(t, "sha256="+hex.EncodeToString(mac.Sum(nil)), got.Header.Get("X-Webhook-Signature"))

	as := attempts(t, b, d.ID)
	require.Len(t, as, 1)
	require.Equal(t, "[redacted]", as[0].RequestHeaders["Webhook-Signature"], "secrets never stored")

	// The signing secret is encrypted at rest, in the log and the read model.
	var logged, atRest string
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT data::text FROM events WHERE stream_id = $1 AND version = 1`, string(hook.ID)).Scan(&logged))
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT secret FROM webhooks WHERE id = $1`, string(hook.ID)).Scan(&atRest))
	require.NotContains(t, logged, hook.Secret)
	require.Contains(t, logged, `"secret": "enc:v1:`)
	require.True(t, strings.HasPrefix(atRest, "enc:v1:"))
	require.Equal(t, 200, as[0].StatusCode)
}

func TestRelay_RolledBackPublishIsNeverDelivered(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)

	tx, err := b.pool.Begin(t.Context())
	require.NoError(t, err)
	rolledBack, err := eventstore.PublishTx(t.Context(), tx, eventstore.PublishParams{
		Type: domain.EventTypeSystemError, Data: map[string]any{"error_code": "E1"},
	})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(t.Context()))

	committed := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E2"}`)
	b.waitDelivery(t, committed, hook.ID, domain.DeliveryDelivered)

	for _, r := range rc.requests() {
		require.NotEqual(t, string(rolledBack), r.Header.Get("webhook-id"))
	}
	_, err = projections.GetDelivery(t.Context(), b.pool, domain.DeliveryIDFor(rolledBack, hook.ID))
	require.ErrorIs(t, err, domain.ErrNotFound)
}

func TestRelay_RetriesWithStrategyDelays(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	hook := b.createWebhook(t, rc.URL, func(s *domain.WebhookSpec) {
		s.RetryStrategy, s.RetryDelaySeconds, s.BackoffMultiplier, s.MaxRetries = domain.RetryExponential, 10, 3, 5
	})
	ev := b.publish(t, domain.EventTypeBatchCompleted, `{"batch_id":"b1"}`)
	id := domain.DeliveryIDFor(ev, hook.ID)

	b.waitDelivery(t, ev, hook.ID, domain.DeliveryRetrying)
	b.waitScheduled(t, 1)
	b.clock.Advance(10 * time.Second)
	require.Equal(t, int64(1), b.promote(t))
	require.Eventually(t, func() bool { return len(attempts(t, b, id)) == 2 }, 20*time.Second, 5*time.Millisecond)
	b.waitScheduled(t, 1)
	b.clock.Advance(30 * time.Second)
	require.Equal(t, int64(1), b.promote(t))
	d := b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)

	require.Equal(t, 3, d.Attempts)
	as := attempts(t, b, id)
	require.Len(t, as, 3)
	require.Equal(t, domain.ErrorCategoryHTTP5xx, as[0].ErrorCategory)
	require.Equal(t, 10*time.Second, as[0].NextAttemptAt.Sub(as[0].AttemptedAt), "first retry after retry_delay_seconds")
	require.Equal(t, 30*time.Second, as[1].NextAttemptAt.Sub(as[1].AttemptedAt), "second retry after delay × multiplier")
	require.Equal(t, domain.DeliveryDelivered, as[2].Status)
	for i, r := range rc.requests() {
		require.Equal(t, string(ev), r.Header.Get("webhook-id"), "same webhook-id on every retry")
		require.Equal(t, strconv.Itoa(i+1), r.Header.Get("X-Webhook-Attempt"))
	}
}

func TestRelay_ExhaustedThenRedriven(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var healthy atomic.Bool
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if healthy.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	})
	hook := b.createWebhook(t, rc.URL, func(s *domain.WebhookSpec) {
		s.RetryStrategy, s.MaxRetries = domain.RetryFixed, 2
	})
	ev := b.publish(t, domain.EventTypeReportGenerated, `{"report_id":"r1"}`)
	d := b.waitDelivery(t, ev, hook.ID, domain.DeliveryPermanentFailure)
	require.Equal(t, 3, d.Attempts, "one attempt plus max_retries")

	dead, err := b.deliveries.ListDeliveries(t.Context(), domain.DeliveryFilter{Status: domain.DeliveryPermanentFailure})
	require.NoError(t, err)
	require.Len(t, dead, 1)

	healthy.Store(true)
	n, err := b.deliveries.Redrive(t.Context(), domain.DestinationID(hook.ID), domain.DeliveryFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	d = b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
	require.Equal(t, 4, d.Attempts)
	reqs := rc.requests()
	require.Equal(t, "4", reqs[len(reqs)-1].Header.Get("X-Webhook-Attempt"))

	n, err = b.deliveries.Redrive(t.Context(), domain.DestinationID(hook.ID), domain.DeliveryFilter{})
	require.NoError(t, err)
	require.Zero(t, n, "a delivered delivery is not redriven")
}

func TestRelay_GoneDeactivatesWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusGone))
	hook := b.createWebhook(t, rc.URL, nil)
	ev := b.publish(t, domain.EventTypeComplianceAlert, `{"alert_level":"high"}`)
	b.waitDelivery(t, ev, hook.ID, domain.DeliveryFailed)

	w, err := b.webhooks.GetWebhook(t.Context(), hook.ID)
	require.NoError(t, err)
	require.Equal(t, domain.WebhookStatusInactive, w.Status)
	require.Contains(t, w.StatusReason, "410")
	history, err := b.events.Load(t.Context(), string(hook.ID))
	require.NoError(t, err)
	require.Equal(t, domain.TypeWebhookDeactivated, history[len(history)-1].Type, "recorded as an event")
	require.Len(t, rc.requests(), 1, "410 is not retried")
}

func TestRelay_CategorisesNetworkFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)

	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select { // hold the request until the attempt's timeout cancels it
		case <-r.Context().Done():
		case <-release:
		}
	})
	timeoutHook := b.createWebhook(t, slow.URL, func(s *domain.WebhookSpec) {
		s.TimeoutSeconds, s.RetryStrategy = 1, domain.RetryNone
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String() + "/in"
	require.NoError(t, ln.Close())
	refusedHook := b.createWebhook(t, dead, func(s *domain.WebhookSpec) { s.RetryStrategy = domain.RetryNone })

	ev := b.publish(t, domain.EventTypeDocumentProcessed, `{"document_id":"d"}`)
	d := b.waitDelivery(t, ev, timeoutHook.ID, domain.DeliveryPermanentFailure)
	require.Equal(t, domain.ErrorCategoryTimeout, d.LastErrorCategory)
	d = b.waitDelivery(t, ev, refusedHook.ID, domain.DeliveryPermanentFailure)
	require.Equal(t, domain.ErrorCategoryNetwork, d.LastErrorCategory)
	code, why, _ := strings.Cut(d.LastErrorDetail, ": ")
	require.Equal(t, domain.NetworkDetailConnect, code, "the detail starts with its code word")
	require.Contains(t, why, "refused", "and says what happened")
}

func TestRelay_PausedWebhookHoldsDeliveriesUntilResume(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)
	_, err := b.webhooks.PauseWebhook(t.Context(), hook.ID, domain.ExpectAny)
	require.NoError(t, err)

	ev := b.publish(t, domain.EventTypeValidationFailed, `{"error_code":"V1"}`)
	b.waitDelivery(t, ev, hook.ID, domain.DeliveryPending)
	require.Eventually(t, func() bool { // the job was snoozed, nothing sent
		var snoozed int
		err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'deliver' AND state = 'scheduled' AND metadata ? 'snoozes'`).Scan(&snoozed)
		return err == nil && snoozed == 1
	}, 20*time.Second, 5*time.Millisecond)
	require.Empty(t, rc.requests())

	_, err = b.webhooks.ResumeWebhook(t.Context(), hook.ID, domain.ExpectAny) // wakes the parked delivery
	require.NoError(t, err)
	b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
	require.Len(t, rc.requests(), 1)
}

func TestRelay_InactiveAndDeletedWebhooksGetNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	active := b.createWebhook(t, rc.URL+"/active", nil)
	inactive := b.createWebhook(t, rc.URL+"/inactive", nil)
	deleted := b.createWebhook(t, rc.URL+"/deleted", nil)
	require.NoError(t, pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
		return app.NewDestinations(b.pool, b.events, app.Config{}).DeactivateTx(t.Context(), tx, domain.DestinationID(inactive.ID), "test")
	}))
	require.NoError(t, b.webhooks.DeleteWebhook(t.Context(), deleted.ID, domain.ExpectAny))

	ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	b.waitDelivery(t, ev, active.ID, domain.DeliveryDelivered)
	ds, err := b.deliveries.ListDeliveries(t.Context(), domain.DeliveryFilter{EventID: ev})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, domain.DestinationID(active.ID), ds[0].DestinationID)
}

// TestRelay_PoisonEventDoesNotBlock: an outbox event that cannot be
// scheduled is tried a bounded number of times, then kept in the poison
// table with its reason, while the events behind it are delivered; an
// operator can put it back once the cause is fixed.
func TestRelay_PoisonEventDoesNotBlock(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)
	// A published event whose outbox row lost its event type: scheduling
	// it fails every time.
	_, err := b.pool.Exec(t.Context(), `WITH p AS (
			INSERT INTO published_events (id, type, body) VALUES ('evt_bad', 'system.error', '{"id":"evt_bad"}')
		) INSERT INTO watermill_outbox (uuid, payload, metadata, transaction_id)
		VALUES ('evt_bad', '{"id":"evt_bad"}', '{"no_event_type":"x"}', pg_current_xact_id())`)
	require.NoError(t, err)
	ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)

	var p relay.Poisoned
	require.Eventually(t, func() bool {
		ps, err := relay.ListPoisoned(t.Context(), b.pool, 10)
		if err != nil || len(ps) != 1 {
			return false
		}
		p = ps[0]
		return p.Tries == 2 && p.NextTryAt == nil // MaxTries (2) used up, waiting for an operator
	}, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, domain.EventID("evt_bad"), p.EventID)
	require.Contains(t, p.Reason, "no event id or event_type")

	// The operator fixes the cause and retries it.
	_, err = b.pool.Exec(t.Context(), `UPDATE outbox_poison SET metadata = '{"event_type":"system.error"}'`)
	require.NoError(t, err)
	n, err := relay.RetryPoisoned(t.Context(), b.pool, nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	b.waitDelivery(t, "evt_bad", hook.ID, domain.DeliveryDelivered)
	require.Eventually(t, func() bool {
		ps, err := relay.ListPoisoned(t.Context(), b.pool, 10)
		return err == nil && len(ps) == 0
	}, 20*time.Second, 5*time.Millisecond, "a retried event that was scheduled leaves the poison table")
}

func TestRelay_RateLimitPerMinute(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	b.createWebhook(t, rc.URL, func(s *domain.WebhookSpec) { s.RateLimitPerMinute = 2 })
	for range 3 {
		b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	}
	// The third holds a token of the next minute and waits for it as a
	// scheduled job: nothing polls for a free slot.
	nextMinute := b.clock.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	require.Eventually(t, func() bool {
		var delivered, waiting, postponed int
		err := b.pool.QueryRow(t.Context(), `SELECT
			(SELECT count(*) FROM deliveries WHERE status = 'delivered'),
			(SELECT count(*) FROM river_job WHERE kind = 'deliver' AND state = 'scheduled'
				AND (args->>'reserved')::timestamptz = $1 AND scheduled_at = $1),
			(SELECT count(*) FROM events WHERE type = 'delivery.postponed.v1')`, nextMinute).Scan(&delivered, &waiting, &postponed)
		return err == nil && delivered == 2 && waiting == 1 && postponed == 1
	}, 20*time.Second, 5*time.Millisecond)
	require.Len(t, rc.requests(), 2, "the third waits for the next minute")
	var count int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count FROM rate_windows WHERE window_start = $1`, nextMinute).Scan(&count))
	require.Equal(t, 1, count, "the waiting delivery holds the next window's token")

	b.clock.Advance(nextMinute.Sub(b.clock.Now()))
	b.promote(t) // its window came: it sends without taking another token
	require.Eventually(t, func() bool { return len(rc.requests()) == 3 }, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count FROM rate_windows WHERE window_start = $1`, nextMinute).Scan(&count))
	require.Equal(t, 1, count, "no second token was taken")
}

func TestRelay_PublishThroughAPIIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)
	const data = `{"error_code":"E","component":"api","severity":"high","message":"boom"}`
	_, _, err := b.published.Publish(t.Context(), domain.PublishRequest{Type: domain.EventTypeSystemError, Data: json.RawMessage(`{"error_code":"E"}`)})
	require.ErrorIs(t, err, domain.ErrInvalid, "the API checks data against the catalog schema")
	req := domain.PublishRequest{Type: domain.EventTypeSystemError, Data: json.RawMessage(data), IdempotencyKey: "k1"}
	id1, replayed, err := b.published.Publish(t.Context(), req)
	require.NoError(t, err)
	require.False(t, replayed)
	id2, replayed, err := b.published.Publish(t.Context(), req)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, id1, id2)
	req.Data = json.RawMessage(`{"error_code":"OTHER","component":"api","severity":"high","message":"boom"}`)
	_, _, err = b.published.Publish(t.Context(), req)
	require.ErrorIs(t, err, domain.ErrIdempotencyKeyReused)
	require.NotErrorIs(t, err, domain.ErrConflict, "a reused key is not a reused event id")

	// The same event id published twice is delivered once.
	again, replayed, err := b.published.Publish(t.Context(), domain.PublishRequest{
		Type: domain.EventTypeSystemError, Data: json.RawMessage(data), ID: string(id1),
	})
	require.NoError(t, err)
	require.False(t, replayed)
	require.Equal(t, id1, again, "publishing an id again with the same content deduplicates")
	b.waitDelivery(t, id1, hook.ID, domain.DeliveryDelivered)
	ds, err := b.deliveries.ListDeliveries(t.Context(), domain.DeliveryFilter{EventID: id1})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Len(t, rc.requests(), 1)
}

func TestRelay_TraceContextReachesReceiver(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.WithoutCancel(t.Context())) })
	b := setup(t, &setupOpts{tracer: tp})
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)

	ctx, span := tp.Tracer("producer").Start(t.Context(), "validate document")
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	ev, err := eventstore.PublishTx(ctx, tx, eventstore.PublishParams{
		Type: domain.EventTypeValidationCompleted, Data: map[string]any{"document_id": "d1"},
	})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	span.End()

	b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
	got := rc.requests()[0].Header.Get("traceparent")
	require.Contains(t, got, span.SpanContext().TraceID().String(), "the producer's trace continues to the receiver")
	var deliver sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "relay.deliver" {
			deliver = s
		}
	}
	require.NotNil(t, deliver, "the worker records a span")
	require.Equal(t, span.SpanContext().TraceID(), deliver.SpanContext().TraceID())
	require.Equal(t, span.SpanContext().SpanID(), deliver.Parent().SpanID(), "the delivery span is a child of the producer's")
	require.Contains(t, got, deliver.SpanContext().SpanID().String(), "the receiver sees the delivery span as parent")
}

func TestRelay_RotatedSecretSignsDuringGrace(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, status(http.StatusOK))
	hook := b.createWebhook(t, rc.URL, nil)
	rotated, err := b.webhooks.RotateWebhookSecret(t.Context(), hook.ID, domain.ExpectAny, domain.RotateSecretParams{})
	require.NoError(t, err)
	require.NotEqual(t, hook.Secret, rotated.Secret)

	ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
	got := rc.requests()[0]
	require.Len(t, strings.Fields(got.Header.Get("webhook-signature")), 2, "new and old secret both sign")
	for _, secret := range []string{hook.Secret, rotated.Secret} {
		v, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		require.NoError(t, v.Verify(got.Body, got.Header), "verifies with either secret")
	}
	mac := hmac.New(sha256.New, []byte(rotated.Secret))
	mac.Write(got.Body)
	require.Equal(t, "sha256="+hex.EncodeToString(mac.Sum(nil)), got.Header.Get("X-Webhook-Signature"), "the legacy header uses the current secret")
}

func TestRelay_RecordsUnstorableResponses(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("nul\x00here \xff\xfe"))
	})
	hook := b.createWebhook(t, rc.URL, func(s *domain.WebhookSpec) { s.RetryStrategy = domain.RetryNone })
	ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E"}`)
	d := b.waitDelivery(t, ev, hook.ID, domain.DeliveryPermanentFailure)
	as := attempts(t, b, d.ID)
	require.Len(t, as, 1)
	require.Equal(t, "nul\uFFFDhere \uFFFD", as[0].ResponseBody, "NUL and invalid UTF-8 are replaced, not fatal")
}
