package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/client"
	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/sigcheck"
)

// TestClient_EveryOperation drives every operation of the served OpenAPI
// document through the generated client against a real `lokihooks serve`
// (every role, its own schema) and real receivers: a webhook receiver that
// verifies both signatures, a Slack incoming webhook and a Zapier REST hook.
// It fails when an operation of the document never answered 2xx, so a new
// operation makes this test grow.
func TestClient_EveryOperation(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in a child process against PostgreSQL")
	}
	s := startAPIServe(t)
	rec := newOperationRecorder(t, s.base)
	c, err := client.NewClientWithResponses(s.base, client.WithAPIKey(e2eAPIKey),
		client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second, Transport: rec}))
	require.NoError(t, err)
	rc := newClientReceiver(t)
	ctx := t.Context()

	// Health and the catalog.
	{
		h, err := c.HealthzWithResponse(ctx)
		ok(t, h, err)
		r, err := c.ReadyzWithResponse(ctx)
		ok(t, r, err)
		types, err := c.ListEventTypesWithResponse(ctx)
		ok(t, types, err)
		require.NotEmpty(t, types.JSON200.Data)
		typ, err := c.GetEventTypeWithResponse(ctx, domain.EventTypeValidationCompleted)
		ok(t, typ, err)
		require.Equal(t, domain.EventTypeValidationCompleted, typ.JSON200.Name)
	}

	// A webhook: create, read, change, pause, resume, rotate, test.
	secret := domain.GenerateSecret()
	rc.secret.Store(&secret)
	created, err := c.CreateWebhookWithResponse(ctx, client.CreateWebhookJSONRequestBody{
		Name: ptr("e2e client"), Url: ptr(rc.URL + "/hook"), Secret: &secret,
		EventTypes:    &[]string{domain.EventTypeValidationCompleted, domain.EventTypeComplianceAlert},
		RetryStrategy: ptr(client.CreateWebhookBodyRetryStrategyNoRetry),
	})
	ok(t, created, err)
	hookID := created.JSON201.Id
	require.Equal(t, secret, *created.JSON201.Secret)

	// A problem answer: a 422 that locates the field.
	bad, err := c.CreateWebhookWithResponse(ctx, client.CreateWebhookJSONRequestBody{
		Name: ptr("e2e bad"), Url: ptr(rc.URL + "/bad"), EventTypes: &[]string{"no.such.type"},
	})
	require.NoError(t, err)
	var problem *client.Problem
	require.ErrorAs(t, client.Check(bad), &problem)
	require.Equal(t, http.StatusUnprocessableEntity, problem.StatusCode)
	require.NotNil(t, bad.ApplicationproblemJSON422)
	require.Equal(t, "body.event_types", *problem.Details()[0].Location)

	got, err := c.GetWebhookWithResponse(ctx, hookID)
	ok(t, got, err)
	etag := got.Headers200.ETag
	patched, err := c.UpdateWebhookWithResponse(ctx, hookID, &client.UpdateWebhookParams{IfMatch: etag},
		client.UpdateWebhookJSONRequestBody{Metadata: &map[string]any{"team": "e2e"}})
	ok(t, patched, err)
	// The tag read before the change no longer matches: 412.
	stale, err := c.UpdateWebhookWithResponse(ctx, hookID, &client.UpdateWebhookParams{IfMatch: etag},
		client.UpdateWebhookJSONRequestBody{MaxRetries: ptr[int64](1)})
	require.NoError(t, err)
	require.Equal(t, http.StatusPreconditionFailed, stale.StatusCode())
	replaced, err := c.ReplaceWebhookWithResponse(ctx, hookID, &client.ReplaceWebhookParams{IfMatch: patched.Headers200.ETag},
		client.ReplaceWebhookJSONRequestBody{
			Name: ptr("e2e client webhook"), RetryStrategy: ptr(client.WebhookFieldsRetryStrategyNoRetry),
			Metadata: &map[string]any{"team": "e2e"},
		})
	ok(t, replaced, err)
	require.Equal(t, "e2e client webhook", replaced.JSON200.Name)
	paused, err := c.PauseWebhookWithResponse(ctx, hookID, &client.PauseWebhookParams{})
	ok(t, paused, err)
	require.Equal(t, client.WebhookStatusPaused, paused.JSON200.Status)
	resumed, err := c.ResumeWebhookWithResponse(ctx, hookID, &client.ResumeWebhookParams{})
	ok(t, resumed, err)
	require.Equal(t, client.WebhookStatusActive, resumed.JSON200.Status)
	rotated, err := c.RotateWebhookSecretWithResponse(ctx, hookID, &client.RotateWebhookSecretParams{},
		client.RotateWebhookSecretJSONRequestBody{GracePeriodSeconds: ptr[int64](3600)})
	ok(t, rotated, err)
	rc.secret.Store(rotated.JSON200.Secret)
	listed, err := c.ListWebhooksWithResponse(ctx, &client.ListWebhooksParams{EventType: ptr(domain.EventTypeComplianceAlert)})
	ok(t, listed, err)
	require.Len(t, *listed.JSON200.Data, 1)
	tested, err := c.TestWebhookWithResponse(ctx, hookID)
	ok(t, tested, err)
	require.True(t, tested.JSON200.Success, "%+v", tested.JSON200)

	// A Slack integration and a Zapier REST hook.
	market, err := c.GetIntegrationsMarketplaceWithResponse(ctx)
	ok(t, market, err)
	const slack = "e2e-slack"
	integ, err := c.CreateIntegrationWithResponse(ctx, client.CreateIntegrationJSONRequestBody{
		Name: ptr(slack), IntegrationType: client.CreateIntegrationBodyIntegrationTypeSlack,
		Credentials:        &map[string]any{"webhook_url": rc.URL + "/slack"},
		EventSubscriptions: &[]string{domain.EventTypeComplianceAlert},
	})
	ok(t, integ, err)
	gotInteg, err := c.GetIntegrationWithResponse(ctx, slack)
	ok(t, gotInteg, err)
	integs, err := c.ListIntegrationsWithResponse(ctx, &client.ListIntegrationsParams{})
	ok(t, integs, err)
	replacedInteg, err := c.ReplaceIntegrationWithResponse(ctx, slack, &client.ReplaceIntegrationParams{IfMatch: gotInteg.Headers200.ETag},
		client.ReplaceIntegrationJSONRequestBody{Config: &map[string]any{"header": "LOKI e2e"}})
	ok(t, replacedInteg, err)
	sub, err := c.SubscribeIntegrationWithResponse(ctx, slack, domain.EventTypeValidationFailed, &client.SubscribeIntegrationParams{})
	ok(t, sub, err)
	subs, err := c.ListIntegrationSubscriptionsWithResponse(ctx, slack)
	ok(t, subs, err)
	require.ElementsMatch(t, []string{domain.EventTypeComplianceAlert, domain.EventTypeValidationFailed}, *subs.JSON200.EventSubscriptions)
	unsub, err := c.UnsubscribeIntegrationWithResponse(ctx, slack, domain.EventTypeValidationFailed, &client.UnsubscribeIntegrationParams{})
	ok(t, unsub, err)
	pausedInteg, err := c.PauseIntegrationWithResponse(ctx, slack, &client.PauseIntegrationParams{})
	ok(t, pausedInteg, err)
	resumedInteg, err := c.ResumeIntegrationWithResponse(ctx, slack, &client.ResumeIntegrationParams{})
	ok(t, resumedInteg, err)
	testedInteg, err := c.TestIntegrationWithResponse(ctx, slack)
	ok(t, testedInteg, err)
	require.True(t, testedInteg.JSON200.Success, "%+v", testedInteg.JSON200)
	zap, err := c.CreateZapierSubscriptionWithResponse(ctx, client.CreateZapierSubscriptionJSONRequestBody{
		TargetUrl: rc.URL + "/zapier", EventType: domain.EventTypeSystemError,
	})
	ok(t, zap, err)
	unzap, err := c.DeleteZapierSubscriptionWithResponse(ctx, zap.JSON201.Id)
	ok(t, unzap, err)

	// Events: two over HTTP (one whose first attempt fails), one from SQL
	// whose data violates its schema.
	publish := func(id, typ string) {
		t.Helper()
		info, err := domain.LookupEventType(typ)
		require.NoError(t, err)
		var data map[string]any
		require.NoError(t, json.Unmarshal(info.Example, &data))
		ev, err := c.CreateEventWithResponse(ctx, &client.CreateEventParams{IdempotencyKey: ptr("key-" + id)},
			client.CreateEventJSONRequestBody{Id: &id, Type: typ, Data: data})
		ok(t, ev, err)
	}
	rc.failFirst("e2e-redrive")
	publish("e2e-valid", domain.EventTypeValidationCompleted)
	publish("e2e-redrive", domain.EventTypeComplianceAlert)
	require.NoError(t, pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT lokihooks_publish('validation.completed', '{"document_id":"doc_1"}', 'e2e-sql-invalid')`)
		return err
	}))
	events, err := c.ListEventsWithResponse(ctx, &client.ListEventsParams{})
	ok(t, events, err)
	require.Len(t, *events.JSON200.Data, 3)

	// The deliveries: the invalid event is delivered anyway, the failed
	// one waits in the dead letter until it is redriven.
	deliveries := func() map[string]client.Delivery {
		t.Helper()
		list, err := c.ListWebhookDeliveriesWithResponse(ctx, hookID, &client.ListWebhookDeliveriesParams{})
		ok(t, list, err)
		out := map[string]client.Delivery{}
		for _, d := range *list.JSON200.Data {
			out[d.EventId] = d
		}
		return out
	}
	require.Eventually(t, func() bool {
		d := deliveries()
		return d["e2e-valid"].Status == client.DeliveryStatusDelivered &&
			d["e2e-sql-invalid"].Status == client.DeliveryStatusDelivered &&
			d["e2e-redrive"].Status == client.DeliveryStatusPermanentFailure
	}, 20*time.Second, 20*time.Millisecond)
	dead := deliveries()["e2e-redrive"]
	detail, err := c.GetWebhookDeliveryWithResponse(ctx, hookID, dead.Id)
	ok(t, detail, err)
	require.Len(t, *detail.JSON200.AttemptHistory, 1)
	require.Equal(t, int64(http.StatusInternalServerError), (*detail.JSON200.AttemptHistory)[0].StatusCode)
	redriven, err := c.RetryWebhookDeliveriesWithResponse(ctx, hookID, client.RetryWebhookDeliveriesJSONRequestBody{})
	ok(t, redriven, err)
	require.Equal(t, int64(1), redriven.JSON200.Redriven)
	require.Eventually(t, func() bool {
		return deliveries()["e2e-redrive"].Status == client.DeliveryStatusDelivered
	}, 20*time.Second, 20*time.Millisecond)
	require.ElementsMatch(t, []string{"e2e-valid", "e2e-sql-invalid", "e2e-redrive"}, rc.verified(),
		"the receiver verified both signatures of every delivery")

	// The schema violation is on the event and in serve's log.
	invalid, err := c.GetEventWithResponse(ctx, "e2e-sql-invalid")
	ok(t, invalid, err)
	require.NotNil(t, invalid.JSON200.SchemaViolations)
	require.Contains(t, *invalid.JSON200.SchemaViolations, client.SchemaViolation{Pointer: "/source_id", Message: "is required"})
	require.Len(t, *invalid.JSON200.Deliveries, 1)
	valid, err := c.GetEventWithResponse(ctx, "e2e-valid")
	ok(t, valid, err)
	require.Nil(t, valid.JSON200.SchemaViolations)
	require.True(t, s.stderr.contains("event data violates its schema; delivered anyway"))
	require.True(t, s.stderr.contains("event_id=e2e-sql-invalid"))

	// The integration's delivery of compliance.alert.
	var integDelivery client.Delivery
	require.Eventually(t, func() bool {
		list, err := c.ListIntegrationDeliveriesWithResponse(ctx, slack, &client.ListIntegrationDeliveriesParams{})
		ok(t, list, err)
		if len(*list.JSON200.Data) != 1 {
			return false
		}
		integDelivery = (*list.JSON200.Data)[0]
		return integDelivery.Status == client.DeliveryStatusDelivered
	}, 20*time.Second, 20*time.Millisecond)
	integDetail, err := c.GetIntegrationDeliveryWithResponse(ctx, slack, integDelivery.Id)
	ok(t, integDetail, err)
	integRedriven, err := c.RetryIntegrationDeliveriesWithResponse(ctx, slack, client.RetryIntegrationDeliveriesJSONRequestBody{})
	ok(t, integRedriven, err)
	require.Zero(t, integRedriven.JSON200.Redriven, "nothing failed")
	all, err := c.ListDeliveriesWithResponse(ctx, &client.ListDeliveriesParams{EventId: ptr("e2e-redrive")})
	ok(t, all, err)
	require.Len(t, *all.JSON200.Data, 2, "the webhook's and the integration's")

	// Analytics, health and history.
	require.Eventually(t, func() bool {
		a, err := c.GetWebhookAnalyticsWithResponse(ctx, hookID, &client.GetWebhookAnalyticsParams{})
		ok(t, a, err)
		return a.JSON200.Summary.TotalDeliveries == 3 && a.JSON200.Summary.Delivered == 3
	}, 20*time.Second, 50*time.Millisecond)
	ia, err := c.GetIntegrationAnalyticsWithResponse(ctx, slack, &client.GetIntegrationAnalyticsParams{})
	ok(t, ia, err)
	overall, err := c.GetAnalyticsWithResponse(ctx, &client.GetAnalyticsParams{})
	ok(t, overall, err)
	status, err := c.GetStatusWithResponse(ctx)
	ok(t, status, err)
	require.NotEmpty(t, status.JSON200.Jobs, "delivery jobs, each state")
	health, err := c.GetIntegrationsHealthWithResponse(ctx, &client.GetIntegrationsHealthParams{})
	ok(t, health, err)
	history, err := c.GetWebhookHistoryWithResponse(ctx, hookID, &client.GetWebhookHistoryParams{})
	ok(t, history, err)
	require.Len(t, *history.JSON200.Data, 6, "created, updated twice, paused, resumed, secret rotated")

	// Deletion.
	delInteg, err := c.DeleteIntegrationWithResponse(ctx, slack, &client.DeleteIntegrationParams{})
	ok(t, delInteg, err)
	delHook, err := c.DeleteWebhookWithResponse(ctx, hookID, &client.DeleteWebhookParams{})
	ok(t, delHook, err)
	gone, err := c.GetWebhookWithResponse(ctx, hookID)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, gone.StatusCode())

	require.Empty(t, rec.missing(), "operations of the OpenAPI document this test never called successfully: "+
		"call each new operation through the client here")
}

// ok fails the test unless the call completed with a 2xx answer.
func ok(t *testing.T, resp client.Response, err error) {
	t.Helper()
	require.NoError(t, err)
	require.NoError(t, client.Check(resp))
}

func ptr[T any](v T) *T { return &v }

// operationRecorder is the client's transport: it notes the operation of
// every 2xx answer, named by the served OpenAPI document.
type operationRecorder struct {
	routes *http.ServeMux // method and path template → operation id
	ops    map[string]string
	mu     sync.Mutex
	called map[string]bool
}

func newOperationRecorder(t *testing.T, base string) *operationRecorder {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/openapi.json", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var spec struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&spec))
	r := &operationRecorder{routes: http.NewServeMux(), ops: map[string]string{}, called: map[string]bool{}}
	for path, methods := range spec.Paths {
		for method, op := range methods {
			pattern := strings.ToUpper(method) + " " + path
			r.routes.Handle(pattern, http.NotFoundHandler())
			r.ops[pattern] = op.OperationID
		}
	}
	require.NotEmpty(t, r.ops)
	return r
}

func (r *operationRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	if _, pattern := r.routes.Handler(req); pattern != "" {
		r.mu.Lock()
		r.called[r.ops[pattern]] = true
		r.mu.Unlock()
	}
	return resp, nil
}

// missing lists the operations that never answered 2xx.
func (r *operationRecorder) missing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, op := range r.ops {
		if !r.called[op] {
			out = append(out, op)
		}
	}
	slices.Sort(out)
	return out
}

// clientReceiver plays the webhook receiver (/hook, verifying both
// signatures with the current secret), a Slack incoming webhook (/slack)
// and a Zapier REST hook (/zapier).
type clientReceiver struct {
	*httptest.Server
	secret atomic.Pointer[string]
	mu     sync.Mutex
	fail   map[string]bool // event ids whose next attempt gets a 500
	ok     []string        // event ids of verified deliveries answered 200
}

func newClientReceiver(t *testing.T) *clientReceiver {
	t.Helper()
	rc := &clientReceiver{fail: map[string]bool{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.URL.Path != "/hook" {
			_, _ = io.WriteString(w, "ok") // Slack answers "ok"; Zapier anything 2xx
			return
		}
		rep := sigcheck.Check(r.Header, body, sigcheck.Params{Secret: *rc.secret.Load(), Now: time.Now()})
		if !rep.OK() {
			http.Error(w, rep.Standard.Message+"; "+rep.Legacy.Message, http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.fail[id] {
			delete(rc.fail, id)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if r.Header.Get("X-Webhook-Event") != domain.EventTypeWebhookTest {
			rc.ok = append(rc.ok, id)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *clientReceiver) failFirst(eventID string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.fail[eventID] = true
}

func (rc *clientReceiver) verified() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.ok)
}
