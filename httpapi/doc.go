// Package httpapi serves lokihooks' REST API with Huma v2 on http.ServeMux:
// operations, request and response types, bearer-key authentication and the
// mapping of domain errors to RFC 9457 problem responses.
//
// It imports domain only; storage comes in through the small interfaces
// declared in deps.go, wired by cmd/lokihooks.
package httpapi
