package httpapi_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/httpapi"
)

const eventsPath = "/api/v1/events"

// fakePipeline is an in-memory httpapi.Pipeline for HTTP-mapping tests: it
// serves the configured events and deliveries and records every call. The
// real pipeline is tested end to end elsewhere. Configure it before the
// first request.
type fakePipeline struct {
	// Configuration.
	publishID       domain.EventID
	publishReplayed bool
	publishErr      error
	events          []domain.PublishedEvent // in Seq order
	deliveries      []domain.DeliveryView   // in (CreatedAt, ID) order
	attempts        []domain.AttemptView    // of every delivery
	redriven        int
	redriveErr      error
	testResult      domain.AttemptResult
	testErr         error

	mu    sync.Mutex
	calls pipelineCalls
}

// pipelineCalls are the arguments the fake received, in order.
type pipelineCalls struct {
	published       []domain.PublishRequest
	eventFilters    []domain.PublishedEventFilter
	eventIDs        []domain.EventID
	deliveryFilters []domain.DeliveryFilter
	deliveryIDs     []domain.DeliveryID
	redrives        []redriveCall
	tested          []domain.WebhookID
}

type redriveCall struct {
	webhookID domain.DestinationID
	filter    domain.DeliveryFilter
}

var (
	_ httpapi.Events     = (*fakePipeline)(nil)
	_ httpapi.Deliveries = (*fakePipeline)(nil)
)

// seen returns what the fake has received so far.
func (f *fakePipeline) seen() pipelineCalls {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// requireUntouched requires that no request reached the fake.
func (f *fakePipeline) requireUntouched(t *testing.T) {
	t.Helper()
	require.Equal(t, pipelineCalls{}, f.seen())
}

func (f *fakePipeline) Publish(_ context.Context, p domain.PublishRequest) (domain.EventID, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.published = append(f.calls.published, p)
	if f.publishErr != nil {
		return "", false, f.publishErr
	}
	return f.publishID, f.publishReplayed, nil
}

func (f *fakePipeline) GetEvent(_ context.Context, id domain.EventID) (*domain.PublishedEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.eventIDs = append(f.calls.eventIDs, id)
	for i := range f.events {
		if f.events[i].ID == id {
			ev := f.events[i]
			return &ev, nil
		}
	}
	return nil, fmt.Errorf("get event %s: %w", id, domain.ErrNotFound)
}

func (f *fakePipeline) ListEvents(_ context.Context, filter domain.PublishedEventFilter) ([]domain.PublishedEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.eventFilters = append(f.calls.eventFilters, filter)
	var out []domain.PublishedEvent
	for _, ev := range f.events {
		if ev.Seq > filter.AfterSeq && len(out) < filter.Limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (f *fakePipeline) ListDeliveries(_ context.Context, filter domain.DeliveryFilter) ([]domain.DeliveryView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.deliveryFilters = append(f.calls.deliveryFilters, filter)
	var out []domain.DeliveryView
	for _, d := range f.deliveries {
		after := filter.After == nil || cmp.Or(d.CreatedAt.Compare(filter.After.CreatedAt), strings.Compare(string(d.ID), string(filter.After.ID))) > 0
		if after && len(out) < filter.Limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func (f *fakePipeline) GetDelivery(_ context.Context, id domain.DeliveryID) (*domain.DeliveryView, []domain.AttemptView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.deliveryIDs = append(f.calls.deliveryIDs, id)
	for i := range f.deliveries {
		if f.deliveries[i].ID == id {
			d := f.deliveries[i]
			return &d, f.attempts, nil
		}
	}
	return nil, nil, fmt.Errorf("get delivery %s: %w", id, domain.ErrNotFound)
}

func (f *fakePipeline) Redrive(_ context.Context, webhookID domain.DestinationID, filter domain.DeliveryFilter) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.redrives = append(f.calls.redrives, redriveCall{webhookID, filter})
	return f.redriven, f.redriveErr
}

func (f *fakePipeline) TestWebhook(_ context.Context, webhookID domain.WebhookID) (domain.AttemptResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.tested = append(f.calls.tested, webhookID)
	return f.testResult, f.testErr
}

// fakeWebhooks satisfies httpapi.Webhooks with the fake's TestWebhook and
// a GetWebhook that knows wh_1 and wh_2; the event and delivery operations
// never call the rest (a call panics on the nil interface).
type fakeWebhooks struct {
	httpapi.Webhooks
	fake *fakePipeline
}

func (w fakeWebhooks) GetWebhook(_ context.Context, id domain.WebhookID) (*domain.Webhook, error) {
	if id != "wh_1" && id != "wh_2" {
		return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrNotFound)
	}
	spec := domain.DefaultWebhookSpec()
	spec.CustomHeaders = map[string]string{"X-Api-Key": "k", "X-Tenant": "acme"}
	spec.SecretHeaders = []string{"X-Api-Key"}
	return &domain.Webhook{ID: id, Spec: spec, Status: domain.WebhookStatusActive, Version: 1}, nil
}

func (w fakeWebhooks) TestWebhook(ctx context.Context, id domain.WebhookID) (domain.AttemptResult, error) {
	return w.fake.TestWebhook(ctx, id)
}

// setupPipeline serves the API over real HTTP with a fake Pipeline, so
// routing, body limits and authentication are exercised.
func setupPipeline(t *testing.T) (*fakePipeline, *testBundle) {
	t.Helper()
	fake := &fakePipeline{}
	api := httpapi.New(httpapi.Deps{Events: fake, Deliveries: fake, Webhooks: fakeWebhooks{fake: fake}}, httpapi.Config{
		APIKeys: []string{testKey},
		Logger:  slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	server := httptest.NewServer(api)
	t.Cleanup(server.Close)
	return fake, &testBundle{api: api, server: server}
}

func publish(body any, headers map[string]string) request {
	return request{method: http.MethodPost, path: eventsPath, body: body, headers: headers}
}

func TestAPI_PublishEvent(t *testing.T) {
	t.Parallel()

	t.Run("Accepted", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishID = "order-42:shipped"
		r := b.do(t, publish(`{"type": "compliance.alert", "id": "order-42:shipped",
			"data": {"big": 12345678901234567890, "nested": {"list": [1, "two", null]}},
			"metadata": {"source": "billing"}}`, map[string]string{"Idempotency-Key": "key-1"}))
		got := decode[httpapi.PublishEventResult](t, r, http.StatusAccepted)
		require.Equal(t, httpapi.PublishEventResult{ID: "order-42:shipped", Type: "compliance.alert", Status: "accepted"}, got)
		require.Equal(t, "/api/v1/events/order-42:shipped", r.header.Get("Location"))
		require.Empty(t, r.header.Values("Idempotent-Replayed"))

		calls := fake.seen().published
		require.Len(t, calls, 1)
		p := calls[0]
		require.JSONEq(t, `{"big": 12345678901234567890, "nested": {"list": [1, "two", null]}}`, string(p.Data))
		require.Contains(t, string(p.Data), "12345678901234567890", "integers beyond 2^53 must not be rounded")
		p.Data = nil
		require.Equal(t, domain.PublishRequest{
			Type: "compliance.alert", ID: "order-42:shipped", Metadata: map[string]string{"source": "billing"}, IdempotencyKey: "key-1",
		}, p)
	})

	t.Run("MinimalBody", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishID = "evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"
		r := b.do(t, publish(map[string]any{"type": "validation.failed", "data": map[string]any{}}, nil))
		got := decode[httpapi.PublishEventResult](t, r, http.StatusAccepted)
		require.Equal(t, "evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC", got.ID)
		require.Equal(t, "/api/v1/events/evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC", r.header.Get("Location"))
		require.Equal(t, []domain.PublishRequest{{Type: "validation.failed", Data: json.RawMessage(`{}`)}}, fake.seen().published)
	})

	t.Run("Replayed", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishID, fake.publishReplayed = "evt_1", true
		r := b.do(t, publish(map[string]any{"type": "compliance.alert", "data": map[string]any{"a": 1}}, map[string]string{"Idempotency-Key": "key-1"}))
		got := decode[httpapi.PublishEventResult](t, r, http.StatusAccepted)
		require.Equal(t, httpapi.PublishEventResult{ID: "evt_1", Type: "compliance.alert", Status: "accepted"}, got)
		require.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
		require.Equal(t, "/api/v1/events/evt_1", r.header.Get("Location"))
	})

	t.Run("StructuredFieldKey", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishID = "evt_1"
		r := b.do(t, publish(map[string]any{"type": "compliance.alert", "data": map[string]any{}}, map[string]string{"Idempotency-Key": `"key-1"`}))
		require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
		require.Equal(t, "key-1", fake.seen().published[0].IdempotencyKey)
	})

	t.Run("IdempotencyKeyForms", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishID = "evt_1"
		body := map[string]any{"type": "compliance.alert", "data": map[string]any{}}
		for header, key := range map[string]string{
			`key-1`: "key-1", ` key-2 `: "key-2", `"key-3"`: "key-3", `"a \"quoted\" \\ key"`: `a "quoted" \ key`,
		} {
			r := b.do(t, publish(body, map[string]string{"Idempotency-Key": header}))
			require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
			calls := fake.seen().published
			require.Equal(t, key, calls[len(calls)-1].IdempotencyKey, header)
		}
		for _, header := range []string{" ", `""`, `"unterminated`, `"a"b"`, `"bad \x escape"`, "\"tab\tinside\"", "\"\xff\""} {
			p := requireProblem(t, b.do(t, publish(body, map[string]string{"Idempotency-Key": header})), http.StatusUnprocessableEntity)
			require.Equal(t, []string{"header.Idempotency-Key"}, errorLocations(p), "%q", header)
		}
	})

	t.Run("UnknownType", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishErr = fmt.Errorf("publish: %w", domain.ErrUnknownEventType)
		r := b.do(t, publish(map[string]any{"type": "nope.nothing", "data": map[string]any{}}, nil))
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.type"}, errorLocations(p))
		require.Equal(t, "nope.nothing", p.Errors[0].Value)
		require.Contains(t, p.Errors[0].Message, "GET /api/v1/event-types")
		require.NotContains(t, p.Errors[0].Message, "list-event-types", "an operation id means nothing to a user")
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishErr = fmt.Errorf("publish: %w", &domain.ValidationError{Fields: []domain.FieldError{{Field: "data.severity", Message: "is required"}}})
		r := b.do(t, publish(map[string]any{"type": "compliance.alert", "data": map[string]any{}}, nil))
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.data.severity"}, errorLocations(p))
	})

	t.Run("IdempotencyKeyConflict", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishErr = fmt.Errorf("publish: %w", domain.ErrIdempotencyKeyReused)
		r := b.do(t, publish(map[string]any{"type": "compliance.alert", "id": "order-42", "data": map[string]any{}}, map[string]string{"Idempotency-Key": "key-1"}))
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.Equal(t, "Idempotency-Key was already used with a different request", p.Detail)
		require.Equal(t, []string{"header.Idempotency-Key"}, errorLocations(p))
		require.Contains(t, p.Errors[0].Message, "send a new key")
	})

	t.Run("EventIDConflict", func(t *testing.T) {
		t.Parallel()
		// Reported as the event id's conflict even when a key was sent.
		fake, b := setupPipeline(t)
		fake.publishErr = fmt.Errorf("publish compliance.alert: event id %q was already published with different content: %w", "order-42", domain.ErrConflict)
		for _, headers := range []map[string]string{nil, {"Idempotency-Key": "key-1"}} {
			r := b.do(t, publish(map[string]any{"type": "compliance.alert", "id": "order-42", "data": map[string]any{}}, headers))
			p := requireProblem(t, r, http.StatusConflict)
			require.Equal(t, `event id "order-42" was already published with different content`, p.Detail)
			require.Equal(t, []string{"body.id"}, errorLocations(p))
			require.NotContains(t, string(r.body), "Idempotency-Key")
		}
	})

	t.Run("StateTransition", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.redriveErr = fmt.Errorf("redrive delivery dlv_1: delivered: %w", domain.ErrStateTransition)
		p := requireProblem(t, b.do(t, retryRequest(nil)), http.StatusConflict)
		require.Equal(t, "redrive delivery dlv_1: delivered: invalid state transition; GET the resource to see its current state", p.Detail)
	})

	t.Run("InternalError", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.publishErr = fmt.Errorf("append outbox: connection reset")
		r := b.do(t, publish(map[string]any{"type": "compliance.alert", "data": map[string]any{}}, nil))
		p := requireProblem(t, r, http.StatusInternalServerError)
		require.Equal(t, "internal error: the server logged the details; retry later, and tell the operator if it persists", p.Detail)
		require.NotContains(t, string(r.body), "connection reset")
	})

	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		data := map[string]any{}
		for _, c := range []struct {
			name     string
			body     any
			headers  map[string]string
			status   int
			location string
		}{
			{"DataArray", `{"type": "compliance.alert", "data": [1]}`, nil, http.StatusUnprocessableEntity, "body.data"},
			{"DataString", `{"type": "compliance.alert", "data": "x"}`, nil, http.StatusUnprocessableEntity, "body.data"},
			{"DataNumber", `{"type": "compliance.alert", "data": 5}`, nil, http.StatusUnprocessableEntity, "body.data"},
			{"DataNull", `{"type": "compliance.alert", "data": null}`, nil, http.StatusUnprocessableEntity, "body.data"},
			{"DataMissing", `{"type": "compliance.alert"}`, nil, http.StatusUnprocessableEntity, "body"},
			{"DataWithNUL", `{"type": "compliance.alert", "data": {"a": "x\u0000y"}}`, nil, http.StatusUnprocessableEntity, "body.data"},
			{"TypeMissing", map[string]any{"data": data}, nil, http.StatusUnprocessableEntity, "body"},
			{"TypeEmpty", map[string]any{"type": "", "data": data}, nil, http.StatusUnprocessableEntity, "body.type"},
			{"TypeNotString", map[string]any{"type": 5, "data": data}, nil, http.StatusUnprocessableEntity, "body.type"},
			{"BadID", map[string]any{"type": "compliance.alert", "id": "has space", "data": data}, nil, http.StatusUnprocessableEntity, "body.id"},
			{"LongID", map[string]any{"type": "compliance.alert", "id": strings.Repeat("a", 201), "data": data}, nil, http.StatusUnprocessableEntity, "body.id"},
			{"MetadataNotString", map[string]any{"type": "compliance.alert", "data": data, "metadata": map[string]any{"n": 1}}, nil, http.StatusUnprocessableEntity, "body.metadata.n"},
			{"UnknownField", map[string]any{"type": "compliance.alert", "data": data, "colour": "red"}, nil, http.StatusUnprocessableEntity, "body.colour"},
			{"LongIdempotencyKey", map[string]any{"type": "compliance.alert", "data": data}, map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, http.StatusUnprocessableEntity, "header.Idempotency-Key"},
			{"NotJSON", `{"type": `, nil, http.StatusBadRequest, "body"},
			{"EmptyBody", "", nil, http.StatusBadRequest, ""},
			{"Oversized", `{"type": "compliance.alert", "data": {"blob": "` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}}`, nil, http.StatusRequestEntityTooLarge, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				fake, b := setupPipeline(t)
				p := requireProblem(t, b.do(t, publish(c.body, c.headers)), c.status)
				if c.location != "" {
					require.Contains(t, errorLocations(p), c.location, "detail: %s", p.Detail)
				}
				fake.requireUntouched(t)
			})
		}
	})
}

// testEvents returns n published events with Seq 1..n.
func testEvents(n int) []domain.PublishedEvent {
	out := make([]domain.PublishedEvent, n)
	for i := range out {
		out[i] = domain.PublishedEvent{
			Seq: int64(i + 1), ID: domain.EventID(fmt.Sprintf("evt_%d", i+1)), Type: "compliance.alert",
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i+1)), Metadata: map[string]any{"source": "test"},
			PublishedAt: time.Date(2026, 11, 29, 10, 0, i, 0, time.UTC),
		}
	}
	return out
}

func eventIDs(evs []httpapi.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func TestAPI_ListEvents(t *testing.T) {
	t.Parallel()

	t.Run("CursorPagination", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.events = testEvents(3)

		r := b.get(t, eventsPath+"?type=compliance.alert&limit=2")
		page := decode[httpapi.EventList](t, r, http.StatusOK)
		require.Equal(t, []string{"evt_1", "evt_2"}, eventIDs(page.Data))
		require.NotEmpty(t, page.NextCursor)
		require.Equal(t, `</api/v1/events?cursor=`+page.NextCursor+`&limit=2&type=compliance.alert>; rel="next"`, r.header.Get("Link"))

		r = b.get(t, eventsPath+"?type=compliance.alert&limit=2&cursor="+page.NextCursor)
		page = decode[httpapi.EventList](t, r, http.StatusOK)
		require.Equal(t, []string{"evt_3"}, eventIDs(page.Data))
		requireNoKey(t, r.body, "next_cursor")
		require.Empty(t, r.header.Get("Link"))

		require.Equal(t, []domain.PublishedEventFilter{
			{Type: "compliance.alert", Limit: 3},
			{Type: "compliance.alert", AfterSeq: 2, Limit: 3},
		}, fake.seen().eventFilters)
	})

	t.Run("ExactPageHasNoCursor", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.events = testEvents(2)
		r := b.get(t, eventsPath+"?limit=2")
		page := decode[httpapi.EventList](t, r, http.StatusOK)
		require.Len(t, page.Data, 2)
		requireNoKey(t, r.body, "next_cursor")
	})

	t.Run("EmptyAndDefaultLimit", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		r := b.get(t, eventsPath)
		require.JSONEq(t, `{"data": []}`, string(r.body))
		require.Equal(t, []domain.PublishedEventFilter{{Limit: httpapi.DefaultPageLimit + 1}}, fake.seen().eventFilters)
	})

	t.Run("EventJSON", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.events = []domain.PublishedEvent{{
			Seq: 7, ID: "evt_7", Type: "compliance.alert", Data: json.RawMessage(`{"big": 12345678901234567890}`),
			PublishedAt: time.Date(2026, 11, 29, 11, 0, 0, 500, time.FixedZone("CET", 3600)),
		}}
		r := b.get(t, eventsPath)
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		require.JSONEq(t, `{"data": [{"id": "evt_7", "type": "compliance.alert", "data": {"big": 12345678901234567890},
			"metadata": {}, "published_at": "2026-11-29T10:00:00.0000005Z"}]}`, string(r.body))
		require.Contains(t, string(r.body), "12345678901234567890")
	})

	t.Run("InvalidCursor", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		for _, cursor := range []string{"!!!", base64.RawURLEncoding.EncodeToString([]byte("x")), base64.RawURLEncoding.EncodeToString([]byte("-1"))} {
			p := requireProblem(t, b.get(t, eventsPath+"?cursor="+cursor), http.StatusBadRequest)
			require.Equal(t, []string{"query.cursor"}, errorLocations(p), cursor)
		}
		fake.requireUntouched(t)
	})

	t.Run("BadLimit", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		for _, limit := range []string{"0", "101", "x"} {
			p := requireProblem(t, b.get(t, eventsPath+"?limit="+limit), http.StatusUnprocessableEntity)
			require.Equal(t, []string{"query.limit"}, errorLocations(p), limit)
		}
		fake.requireUntouched(t)
	})
}

func TestAPI_GetEvent(t *testing.T) {
	t.Parallel()

	t.Run("WithDeliveries", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.events = testEvents(2)
		fake.deliveries = testDeliveries(2)
		r := b.get(t, eventsPath+"/evt_2")
		got := decode[httpapi.EventWithDeliveries](t, r, http.StatusOK)
		require.Equal(t, httpapi.Event{
			ID: "evt_2", Type: "compliance.alert", Data: json.RawMessage(`{"n":2}`),
			Metadata: map[string]any{"source": "test"}, PublishedAt: time.Date(2026, 11, 29, 10, 0, 1, 0, time.UTC),
		}, got.Event)
		require.Equal(t, []string{"dlv_1", "dlv_2"}, deliveryIDs(got.Deliveries))
		require.Equal(t, []domain.EventID{"evt_2"}, fake.seen().eventIDs)
		require.Equal(t, []domain.DeliveryFilter{{EventID: "evt_2", Limit: 100}}, fake.seen().deliveryFilters)
	})

	t.Run("NoDeliveries", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		fake.events = testEvents(1)
		r := b.get(t, eventsPath+"/evt_1")
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		var raw map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(r.body, &raw))
		require.JSONEq(t, `[]`, string(raw["deliveries"]))
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		require.Equal(t, []string{"data", "deliveries", "id", "metadata", "published_at", "type"}, keys)
	})

	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		_, b := setupPipeline(t)
		requireProblem(t, b.get(t, eventsPath+"/evt_nope"), http.StatusNotFound)
	})

	t.Run("ImpossibleID", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		for _, id := range []string{"a%20b", "a%00b", "%FF"} {
			requireProblem(t, b.get(t, eventsPath+"/"+id), http.StatusNotFound)
		}
		fake.requireUntouched(t)
	})
}

// pipelineRoutes are the operations backed by the Pipeline.
var pipelineRoutes = []string{
	"POST /api/v1/events",
	"GET /api/v1/events",
	"GET /api/v1/events/evt_1",
	"GET /api/v1/deliveries",
	"GET /api/v1/webhooks/wh_1/deliveries",
	"GET /api/v1/webhooks/wh_1/deliveries/dlv_1",
	"POST /api/v1/webhooks/wh_1/retry",
	"POST /api/v1/webhooks/wh_1/test",
}

func TestAPI_PipelineRoutes(t *testing.T) {
	t.Parallel()

	t.Run("RequireAuth", func(t *testing.T) {
		t.Parallel()
		fake, b := setupPipeline(t)
		for _, route := range pipelineRoutes {
			method, path, _ := strings.Cut(route, " ")
			for _, auth := range []string{"", "Bearer wrong-key-0123456789"} {
				r := b.do(t, request{method: method, path: path, headers: map[string]string{"Authorization": auth}})
				requireProblem(t, r, http.StatusUnauthorized)
				require.Equal(t, `Bearer realm="lokihooks"`, r.header.Get("WWW-Authenticate"), route)
			}
		}
		fake.requireUntouched(t)
	})

	t.Run("Documented", func(t *testing.T) {
		t.Parallel()
		_, b := setupPipeline(t)
		spec := b.api.OpenAPI()
		for path, ids := range map[string][]string{
			"/api/v1/events":                                         {"create-event", "list-events"},
			"/api/v1/events/{event_id}":                              {"get-event"},
			"/api/v1/deliveries":                                     {"list-deliveries"},
			"/api/v1/webhooks/{webhook_id}/deliveries":               {"list-webhook-deliveries"},
			"/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}": {"get-webhook-delivery"},
			"/api/v1/webhooks/{webhook_id}/retry":                    {"retry-webhook-deliveries"},
			"/api/v1/webhooks/{webhook_id}/test":                     {"test-webhook"},
		} {
			item := spec.Paths[path]
			require.NotNil(t, item, path)
			var got []string
			for _, op := range []*huma.Operation{item.Get, item.Post} {
				if op != nil {
					got = append(got, op.OperationID)
					require.Equal(t, []map[string][]string{{"bearer": {}}}, op.Security, op.OperationID)
					require.NotEmpty(t, op.Tags, op.OperationID)
					require.Contains(t, op.Responses, "401", op.OperationID)
				}
			}
			require.ElementsMatch(t, ids, got, path)
		}
	})
}

func TestAPI_PublishConflictsRealStack(t *testing.T) {
	t.Parallel()
	// A reused event id and a reused Idempotency-Key are different
	// mistakes and are reported as such, whichever headers came along.
	_, b := setup(t, nil)
	info, err := domain.LookupEventType("compliance.alert")
	require.NoError(t, err)
	var data map[string]any
	require.NoError(t, json.Unmarshal(info.Example, &data))
	other := map[string]any{}
	for k, v := range data {
		other[k] = v
	}
	other["extra"] = "changed"
	body := func(id string, d map[string]any) map[string]any {
		return map[string]any{"type": "compliance.alert", "id": id, "data": d}
	}

	r := b.do(t, publish(body("order-1", data), map[string]string{"Idempotency-Key": "key-1"}))
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)

	r = b.do(t, publish(body("order-1", other), map[string]string{"Idempotency-Key": "key-2"}))
	p := requireProblem(t, r, http.StatusConflict)
	require.Equal(t, []string{"body.id"}, errorLocations(p))

	r = b.do(t, publish(body("order-1", other), nil))
	p = requireProblem(t, r, http.StatusConflict)
	require.Equal(t, []string{"body.id"}, errorLocations(p))

	r = b.do(t, publish(body("order-2", other), map[string]string{"Idempotency-Key": "key-1"}))
	p = requireProblem(t, r, http.StatusUnprocessableEntity)
	require.Equal(t, []string{"header.Idempotency-Key"}, errorLocations(p))

	r = b.do(t, publish(body("order-1", data), map[string]string{"Idempotency-Key": "key-1"}))
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	require.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
}
