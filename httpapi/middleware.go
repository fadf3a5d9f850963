package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// ServeHTTP implements http.Handler. Before a route sees a request, and so
// before any body is read, it sets the security headers, checks the API
// key of every /api route and the key's rate limit, then the query string.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header(), r.URL.Path)
	if strings.HasPrefix(r.URL.Path, apiPrefix) {
		key, ok := a.authenticate(w, r)
		if !ok || !a.limit(w, r, key) {
			return
		}
		// Commands record which key made them (the audit history).
		r = r.WithContext(domain.WithActor(r.Context(), a.actors[key]))
	}
	// Huma reads the query with url.Values, which drops what it cannot
	// parse: a filter or cursor with a bad escape would silently vanish.
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "the query string is not valid ("+err.Error()+
			"): percent-encode reserved characters, a literal % as %25, and separate parameters with &")
		return
	}
	a.mux.ServeHTTP(w, r)
}

// setSecurityHeaders sets the headers every answer carries: no content
// sniffing, no framing, no referrer, and no caching of /api answers (they
// are per key and may carry secrets, webhook URLs and header values) or of
// health checks.
func setSecurityHeaders(h http.Header, path string) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(path, apiPrefix) || path == "/healthz" || path == "/readyz" {
		h.Set("Cache-Control", "no-store")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
}

// authenticate requires a valid bearer key and returns its index in
// Config.APIKeys. Keys are compared as SHA-256 digests in constant time. A
// refusal is written from the request's headers alone.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (int, bool) {
	auth := r.Header.Get("Authorization")
	// The scheme is case-insensitive (RFC 9110 §11.1).
	scheme, token, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if strings.EqualFold(scheme, "Bearer") {
		if i, ok := a.keyIndex(strings.TrimSpace(token)); ok {
			return i, true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="lokihooks"`)
	writeProblem(w, r, http.StatusUnauthorized, authProblem(auth))
	return 0, false
}

// authProblem says what is wrong with an Authorization header that does
// not carry a valid key, and what to send instead. It never echoes a key.
func authProblem(auth string) string {
	const want = "send the header Authorization: Bearer <api key>"
	scheme, token, hasToken := strings.Cut(strings.TrimSpace(auth), " ")
	token = strings.TrimSpace(token)
	switch {
	case strings.TrimSpace(auth) == "":
		return "missing API key: " + want
	case strings.EqualFold(scheme, "Bearer") && token == "":
		return "the Authorization header has the Bearer prefix but no API key after it: " + want
	case strings.EqualFold(scheme, "Bearer"):
		return "invalid API key: it is not one of the keys this server accepts (LOKIHOOKS_API_KEYS); " +
			"check it for typos and stray characters, or ask the operator for a key"
	case !hasToken:
		return "the Authorization header is missing the Bearer prefix: " + want
	case len(scheme) <= 20 && isToken(scheme):
		return fmt.Sprintf("the Authorization scheme %q is not supported: %s", scheme, want)
	}
	return "the Authorization header is not a bearer key: " + want
}

// keyIndex returns the index of token among the configured keys.
func (a *API) keyIndex(token string) (int, bool) {
	if token == "" {
		return 0, false
	}
	sum := sha256.Sum256([]byte(token))
	found, index := 0, 0
	for i, k := range a.keyHash {
		eq := subtle.ConstantTimeCompare(sum[:], k[:])
		index = subtle.ConstantTimeSelect(eq&^found, i, index)
		found |= eq
	}
	return index, found == 1
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if ('a' > c || c > 'z') && ('A' > c || c > 'Z') && ('0' > c || c > '9') && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}

// writeProblem writes an RFC 9457 problem outside Huma (routing, the API
// key, the query string). A request whose body was not read gets
// Connection: close, so the server answers at once instead of first
// draining a body that may never come.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	body, _ := json.Marshal(&huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
