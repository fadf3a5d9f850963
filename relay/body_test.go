package relay_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/projections"
)

// TestRelay_BodySources: the body of an event is stored once, in
// published_events; lokihooks_publish writes its outbox row without a
// payload, and the job carries none: the worker reads it. Every way an
// outbox row can name its body is delivered byte for byte: from
// published_events, and from the row's own payload, with or without a
// published event behind it.
func TestRelay_BodySources(t *testing.T) {
	t.Parallel()

	deliveredBody := func(t *testing.T, rc *receiver, ev domain.EventID) []byte {
		t.Helper()
		for _, r := range rc.requests() {
			if r.Header.Get("webhook-id") == string(ev) {
				return r.Body
			}
		}
		t.Fatalf("no request for %s", ev)
		return nil
	}

	// jobCarriesBody answers 200 and tells, for each request, whether the
	// job being run (it is, while its request arrives) carries the body.
	jobCarriesBody := func(b *testBundle, inJob chan<- bool) func(int, http.ResponseWriter, *http.Request) {
		return func(_ int, w http.ResponseWriter, r *http.Request) {
			var has bool
			err := b.pool.QueryRow(r.Context(), `SELECT args ? 'body' FROM river_job WHERE args->>'event_id' = $1`,
				r.Header.Get("webhook-id")).Scan(&has)
			if err == nil {
				inJob <- has
			}
			w.WriteHeader(http.StatusOK)
		}
	}

	t.Run("PublishedBody", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		inJob := make(chan bool, 1)
		rc := newReceiver(t, jobCarriesBody(b, inJob))
		hook := b.createWebhook(t, rc.URL, nil)
		// Escapes, non-ASCII text and the member name the data is found
		// by inside a string: the body travels as a JSON string.
		ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E\"1\\n\u0007","note":"é ✓ ,\"data\":{}"}`)
		b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)

		var payload *string
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT payload::text FROM watermill_outbox WHERE uuid = $1`, string(ev)).Scan(&payload))
		require.Nil(t, payload, "the outbox row does not carry the body")
		require.False(t, <-inJob, "the job does not carry the body")
		stored, err := projections.PublishedBody(t.Context(), b.pool, ev)
		require.NoError(t, err)
		require.Equal(t, string(stored), string(deliveredBody(t, rc, ev)))
	})

	t.Run("FanoutHandsTheBodyToItsWorkers", func(t *testing.T) {
		t.Parallel()
		reads := &bodyReads{}
		b := setup(t, &setupOpts{queries: reads})
		rc := newReceiver(t, nil)
		hook := b.createWebhook(t, rc.URL, nil)
		ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"E1"}`)
		b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
		stored, err := projections.PublishedBody(t.Context(), b.pool, ev)
		require.NoError(t, err)
		require.Equal(t, string(stored), string(deliveredBody(t, rc, ev)))
		require.Zero(t, reads.n.Load(), "the workers of the fan-out's process read no body")
	})

	t.Run("LargeBodyReadByTheWorker", func(t *testing.T) {
		t.Parallel()
		obs := &publishedObserver{}
		reads := &bodyReads{}
		b := setup(t, &setupOpts{observer: obs, queries: reads})
		inJob := make(chan bool, 1)
		rc := newReceiver(t, jobCarriesBody(b, inJob))
		hook := b.createWebhook(t, rc.URL, nil)
		big := strings.Repeat("x", 20<<10)
		ev := b.publish(t, domain.EventTypeSystemError, `{"error_code":"`+big+`"}`)
		b.waitDelivery(t, ev, hook.ID, domain.DeliveryDelivered)
		require.False(t, <-inJob, "the job does not carry the body")
		require.Positive(t, reads.n.Load(), "a body over 16 KiB is not handed over: the worker reads it")
		stored, err := projections.PublishedBody(t.Context(), b.pool, ev)
		require.NoError(t, err)
		require.Equal(t, string(stored), string(deliveredBody(t, rc, ev)))

		// The first attempt's latency is known from the body sent, whatever
		// its size.
		e, err := projections.GetPublishedEvent(t.Context(), b.pool, ev)
		require.NoError(t, err)
		require.Equal(t, []time.Time{e.PublishedAt.Truncate(time.Microsecond)}, obs.times())
	})

	t.Run("OutboxPayloadWithoutPublishedEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		inJob := make(chan bool, 1)
		rc := newReceiver(t, jobCarriesBody(b, inJob))
		hook := b.createWebhook(t, rc.URL, nil)
		// Written by hand, as a producer that does not call lokihooks_publish
		// would: the payload, kept byte for byte, rides in the job and is
		// what is sent.
		const body = `{"id":"evt_by_hand","type":"system.error",  "data":{"error_code":"H"}}`
		_, err := b.pool.Exec(t.Context(), `INSERT INTO watermill_outbox (uuid, payload, metadata, transaction_id)
			VALUES ('evt_by_hand', $1, '{"event_type":"system.error"}', pg_current_xact_id())`, body)
		require.NoError(t, err)
		b.waitDelivery(t, "evt_by_hand", hook.ID, domain.DeliveryDelivered)
		require.Equal(t, body, string(deliveredBody(t, rc, "evt_by_hand")))
		require.True(t, <-inJob, "the job carries the body")
	})

	t.Run("OutboxPayloadBeforePublishedBody", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		rc := newReceiver(t, status(http.StatusOK))
		hook := b.createWebhook(t, rc.URL, nil)
		// A row written by lokihooks_publish before migration 0010 carries
		// the body as its payload, equal to the published one; the payload
		// is what the fan-out takes (made different here to tell).
		_, err := b.pool.Exec(t.Context(), `WITH p AS (
				INSERT INTO published_events (id, type, body) VALUES ('evt_old', 'system.error', '{"id":"evt_old","v":"published"}')
			) INSERT INTO watermill_outbox (uuid, payload, metadata, transaction_id)
			VALUES ('evt_old', '{"id":"evt_old","v":"outbox"}', '{"event_type":"system.error"}', pg_current_xact_id())`)
		require.NoError(t, err)
		b.waitDelivery(t, "evt_old", hook.ID, domain.DeliveryDelivered)
		require.JSONEq(t, `{"id":"evt_old","v":"outbox"}`, string(deliveredBody(t, rc, "evt_old")))
	})
}

// TestRelay_EventsAPIReturnsPublishedData: GET /api/v1/events and
// /api/v1/events/{id}, which take the data from the stored body, return it
// as it was published.
func TestRelay_EventsAPIReturnsPublishedData(t *testing.T) {
	t.Parallel()
	b := setup(t, &setupOpts{noWork: true})
	call := b.apiCaller(t)
	const data = `{"component":"c","message":"m","severity":"high","error_code":"E\"1 ,\"data\":{}","big":12345678901234567890,"f":1.50,"nested":{"list":[1,"é",null,true]}}`
	var published struct{ ID string }
	require.NoError(t, json.Unmarshal(call(http.MethodPost, "/api/v1/events",
		[]byte(`{"type":"system.error","data":`+data+`}`), http.StatusAccepted), &published))
	viaSQL := b.publish(t, domain.EventTypeSystemError, data)

	type event struct {
		ID   string
		Data json.RawMessage
	}
	for _, id := range []string{published.ID, string(viaSQL)} {
		var one event
		require.NoError(t, json.Unmarshal(call(http.MethodGet, "/api/v1/events/"+id, nil, http.StatusOK), &one))
		require.JSONEq(t, data, string(one.Data))
		require.Contains(t, string(one.Data), "12345678901234567890", "integers beyond 2^53 are not rounded")
	}
	var list struct{ Data []event }
	require.NoError(t, json.Unmarshal(call(http.MethodGet, "/api/v1/events?type=system.error", nil, http.StatusOK), &list))
	require.Len(t, list.Data, 2)
	for _, e := range list.Data {
		require.JSONEq(t, data, string(e.Data), "event %s", e.ID)
	}
}

// publishedObserver keeps the publication times the workers report with
// attempts.
type publishedObserver struct {
	mu        sync.Mutex
	published []time.Time
}

func (o *publishedObserver) DeliveryRecorded(_ context.Context, _ domain.DestinationKind, ev domain.Event, published time.Time) {
	if _, ok := ev.(domain.DeliveryAttempted); !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.published = append(o.published, published)
}

func (*publishedObserver) BreakerChanged(context.Context, []domain.Event) {}

func (o *publishedObserver) times() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.published...)
}

// bodyReads counts the workers' reads of published bodies.
type bodyReads struct{ n atomic.Int64 }

func (q *bodyReads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(data.SQL, "SELECT id, body FROM published_events WHERE id = ANY") {
		q.n.Add(1)
	}
	return ctx
}

func (*bodyReads) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
