package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
)

const integrationsPath = "/api/v1/integrations"

// slackFake is a Slack incoming webhook whose answer the test sets.
type slackFake struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	answer string
	bodies []string
}

func newSlackFake(t *testing.T) *slackFake {
	t.Helper()
	f := &slackFake{status: http.StatusOK, answer: "ok"}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.bodies = append(f.bodies, string(body))
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *slackFake) respond(status int, answer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.answer = status, answer
}

// countingRedriver stands in for the relay's redrive.
type countingRedriver struct{}

func (countingRedriver) Redrive(_ context.Context, ds []domain.DeliveryView) (int, error) {
	return len(ds), nil
}

// setupIntegrationsAPI serves the real integration use cases (credentials
// sealed, connectors through a loopback-allowing guard) over HTTP.
func setupIntegrationsAPI(t *testing.T, allowHTTP bool) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t, nil)
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	events := eventstore.New(pool, eventstore.Config{Logger: logger, Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
		{StreamTypes: []string{domain.IntegrationStreamType}, Project: projections.Integrations{}.Project},
	}})
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize))
	require.NoError(t, err)
	client := connectors.NewClient(connectors.ClientConfig{
		AllowHTTP: true, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	t.Cleanup(client.CloseIdleConnections)
	mux := connectors.NewMux(map[domain.DestinationKind]connectors.Sender{
		domain.KindSlack:  connectors.NewSlack(client, &connectors.MemoryThreadStore{}, connectors.SlackConfig{}),
		domain.KindTeams:  connectors.NewTeams(client, connectors.TeamsConfig{}),
		domain.KindZapier: connectors.NewZapier(client, connectors.ZapierConfig{}),
	})
	ac := app.Config{
		Secrets: box, Validation: domain.ValidationOpts{AllowHTTP: allowHTTP},
		NowFunc: func() time.Time { return testNow }, Logger: logger,
	}
	api := httpapi.New(httpapi.Deps{
		Webhooks: app.NewWebhooks(pool, events, nil, nil, ac), Events: app.NewEvents(pool, ac),
		Deliveries:   app.NewDeliveries(pool, countingRedriver{}),
		Integrations: app.NewIntegrations(pool, events, nil, mux, ac),
		Analytics:    app.NewAnalytics(pool),
	}, httpapi.Config{APIKeys: []string{testKey}, Logger: logger})
	server := httptest.NewServer(api)
	t.Cleanup(server.Close)
	return &testBundle{api: api, pool: pool, server: server}
}

func integrationPath(name string, rest ...string) string {
	return strings.Join(append([]string{integrationsPath, name}, rest...), "/")
}

// createSlack creates a Slack integration posting to url.
func (b *testBundle) createSlack(t *testing.T, name, url string, extra map[string]any) httpapi.Integration {
	t.Helper()
	body := map[string]any{
		"name": name, "integration_type": "slack", "credentials": map[string]any{"webhook_url": url},
		"event_subscriptions": []string{"compliance.alert"},
	}
	for k, v := range extra {
		body[k] = v
	}
	return decode[httpapi.Integration](t, b.do(t, request{method: http.MethodPost, path: integrationsPath, body: body}), http.StatusCreated)
}

func TestAPI_IntegrationLifecycle(t *testing.T) {
	t.Parallel()
	b := setupIntegrationsAPI(t, true)
	slack := newSlackFake(t)
	secretURL := slack.URL + "/services/T000/B000/lifecycle-secret-token"

	r := b.do(t, request{method: http.MethodPost, path: integrationsPath, body: map[string]any{
		"name": "compliance-slack", "integration_type": "slack",
		"credentials":         map[string]any{"webhook_url": secretURL},
		"config":              map[string]any{"header": "LOKI compliance"},
		"event_subscriptions": []string{"compliance.alert"},
	}})
	created := decode[httpapi.Integration](t, r, http.StatusCreated)
	require.Equal(t, integrationsPath+"/compliance-slack", r.header.Get("Location"))
	require.Equal(t, `"v1"`, r.header.Get("ETag"))
	require.NotContains(t, string(r.body), "lifecycle-secret-token", "credentials are never returned")
	requireNoKey(t, r.body, "credentials")
	require.Equal(t, "slack", created.IntegrationType)
	require.Equal(t, "api", created.Source)
	require.Equal(t, "active", created.Status)
	require.JSONEq(t, `{"header":"LOKI compliance"}`, string(created.Config))
	require.Equal(t, 60, created.RateLimitPerMinute, "Slack's default: about one message per second")
	require.Equal(t, 10, created.TimeoutSeconds)
	require.Equal(t, "exponential_backoff", created.RetryStrategy)

	got := decode[httpapi.Integration](t, b.get(t, integrationPath("compliance-slack")), http.StatusOK)
	require.Equal(t, created, got)
	stats := decode[httpapi.DestinationAnalytics](t, b.get(t, integrationPath("compliance-slack")+"/analytics"), http.StatusOK)
	require.Zero(t, stats.Summary.TotalDeliveries, "an integration has analytics like a webhook, zeros until it delivers")
	requireProblem(t, b.get(t, integrationPath("no-such-integration")+"/analytics"), http.StatusNotFound)
	list := decode[httpapi.IntegrationList](t, b.get(t, integrationsPath+"?integration_type=slack"), http.StatusOK)
	require.Len(t, list.Data, 1)
	require.Empty(t, decode[httpapi.IntegrationList](t, b.get(t, integrationsPath+"?integration_type=teams"), http.StatusOK).Data)

	// The test message goes through the connector with the stored
	// (sealed, then opened) credentials.
	test := decode[httpapi.IntegrationTestResult](t, b.do(t, request{method: http.MethodPost, path: integrationPath("compliance-slack", "test")}), http.StatusOK)
	require.Equal(t, "delivered", test.Outcome)
	require.True(t, test.Success)
	require.Equal(t, 200, test.StatusCode)
	require.Positive(t, test.LatencyMS)
	require.Len(t, slack.bodies, 1)
	require.Contains(t, slack.bodies[0], connectors.SampleMessage)

	// PUT with a stale ETag is refused; with the current one it replaces
	// the settings, keeping the credentials it was not given.
	stale := map[string]string{"If-Match": `"v0"`}
	requireProblem(t, b.do(t, request{
		method: http.MethodPut, path: integrationPath("compliance-slack"), headers: stale,
		body: map[string]any{"max_retries": 2},
	}), http.StatusPreconditionFailed)
	r = b.do(t, request{
		method: http.MethodPut, path: integrationPath("compliance-slack"), headers: map[string]string{"If-Match": `"v1"`},
		body: map[string]any{"max_retries": 2, "rate_limit_per_minute": 30},
	})
	put := decode[httpapi.Integration](t, r, http.StatusOK)
	require.Equal(t, 2, put.MaxRetries)
	require.Equal(t, 30, put.RateLimitPerMinute)
	require.Equal(t, 10, put.TimeoutSeconds, "absent fields take the type's defaults")
	require.JSONEq(t, `{"header":"LOKI compliance"}`, string(put.Config), "config is kept when absent")
	require.Equal(t, []string{"compliance.alert"}, put.EventSubscriptions)
	require.Equal(t, `"v2"`, r.header.Get("ETag"))
	slack.respond(http.StatusNotFound, "channel_not_found")
	test = decode[httpapi.IntegrationTestResult](t, b.do(t, request{method: http.MethodPost, path: integrationPath("compliance-slack", "test")}), http.StatusOK)
	require.Equal(t, "permanent_failure", test.Outcome)
	require.Equal(t, 404, test.StatusCode)
	require.Len(t, slack.bodies, 2, "the kept credentials still reach the same URL")

	// Subscriptions.
	sub := func(method, eventType string) response {
		return b.do(t, request{method: method, path: integrationPath("compliance-slack", "subscribe", eventType)})
	}
	subs := decode[httpapi.Subscriptions](t, sub(http.MethodPost, "validation.failed"), http.StatusOK)
	require.Equal(t, []string{"compliance.alert", "validation.failed"}, subs.EventSubscriptions)
	decode[httpapi.Subscriptions](t, sub(http.MethodPost, "validation.failed"), http.StatusOK) // again: no change
	subs = decode[httpapi.Subscriptions](t, sub(http.MethodDelete, "compliance.alert"), http.StatusOK)
	require.Equal(t, []string{"validation.failed"}, subs.EventSubscriptions)
	requireProblem(t, sub(http.MethodDelete, "compliance.alert"), http.StatusNotFound)
	p := requireProblem(t, sub(http.MethodPost, "order.shipped"), http.StatusUnprocessableEntity)
	require.Equal(t, []string{"path.event_type"}, errorLocations(p))
	r = b.get(t, integrationPath("compliance-slack", "subscriptions"))
	subs = decode[httpapi.Subscriptions](t, r, http.StatusOK)
	require.Equal(t, httpapi.Subscriptions{Integration: "compliance-slack", EventSubscriptions: []string{"validation.failed"}}, subs)
	require.Equal(t, `"v4"`, r.header.Get("ETag"))

	// Pause and resume.
	paused := decode[httpapi.Integration](t, b.do(t, request{method: http.MethodPost, path: integrationPath("compliance-slack", "pause")}), http.StatusOK)
	require.Equal(t, "paused", paused.Status)
	resumed := decode[httpapi.Integration](t, b.do(t, request{method: http.MethodPost, path: integrationPath("compliance-slack", "resume")}), http.StatusOK)
	require.Equal(t, "active", resumed.Status)

	// Renaming moves the integration to its new name.
	r = b.do(t, request{method: http.MethodPut, path: integrationPath("compliance-slack"), body: map[string]any{"name": "alerts"}})
	require.Equal(t, integrationsPath+"/alerts", r.header.Get("Location"))
	requireProblem(t, b.get(t, integrationPath("compliance-slack")), http.StatusNotFound)

	// Deleting frees the name.
	requireProblem(t, b.do(t, request{method: http.MethodDelete, path: integrationPath("alerts"), headers: stale}), http.StatusPreconditionFailed)
	r = b.do(t, request{method: http.MethodDelete, path: integrationPath("alerts")})
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	requireProblem(t, b.get(t, integrationPath("alerts")), http.StatusNotFound)
	requireProblem(t, b.do(t, request{method: http.MethodDelete, path: integrationPath("alerts")}), http.StatusNotFound)
	b.createSlack(t, "alerts", secretURL, nil)
	deleted := decode[httpapi.IntegrationList](t, b.get(t, integrationsPath+"?status=deleted"), http.StatusOK)
	require.Len(t, deleted.Data, 1)

	// The credential is in no table in plain text: sealed in the log and
	// the read model.
	var plain int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM events WHERE data::text LIKE '%lifecycle-secret-token%') +
		(SELECT count(*) FROM integrations WHERE credentials LIKE '%lifecycle-secret-token%')`).Scan(&plain))
	require.Zero(t, plain)
}

func TestAPI_IntegrationErrors(t *testing.T) {
	t.Parallel()
	b := setupIntegrationsAPI(t, false)
	create := func(body map[string]any) response {
		return b.do(t, request{method: http.MethodPost, path: integrationsPath, body: body})
	}
	teams := func(name string) map[string]any {
		return map[string]any{
			"name": name, "integration_type": "teams",
			"credentials": map[string]any{"webhook_url": "https://prod-01.westeurope.logic.azure.com/workflows/abc?sig=teams-secret"},
		}
	}
	decode[httpapi.Integration](t, create(teams("teams-alerts")), http.StatusCreated)

	t.Run("NameTaken", func(t *testing.T) {
		t.Parallel()
		p := requireProblem(t, create(teams("teams-alerts")), http.StatusConflict)
		require.Contains(t, p.Detail, "another integration")
	})
	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		for name, c := range map[string]struct {
			body      map[string]any
			locations []string
		}{
			"MissingCredential": {map[string]any{"name": "t1", "integration_type": "teams"}, []string{"body.credentials.webhook_url"}},
			"HTTPNotAllowed": {map[string]any{
				"name": "t2", "integration_type": "teams",
				"credentials": map[string]any{"webhook_url": "http://example.com/hook"},
			}, []string{"body.credentials.webhook_url"}},
			"ReservedName": {func() map[string]any { m := teams("health"); return m }(), []string{"body.name"}},
			"BadName":      {func() map[string]any { m := teams("has space"); return m }(), []string{"body.name"}},
			"UnknownType":  {map[string]any{"name": "x", "integration_type": "pager"}, []string{"body.integration_type"}},
			"UnknownEvent": {func() map[string]any {
				m := teams("t3")
				m["event_subscriptions"] = []string{"order.shipped"}
				return m
			}(), []string{"body.event_subscriptions"}},
			"ConfigBySchema": {func() map[string]any { m := teams("t4"); m["config"] = map[string]any{"color": "red"}; return m }(), []string{"body.config.color"}},
			"SlackBotWithoutChannel": {map[string]any{
				"name": "s1", "integration_type": "slack",
				"credentials": map[string]any{"bot_token": "xoxb-1-2-secret"},
			}, []string{"body.config.channel"}},
		} {
			p := requireProblem(t, create(c.body), http.StatusUnprocessableEntity)
			require.ElementsMatch(t, c.locations, errorLocations(p), name)
			raw, err := json.Marshal(p)
			require.NoError(t, err)
			require.NotContains(t, string(raw), "secret", "%s: a problem never repeats a credential", name)
		}
	})
	t.Run("TypeCannotChange", func(t *testing.T) {
		t.Parallel()
		p := requireProblem(t, b.do(t, request{
			method: http.MethodPut, path: integrationPath("teams-alerts"),
			body: map[string]any{"integration_type": "slack"},
		}), http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.integration_type"}, errorLocations(p))
	})
	t.Run("UnknownName", func(t *testing.T) {
		t.Parallel()
		for _, r := range []request{
			{method: http.MethodGet, path: integrationPath("nope")},
			{method: http.MethodPut, path: integrationPath("nope"), body: map[string]any{}},
			{method: http.MethodDelete, path: integrationPath("nope")},
			{method: http.MethodPost, path: integrationPath("nope", "test")},
			{method: http.MethodPost, path: integrationPath("nope", "pause")},
			{method: http.MethodPost, path: integrationPath("nope", "subscribe", "compliance.alert")},
			{method: http.MethodGet, path: integrationPath("nope", "subscriptions")},
			{method: http.MethodGet, path: integrationPath("nope", "deliveries")},
			{method: http.MethodGet, path: integrationPath("nope", "deliveries", "dlv_1")},
			{method: http.MethodPost, path: integrationPath("nope", "retry")},
		} {
			requireProblem(t, b.do(t, r), http.StatusNotFound)
		}
	})
	t.Run("BadIfMatch", func(t *testing.T) {
		t.Parallel()
		requireProblem(t, b.do(t, request{
			method: http.MethodPost, path: integrationPath("teams-alerts", "pause"),
			headers: map[string]string{"If-Match": "yesterday"},
		}), http.StatusBadRequest)
	})
}

func TestAPI_ZapierRESTHooks(t *testing.T) {
	t.Parallel()
	b := setupIntegrationsAPI(t, false)
	subscribe := func(body map[string]any) response {
		return b.do(t, request{method: http.MethodPost, path: integrationsPath + "/zapier/subscriptions", body: body})
	}
	r := subscribe(map[string]any{"target_url": "https://hooks.zapier.com/hooks/standard/1/abc-secret/", "event_type": "compliance.alert"})
	sub := decode[httpapi.ZapierSubscription](t, r, http.StatusCreated)
	require.True(t, strings.HasPrefix(sub.ID, domain.IntegrationIDPrefix), sub.ID)
	require.Equal(t, "compliance.alert", sub.EventType)
	require.NotContains(t, string(r.body), "abc-secret")
	got := decode[httpapi.Integration](t, b.get(t, integrationPath(sub.Name)), http.StatusOK)
	require.Equal(t, "zapier_rest_hook", got.Source)
	require.Equal(t, "zapier", got.IntegrationType)
	require.Equal(t, []string{"compliance.alert"}, got.EventSubscriptions)

	p := requireProblem(t, subscribe(map[string]any{"target_url": "http://hooks.zapier.com/x", "event_type": "nope"}), http.StatusUnprocessableEntity)
	require.ElementsMatch(t, []string{"body.event_type"}, errorLocations(p), "the event type is checked first")
	p = requireProblem(t, subscribe(map[string]any{"target_url": "http://hooks.zapier.com/x", "event_type": "compliance.alert"}), http.StatusUnprocessableEntity)
	require.Equal(t, []string{"body.target_url"}, errorLocations(p))

	// Only REST-hook subscriptions can be unsubscribed here.
	api := decode[httpapi.Integration](t, b.do(t, request{method: http.MethodPost, path: integrationsPath, body: map[string]any{
		"name": "catch-hook", "integration_type": "zapier", "credentials": map[string]any{"webhook_url": "https://hooks.zapier.com/hooks/catch/1/2/"},
	}}), http.StatusCreated)
	unsubscribe := func(id string) response {
		return b.do(t, request{method: http.MethodDelete, path: integrationsPath + "/zapier/subscriptions/" + id})
	}
	requireProblem(t, unsubscribe(api.ID), http.StatusNotFound)
	requireProblem(t, unsubscribe("wh_1"), http.StatusNotFound)
	require.Equal(t, http.StatusNoContent, unsubscribe(sub.ID).status)
	requireProblem(t, unsubscribe(sub.ID), http.StatusNotFound)
	requireProblem(t, b.get(t, integrationPath(sub.Name)), http.StatusNotFound)
}

func TestAPI_IntegrationsHealthAndMarketplace(t *testing.T) {
	t.Parallel()
	b := setupIntegrationsAPI(t, true)
	slack := newSlackFake(t)
	a := b.createSlack(t, "a-slack", slack.URL+"/a", nil)
	b.createSlack(t, "b-slack", slack.URL+"/b", nil)
	ctx := t.Context()
	for i, at := range []struct {
		ago    time.Duration
		status string
		detail string
	}{
		{30 * time.Minute, "delivered", ""},
		{20 * time.Minute, "retrying", "HTTP 500 Internal Server Error"},
	} {
		_, err := b.pool.Exec(ctx, `INSERT INTO delivery_attempts (delivery_id, attempt, destination_id, event_type, status,
			status_code, error_detail, duration_ms, attempted_at) VALUES ($1, 1, $2, 'compliance.alert', $3, 500, nullif($4, ''), 1, $5)`,
			"dlv_h"+string(rune('a'+i)), a.ID, at.status, at.detail, testNow.Add(-at.ago))
		require.NoError(t, err)
	}
	health := decode[httpapi.IntegrationHealthList](t, b.get(t, integrationsPath+"/health"), http.StatusOK)
	require.Len(t, health.Data, 2)
	h := health.Data[0]
	require.Equal(t, "a-slack", h.Name)
	require.Equal(t, "active", h.Status)
	require.Equal(t, testNow.Add(-30*time.Minute), *h.LastSuccessAt)
	require.Equal(t, testNow.Add(-20*time.Minute), *h.LastFailureAt)
	require.Equal(t, "HTTP 500 Internal Server Error", h.LastFailureReason)
	require.Equal(t, 2, h.AttemptsLastHour)
	require.Equal(t, 1, h.FailuresLastHour)
	require.InDelta(t, 0.5, h.FailureRateLastHour, 1e-9)
	require.Nil(t, health.Data[1].LastSuccessAt)
	page := decode[httpapi.IntegrationHealthList](t, b.get(t, integrationsPath+"/health?limit=1"), http.StatusOK)
	require.Len(t, page.Data, 1)
	require.NotEmpty(t, page.NextCursor)
	page = decode[httpapi.IntegrationHealthList](t, b.get(t, integrationsPath+"/health?limit=1&cursor="+page.NextCursor), http.StatusOK)
	require.Equal(t, "b-slack", page.Data[0].Name)
	got := decode[httpapi.Integration](t, b.get(t, integrationPath("a-slack")), http.StatusOK)
	require.Equal(t, testNow.Add(-20*time.Minute), *got.LastTriggeredAt)

	m := decode[httpapi.Marketplace](t, b.get(t, integrationsPath+"/marketplace"), http.StatusOK)
	var types []string
	for _, k := range m.Data {
		types = append(types, k.IntegrationType)
		require.NotEmpty(t, k.Features, k.IntegrationType)
		require.True(t, json.Valid(k.CredentialsSchema) && json.Valid(k.ConfigSchema), k.IntegrationType)
	}
	require.Equal(t, []string{"slack", "teams", "email", "zapier"}, types)
	require.Equal(t, 60, m.Data[0].Defaults.RateLimitPerMinute)
	require.Equal(t, 1, m.Data[3].Defaults.BatchSize)
}

func TestAPI_IntegrationDeliveries(t *testing.T) {
	t.Parallel()
	b := setupIntegrationsAPI(t, true)
	slack := newSlackFake(t)
	i := b.createSlack(t, "slack", slack.URL, nil)
	other := b.createSlack(t, "other", slack.URL+"/other", nil)
	ctx := t.Context()
	for _, d := range []struct{ id, dest, status string }{
		{"dlv_1", i.ID, "permanent_failure"}, {"dlv_2", i.ID, "delivered"}, {"dlv_3", other.ID, "failed"},
	} {
		_, err := b.pool.Exec(ctx, `INSERT INTO deliveries (id, destination_id, kind, event_id, event_type, status, created_at, updated_at, version)
			VALUES ($1, $2, 'slack', 'evt_1', 'compliance.alert', $3, $4, $4, 2)`, d.id, d.dest, d.status, testNow)
		require.NoError(t, err)
	}
	list := decode[httpapi.DeliveryList](t, b.get(t, integrationPath("slack", "deliveries")), http.StatusOK)
	require.ElementsMatch(t, []string{"dlv_1", "dlv_2"}, deliveryIDs(list.Data))
	for _, d := range list.Data {
		require.Equal(t, i.ID, d.DestinationID)
		require.Equal(t, "slack", d.DestinationType)
		require.Empty(t, d.WebhookID)
	}
	dead := decode[httpapi.DeliveryList](t, b.get(t, "/api/v1/deliveries?status=permanent_failure&destination_id="+i.ID), http.StatusOK)
	require.Equal(t, []string{"dlv_1"}, deliveryIDs(dead.Data), "the dead-letter view shows integrations")
	one := decode[httpapi.DeliveryWithAttempts](t, b.get(t, integrationPath("slack", "deliveries", "dlv_1")), http.StatusOK)
	require.Equal(t, "dlv_1", one.ID)
	requireProblem(t, b.get(t, integrationPath("slack", "deliveries", "dlv_3")), http.StatusNotFound)
	redriven := decode[httpapi.RetryDeliveriesResult](t, b.do(t, request{method: http.MethodPost, path: integrationPath("slack", "retry")}), http.StatusOK)
	require.Equal(t, 1, redriven.Redriven)
}
