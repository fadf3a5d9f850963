package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// WithAPIKey sends key as the bearer API key (Authorization: Bearer <key>)
// on every request: one of the server's LOKIHOOKS_API_KEYS.
func WithAPIKey(key string) ClientOption {
	//nolint:forbidigo // the name is oapi-codegen's
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	})
}

// Response is what every *…Response of ClientWithResponses satisfies.
type Response interface {
	StatusCode() int
	Bytes() []byte
}

// Problem is an answer outside 2xx: the API's RFC 9457 problem document
// (application/problem+json), whose Detail says what to do and whose
// Errors locate each problem ("body.url", "query.limit", …).
type Problem struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	ErrorModel
}

// Error summarises the problem on one line: status, detail and each
// located error.
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lokihooks API: %d %s", p.StatusCode, http.StatusText(p.StatusCode))
	if p.Detail != nil && *p.Detail != "" {
		b.WriteString(": " + *p.Detail)
	}
	for _, e := range p.Details() {
		b.WriteString("; ")
		if e.Location != nil {
			b.WriteString(*e.Location + ": ")
		}
		if e.Message != nil {
			b.WriteString(*e.Message)
		}
	}
	return b.String()
}

// Details returns the located errors of the problem (none when it has no
// errors member).
func (p *Problem) Details() []ErrorDetail {
	if p.Errors == nil {
		return nil
	}
	return *p.Errors
}

// maxDetailBytes bounds the detail of a Problem made from a body that is
// not a problem document (a proxy's HTML page, say).
const maxDetailBytes = 200

// Check returns nil when resp is a 2xx answer, and otherwise a *Problem
// decoded from its body. Use errors.As to read it:
//
//	var p *client.Problem
//	if errors.As(err, &p) && p.StatusCode == http.StatusConflict { … }
func Check(resp Response) error {
	code := resp.StatusCode()
	if code >= 200 && code < 300 {
		return nil
	}
	p := &Problem{StatusCode: code}
	if err := json.Unmarshal(resp.Bytes(), &p.ErrorModel); err != nil || p.Status == nil {
		body := resp.Bytes()
		if len(body) > maxDetailBytes {
			body = body[:maxDetailBytes]
		}
		detail := strings.ToValidUTF8(string(body), "")
		p.ErrorModel = ErrorModel{Detail: &detail}
	}
	return p
}
