package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/httpapi"
)

// The embedded dashboard and docs page: served without a key, from this
// server only (a CSP that allows nothing else), revalidated by ETag. The
// browser test (cmd/lokihooks/ui_e2e_test.go) drives them.
func TestUI(t *testing.T) {
	t.Parallel()
	api := httpapi.New(httpapi.Deps{}, httpapi.Config{APIKeys: []string{"ui-test-key-0123456789"}})
	get := func(t *testing.T, path string, hdr ...string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		return rec
	}
	// Every script and stylesheet a page names is one of ours.
	assets := regexp.MustCompile(`<(?:script|link)[^>]*(?:src|href)="([^"]+)"`)

	for _, tc := range []struct{ name, path, marker string }{
		{"Dashboard", "/ui/", `<div id="app">`},
		{"Docs", "/docs", `<div id="docs">`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := get(t, tc.path)
			require.Equal(t, http.StatusOK, res.Code)
			require.Equal(t, "text/html; charset=utf-8", res.Header().Get("Content-Type"))
			require.Contains(t, res.Header().Get("Content-Security-Policy"), "default-src 'self'")
			page := res.Body.String()
			require.Contains(t, page, tc.marker)
			for _, m := range assets.FindAllStringSubmatch(page, -1) {
				if m[1] == "data:," { // the empty favicon
					continue
				}
				require.True(t, strings.HasPrefix(m[1], "/ui/assets/"), "%s loads %s", tc.path, m[1])
				a := get(t, m[1])
				require.Equal(t, http.StatusOK, a.Code, m[1])
				require.Regexp(t, `^(text/javascript|text/css)`, a.Header().Get("Content-Type"), m[1])
			}
		})
	}

	t.Run("ETag", func(t *testing.T) {
		t.Parallel()
		res := get(t, "/ui/assets/index.js")
		require.Equal(t, http.StatusOK, res.Code)
		require.Equal(t, "no-cache", res.Header().Get("Cache-Control"))
		etag := res.Header().Get("ETag")
		require.NotEmpty(t, etag)
		require.Equal(t, http.StatusNotModified, get(t, "/ui/assets/index.js", "If-None-Match", etag).Code)
	})

	t.Run("Redirect", func(t *testing.T) {
		t.Parallel()
		res := get(t, "/ui")
		require.Equal(t, http.StatusMovedPermanently, res.Code)
		require.Equal(t, "/ui/", res.Header().Get("Location"))
	})

	t.Run("UnknownFile", func(t *testing.T) {
		t.Parallel()
		res := get(t, "/ui/nope.js")
		require.Equal(t, http.StatusNotFound, res.Code)
		require.Equal(t, "application/problem+json", res.Header().Get("Content-Type"))
	})

	t.Run("NotUnderAPIKey", func(t *testing.T) {
		t.Parallel()
		// The pages hold no data; the API behind them still wants the key.
		require.Equal(t, http.StatusUnauthorized, get(t, "/api/v1/webhooks").Code)
	})
}
