package connectors_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

const testZapierPath = "/hooks/catch/123456/s3cr3th00k/"

func zapierRequest(rec *recorder, body []byte, config string) domain.AttemptRequest {
	return domain.AttemptRequest{
		Kind: domain.KindZapier, DestinationID: "int_zap", EventID: "evt_1", EventType: "document.processed",
		DeliveryID: "dlv_1", Attempt: 1, Body: body, Timeout: 5 * time.Second, Now: time.Unix(testUnix, 0),
		Credentials: json.RawMessage(`{"webhook_url":"` + rec.server.URL + testZapierPath + `"}`),
		Config:      json.RawMessage(config),
	}
}

// zapierAnswer answers like a catch hook.
func zapierAnswer(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"success","request_id":"r1"}`))
}

const documentProcessed = `{"document_id":"doc_456","results":{"validation_status":"pass","corrections_applied":1,"stages":{"ocr":true}},"processing_time_ms":1204.70,"tags":["a","b"],"changes":[{"rule":"r1","before":"x","after":"y"},{"before":"p","after":"q"}],"event_id":"clash"}`

func TestZapier_FlatJSON(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, zapierAnswer)
	z := connectors.NewZapier(testClient(t), connectors.ZapierConfig{})

	res := z.Send(t.Context(), zapierRequest(rec, envelopeBody("evt_1", "document.processed", documentProcessed), `{}`))

	require.True(t, res.Success, res.Detail)
	got := rec.next(t)
	require.Equal(t, testZapierPath, got.path)
	require.Equal(t, "application/json", got.header.Get("Content-Type"))
	require.Equal(t, "evt_1", got.header.Get("Webhook-Id"))
	// Byte for byte: key order is part of the contract (envelope keys
	// first), and numbers keep the producer's spelling.
	require.Equal(t, `{"event_id":"evt_1","event_type":"document.processed","occurred_at":"2026-01-02T03:04:05Z",`+
		`"changes_1_after":"y","changes_1_before":"x","changes_1_rule":"r1","changes_2_after":"q","changes_2_before":"p",`+
		`"document_id":"doc_456","data_event_id":"clash","processing_time_ms":1204.70,`+
		`"results_corrections_applied":1,"results_stages_ocr":true,"results_validation_status":"pass","tags":"a, b"}`, string(got.body))
}

func TestZapier_Transformations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, config, want string
	}{
		{
			name:   "SelectAndRename",
			config: `{"select":["event_type","document_id","results_validation_status","missing"],"rename":{"results_validation_status":"status","document_id":"doc"}}`,
			want:   `{"event_type":"document.processed","doc":"doc_456","status":"pass","missing":null}`,
		},
		{
			name:   "NoFlatten",
			config: `{"flatten":false,"select":["document_id","results","tags"]}`,
			want:   `{"document_id":"doc_456","results":{"corrections_applied":1,"stages":{"ocr":true},"validation_status":"pass"},"tags":["a","b"]}`,
		},
		{
			name:   "RenameReplacesExisting",
			config: `{"select":["event_id","document_id"],"rename":{"document_id":"event_id"}}`,
			want:   `{"event_id":"doc_456"}`,
		},
		{
			name:   "RenameOfAbsentKeyKeepsTarget",
			config: `{"select":["event_id"],"rename":{"nope":"event_id"}}`,
			want:   `{"event_id":"evt_1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, zapierAnswer)

			res := connectors.NewZapier(testClient(t), connectors.ZapierConfig{}).Send(t.Context(),
				zapierRequest(rec, envelopeBody("evt_1", "document.processed", documentProcessed), tt.config))

			require.True(t, res.Success, res.Detail)
			require.Equal(t, tt.want, string(rec.next(t).body))
		})
	}
}

func TestZapier_Batch(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, zapierAnswer)
	z := connectors.NewZapier(testClient(t), connectors.ZapierConfig{})
	req := zapierRequest(rec, nil, `{"select":["event_id","document_id"]}`)
	for i := range 3 {
		id := "evt_" + strconv.Itoa(i)
		body := envelopeBody(id, "document.processed", `{"document_id":"doc_`+strconv.Itoa(i)+`"}`)
		req.Batch = append(req.Batch, domain.BatchItem{EventID: id, EventType: "document.processed", DeliveryID: "dlv_" + strconv.Itoa(i), Body: body})
	}
	req.EventID, req.Body = req.Batch[0].EventID, req.Batch[0].Body

	res := z.Send(t.Context(), req)

	require.True(t, res.Success, res.Detail)
	got := rec.next(t)
	require.Equal(t, `[{"event_id":"evt_0","document_id":"doc_0"},{"event_id":"evt_1","document_id":"doc_1"},{"event_id":"evt_2","document_id":"doc_2"}]`, string(got.body))
	require.Empty(t, got.header.Get("Webhook-Id"), "a batch has no single event id")

	t.Run("SingleItemBatchIsAnObject", func(t *testing.T) {
		t.Parallel()
		one := req
		one.Batch = req.Batch[:1]

		require.True(t, z.Send(t.Context(), one).Success)
		require.Equal(t, `{"event_id":"evt_0","document_id":"doc_0"}`, string(rec.next(t).body))
	})

	t.Run("OverLimit", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, zapierAnswer)
		big := zapierRequest(rec, nil, `{}`)
		for range connectors.MaxZapierBatch + 1 {
			big.Batch = append(big.Batch, req.Batch[0])
		}

		res := z.Send(t.Context(), big)

		require.True(t, res.Permanent)
		require.ErrorIs(t, res.Err, domain.ErrInvalid)
		rec.requireNone(t)
	})

	t.Run("BadItem", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, zapierAnswer)
		bad := zapierRequest(rec, nil, `{}`)
		bad.Batch = []domain.BatchItem{req.Batch[0], {EventID: "evt_x", Body: []byte(`not json`)}}

		res := z.Send(t.Context(), bad)

		require.True(t, res.Permanent)
		rec.requireNone(t)
	})
}

func TestZapier_GoneDeactivates(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })

	res := connectors.NewZapier(testClient(t), connectors.ZapierConfig{}).Send(t.Context(),
		zapierRequest(rec, envelopeBody("evt_1", "webhook.test", `{"message":"x"}`), `{}`))

	require.False(t, res.Success)
	require.Equal(t, http.StatusGone, res.StatusCode)
	out := domain.DecideAttempt(domain.DefaultWebhookSpec().RetryPolicy(), 1, res, time.Unix(testUnix, 0), 0)
	require.Equal(t, domain.DeliveryFailed, out.Status)
	require.NotEmpty(t, out.Deactivate)
}
