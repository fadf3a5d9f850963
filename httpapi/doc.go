// Package httpapi serves lokihooks' REST API with Huma v2 on http.ServeMux:
// operations, request and response types, bearer-key authentication (checked
// before any body is read), the per-key rate limit, security headers, the
// mapping of domain errors to RFC 9457 problem responses (errors.go) and what
// those responses may echo, and the HTTP server's own limits: timeouts,
// header size and connection caps (server.go).
//
// It imports domain only; storage comes in through the small interfaces
// declared in deps.go, wired by cmd/lokihooks.
package httpapi
