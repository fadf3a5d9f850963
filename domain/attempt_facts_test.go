package domain_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

func TestDecodeAttemptFacts(t *testing.T) {
	t.Parallel()
	next := time.Date(2026, 11, 29, 10, 1, 0, 0, time.UTC)
	e := domain.DeliveryAttempted{
		Attempt: 3, RequestHeaders: map[string]string{"X-Webhook-Attempt": "3"}, StatusCode: 503,
		ResponseHeaders: map[string]string{"Retry-After": "60"}, ResponseBody: "busy", Truncated: true,
		DurationMS: 12.345, ErrorCategory: domain.ErrorCategoryHTTP5xx, ErrorDetail: "HTTP 503 Service Unavailable",
		Status: domain.DeliveryRetrying, NextAttemptAt: &next, At: next.Add(-time.Minute),
	}
	data, err := json.Marshal(e)
	require.NoError(t, err)
	f, err := domain.DecodeAttemptFacts(data)
	require.NoError(t, err)
	require.Equal(t, domain.AttemptFacts{
		Attempt: e.Attempt, StatusCode: e.StatusCode, DurationMS: e.DurationMS, ErrorCategory: e.ErrorCategory,
		ErrorDetail: e.ErrorDetail, Status: e.Status, At: e.At,
	}, f, "the facts keep the event's JSON keys")
	_, err = domain.DecodeAttemptFacts([]byte(`{"attempt":"x"}`))
	require.Error(t, err)
}
