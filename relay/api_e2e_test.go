package relay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// TestRelay_HTTPAPIEndToEnd drives the pipeline only through the HTTP API,
// as an integrator would: create a webhook, publish over HTTP, read the
// delivery with its attempts, redrive, and test the webhook.
func TestRelay_HTTPAPIEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var failed atomic.Bool
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Webhook-Event") != domain.EventTypeWebhookTest && n == 1 {
			failed.Store(true)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "down for maintenance")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	callRaw := b.apiCaller(t)
	call := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		var raw []byte
		if body != nil {
			var err error
			raw, err = json.Marshal(body)
			require.NoError(t, err)
		}
		out := map[string]any{}
		if resp := callRaw(method, path, raw, want); len(resp) > 0 {
			require.NoError(t, json.Unmarshal(resp, &out))
		}
		return out
	}

	hook := call(http.MethodPost, "/api/v1/webhooks", map[string]any{
		"name": "e2e", "url": rc.URL + "/hook", "event_types": []string{"compliance.alert"},
		"retry_strategy": "no_retry", "custom_headers": map[string]string{"X-Api-Key": "k3y-e2e", "X-Tenant": "acme"},
		"secret_headers": []string{"X-Api-Key"},
	}, http.StatusCreated)
	id := hook["id"].(string)

	bad := call(http.MethodPost, "/api/v1/events", map[string]any{
		"type": "compliance.alert", "data": map[string]any{"alert_level": "extreme"},
	}, http.StatusUnprocessableEntity)
	require.Contains(t, mustJSON(t, bad), "body.data.alert_level", "data is checked against the catalog schema")

	ev := call(http.MethodPost, "/api/v1/events", map[string]any{
		"type": "compliance.alert",
		"data": map[string]any{"alert_level": "high", "message": "PII found", "affected_documents": []string{"doc_1"}},
	}, http.StatusAccepted)
	eventID := domain.EventID(ev["id"].(string))

	b.waitDelivery(t, eventID, domain.WebhookID(id), domain.DeliveryPermanentFailure)
	require.True(t, failed.Load())
	list := call(http.MethodGet, "/api/v1/webhooks/"+id+"/deliveries?status=permanent_failure", nil, http.StatusOK)
	data := list["data"].([]any)
	require.Len(t, data, 1)
	dlv := data[0].(map[string]any)
	require.Equal(t, "http_5xx", dlv["last_error_category"])
	detail := call(http.MethodGet, "/api/v1/webhooks/"+id+"/deliveries/"+dlv["id"].(string), nil, http.StatusOK)
	require.InDelta(t, 1, detail["attempts"], 0)
	attempts := detail["attempt_history"].([]any)
	require.Len(t, attempts, 1)
	require.Equal(t, "down for maintenance", attempts[0].(map[string]any)["response_body"])
	// The attempt record keeps the webhook's secret header redacted, the
	// others as sent.
	sent := attempts[0].(map[string]any)["request_headers"].(map[string]any)
	require.Equal(t, "[redacted]", sent["X-Api-Key"])
	require.Equal(t, "acme", sent["X-Tenant"])
	require.NotContains(t, mustJSON(t, detail), "k3y-e2e")
	dead := call(http.MethodGet, "/api/v1/deliveries?status=permanent_failure", nil, http.StatusOK)
	require.Len(t, dead["data"], 1)

	redriven := call(http.MethodPost, "/api/v1/webhooks/"+id+"/retry", map[string]any{}, http.StatusOK)
	require.InDelta(t, 1, redriven["redriven"], 0)
	b.waitDelivery(t, eventID, domain.WebhookID(id), domain.DeliveryDelivered)
	withDeliveries := call(http.MethodGet, "/api/v1/events/"+string(eventID), nil, http.StatusOK)
	require.Len(t, withDeliveries["deliveries"], 1)

	test := call(http.MethodPost, "/api/v1/webhooks/"+id+"/test", nil, http.StatusOK)
	require.Equal(t, true, test["success"])
	require.InDelta(t, 200, test["status_code"], 0)

	require.Eventually(t, func() bool {
		got := call(http.MethodGet, "/api/v1/webhooks/"+id, nil, http.StatusOK)
		return got["last_triggered_at"] != nil
	}, 10*time.Second, 10*time.Millisecond, "last_triggered_at is maintained")
}
