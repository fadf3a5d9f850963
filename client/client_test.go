package client_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/client"
)

// answer is a server that checks the key and answers status with body.
func answer(t *testing.T, status int, contentType, body string) *client.ClientWithResponses {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer key-0123456789abcdef" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.NewClientWithResponses(srv.URL, client.WithAPIKey("key-0123456789abcdef"))
	require.NoError(t, err)
	return c
}

func TestCheck(t *testing.T) {
	t.Parallel()

	t.Run("Success", func(t *testing.T) {
		t.Parallel()
		c := answer(t, http.StatusOK, "application/json", `{"status":"ok"}`)
		resp, err := c.HealthzWithResponse(t.Context())
		require.NoError(t, err)
		require.NoError(t, client.Check(resp))
	})

	t.Run("Problem", func(t *testing.T) {
		t.Parallel()
		c := answer(t, http.StatusUnprocessableEntity, "application/problem+json",
			`{"title":"Unprocessable Entity","status":422,"detail":"validation failed",`+
				`"errors":[{"location":"body.url","message":"must use https"}]}`)
		resp, err := c.CreateWebhookWithResponse(t.Context(), client.CreateWebhookJSONRequestBody{})
		require.NoError(t, err)
		require.NotNil(t, resp.ApplicationproblemJSON422, "the generated client decodes the documented problem")
		err = client.Check(resp)
		var p *client.Problem
		require.ErrorAs(t, err, &p)
		require.Equal(t, http.StatusUnprocessableEntity, p.StatusCode)
		require.Len(t, p.Details(), 1)
		require.Equal(t, "body.url", *p.Details()[0].Location)
		require.Equal(t, "lokihooks API: 422 Unprocessable Entity: validation failed; body.url: must use https", err.Error())
	})

	t.Run("NotAProblem", func(t *testing.T) {
		t.Parallel()
		c := answer(t, http.StatusBadGateway, "text/html", "<html>"+strings.Repeat("x", 500))
		resp, err := c.HealthzWithResponse(t.Context())
		require.NoError(t, err)
		var p *client.Problem
		require.ErrorAs(t, client.Check(resp), &p)
		require.Equal(t, http.StatusBadGateway, p.StatusCode)
		require.Len(t, *p.Detail, 200, "the body's start, bounded")
	})
}
