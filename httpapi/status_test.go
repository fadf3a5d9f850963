package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/httpapi"
)

// fixedStatus is a status source answering a fixed summary.
type fixedStatus struct{ err error }

func (f fixedStatus) Status(context.Context) (*httpapi.StatusView, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &httpapi.StatusView{
		OutboxLagEvents: 12, OutboxLagSeconds: 3.5,
		Projections:  []httpapi.ProjectionLagView{{Projection: "deliveries", Events: 4, Seconds: 0.2}},
		Jobs:         []httpapi.JobCountView{{Kind: "deliver", State: "available", Count: 7}},
		OpenBreakers: []httpapi.OpenBreakersView{{Kind: "webhook", State: "open", Count: 1}},
	}, nil
}

func TestAPI_Status(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, deps httpapi.Deps, key string) *httptest.ResponseRecorder {
		t.Helper()
		api := httpapi.New(deps, httpapi.Config{APIKeys: []string{"status-test-key-0123456789"}})
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		return rec
	}

	t.Run("Summary", func(t *testing.T) {
		t.Parallel()
		rec := get(t, httpapi.Deps{Status: fixedStatus{}}, "status-test-key-0123456789")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var v httpapi.StatusView
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
		require.Equal(t, int64(12), v.OutboxLagEvents)
		require.InDelta(t, 3.5, v.OutboxLagSeconds, 0)
		require.Len(t, v.OpenBreakers, 1)
	})

	t.Run("NeedsAKey", func(t *testing.T) {
		t.Parallel()
		rec := get(t, httpapi.Deps{Status: fixedStatus{}}, "wrong-key-0123456789")
		require.Equal(t, http.StatusUnauthorized, rec.Code)
	})

	t.Run("NoSource", func(t *testing.T) {
		t.Parallel()
		rec := get(t, httpapi.Deps{}, "status-test-key-0123456789")
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	})

	t.Run("DatabaseFails", func(t *testing.T) {
		t.Parallel()
		rec := get(t, httpapi.Deps{Status: fixedStatus{err: errors.New("connection refused")}}, "status-test-key-0123456789")
		require.Equal(t, http.StatusInternalServerError, rec.Code)
		require.NotContains(t, rec.Body.String(), "connection refused")
	})
}
