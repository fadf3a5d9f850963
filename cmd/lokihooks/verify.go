package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loki-interceptor/lokihooks/internal/sigcheck"
)

// errNotVerified is the result of `verify` on a request whose signatures
// do not verify; the report is already printed.
var errNotVerified = fmt.Errorf("signature not verified: %w", errReported)

// verifyOpts are the flags of `lokihooks verify`.
type verifyOpts struct {
	secret    string
	previous  []string
	headers   []string
	bodyFile  string
	at        string
	tolerance time.Duration
	scheme    string
	asJSON    bool
}

func (c cli) verifyCmd() *cobra.Command {
	var o verifyOpts
	cmd := &cobra.Command{
		Use:     "verify [request-file|-]",
		GroupID: groupTools,
		Short:   "Verify a delivery's signatures and explain any failure",
		Long: `The signature doctor. Verifies both signatures of a saved delivery request
with the webhook's secret: webhook-signature (Standard Webhooks, ±5 minutes)
and X-Webhook-Signature (sha256=<hex> over the raw body). When one fails it
names the reason: a missing header, a timestamp outside the tolerance (and by
how much), the wrong secret (and whether --previous-secret matches), a body
re-serialised on the way (whitespace, key order, escaping), or the whsec_
prefix or the key handled the wrong way.

The request is a file holding a raw HTTP request (request line, headers, a
blank line, the body) as 'lokihooks receive --save' writes it, or a JSON capture
{"headers": {...}, "body": "..."}, or --header flags with --body-file.
Exits 0 when the signatures verify, 1 otherwise.`,
		Example: `  # A raw request, as saved by 'lokihooks receive --save DIR'
  lokihooks verify --secret whsec_... request.http

  # Headers and body given apart
  lokihooks verify --secret whsec_... \
    --header 'webhook-id: evt_01J...' --header 'webhook-timestamp: 1767225600' \
    --header 'webhook-signature: v1,K5oZ...' --header 'X-Webhook-Signature: sha256=4f1c...' \
    --body-file body.json

  # After a rotation: is the request signed with the old secret?
  lokihooks verify --secret whsec_NEW... --previous-secret whsec_OLD... request.http

  # Check a request captured earlier as of when it arrived
  lokihooks verify --secret whsec_... --at 2026-03-01T10:00:00Z request.http`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.secret == "" {
				return usageErrorf(cmd, "--secret is required: the webhook's signing secret (whsec_...), "+
					"as shown when the webhook was created or its secret rotated")
			}
			if len(args) > 1 {
				return usageErrorf(cmd, "give one request file, got %d", len(args))
			}
			if len(args) == 0 && o.bodyFile == "" {
				return usageErrorf(cmd, "give a request file, or --header flags with --body-file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.verify(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.secret, "secret", "", "the webhook's signing secret (whsec_...), as shown when it was created or rotated")
	f.StringArrayVar(&o.previous, "previous-secret", nil, "a rotated-out secret to test the signatures against (repeatable)")
	f.StringArrayVar(&o.headers, "header", nil, "a request header, 'Name: value' (repeatable; adds to or replaces the file's)")
	f.StringVar(&o.bodyFile, "body-file", "", "file holding the raw request body (- for standard input)")
	f.StringVar(&o.at, "at", "", "check as of this time (RFC 3339 or unix seconds) instead of now")
	f.DurationVar(&o.tolerance, "tolerance", sigcheck.DefaultTolerance, "how far webhook-timestamp may be from now")
	f.StringVar(&o.scheme, "scheme", "both", "signatures that must verify: both, standard or legacy")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	_ = cmd.RegisterFlagCompletionFunc("scheme", fixedCompletions("both", "standard", "legacy"))
	return cmd
}

func (c cli) verify(cmd *cobra.Command, o verifyOpts, args []string) error {
	switch o.scheme {
	case "both", "standard", "legacy":
	default:
		return usageErrorf(cmd, "--scheme must be both, standard or legacy, got %q", o.scheme)
	}
	now := time.Now()
	if o.at != "" {
		t, err := parseTime(o.at)
		if err != nil {
			return usageErrorf(cmd, "--at: %v", err)
		}
		now = t
	}
	var saved savedRequest
	if len(args) == 1 {
		raw, err := readInput(cmd, args[0])
		if err != nil {
			return err
		}
		if saved, err = parseSavedRequest(raw); err != nil {
			return fmt.Errorf("read request %s: %w", args[0], err)
		}
	} else {
		saved.header = http.Header{}
	}
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return usageErrorf(cmd, "--header %q: want 'Name: value'", h)
		}
		saved.header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if o.bodyFile != "" {
		b, err := readInput(cmd, o.bodyFile)
		if err != nil {
			return err
		}
		saved.body, saved.note = b, ""
	}
	rep := sigcheck.Check(saved.header, saved.body, sigcheck.Params{
		Secret: o.secret, PreviousSecrets: o.previous, Now: now, Tolerance: o.tolerance,
	})
	ok := rep.OK()
	switch o.scheme {
	case "standard":
		ok = rep.Standard.OK
	case "legacy":
		ok = rep.Legacy.OK
	}
	if o.asJSON {
		if err := writeJSON(c.stdout, verifyJSON{Verified: ok, Standard: resultJSON(rep.Standard), Legacy: resultJSON(rep.Legacy)}); err != nil {
			return err
		}
	} else {
		printVerifyReport(c.stdout, saved, rep, ok, now)
	}
	if !ok {
		return errNotVerified
	}
	return nil
}

func printVerifyReport(w io.Writer, saved savedRequest, rep sigcheck.Report, ok bool, now time.Time) {
	desc := fmt.Sprintf("body %d bytes", len(saved.body))
	if id := saved.header.Get(sigcheck.HeaderID); id != "" {
		desc = "webhook-id " + id + ", " + desc
	}
	if ts, err := strconv.ParseInt(saved.header.Get(sigcheck.HeaderTimestamp), 10, 64); err == nil {
		at := time.Unix(ts, 0).UTC()
		desc += fmt.Sprintf(", signed at %s (%s)", at.Format(time.RFC3339), relative(at.Sub(now)))
	}
	fmt.Fprintf(w, "request: %s\n", desc)
	if saved.note != "" {
		fmt.Fprintf(w, "note: %s\n", saved.note)
	}
	for _, r := range []struct {
		title string
		res   sigcheck.Result
	}{
		{"Standard Webhooks (webhook-signature)", rep.Standard},
		{"legacy (X-Webhook-Signature)", rep.Legacy},
	} {
		mark := "✗"
		if r.res.OK {
			mark = "✓"
		}
		fmt.Fprintf(w, "%-38s %s %s\n", r.title, mark, r.res.Message)
		for _, n := range r.res.Notes {
			fmt.Fprintf(w, "%-38s   %s\n", "", n)
		}
		if r.res.Hint != "" {
			fmt.Fprintf(w, "%-38s   → %s\n", "", r.res.Hint)
		}
	}
	if ok {
		fmt.Fprintln(w, "verified")
	} else {
		fmt.Fprintln(w, "NOT verified")
	}
}

// relative describes a signed time against now: "7m12s ago", "in 6m".
func relative(d time.Duration) string {
	switch {
	case d.Abs() < time.Second:
		return "just now"
	case d < 0:
		return sigcheck.FormatDuration(-d) + " ago"
	}
	return "in " + sigcheck.FormatDuration(d)
}

// parseTime reads RFC 3339 or unix seconds.
func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-03-01T10:00:00Z) nor unix seconds", s)
	}
	return t, nil
}

type verifyJSON struct {
	Verified bool             `json:"verified"`
	Standard verifyResultJSON `json:"standard"`
	Legacy   verifyResultJSON `json:"legacy"`
}

type verifyResultJSON struct {
	OK          bool     `json:"ok"`
	Reason      string   `json:"reason"`
	Message     string   `json:"message"`
	Hint        string   `json:"hint,omitempty"`
	Notes       []string `json:"notes,omitempty"`
	SkewSeconds *int64   `json:"skew_seconds,omitempty"`
}

func resultJSON(r sigcheck.Result) verifyResultJSON {
	out := verifyResultJSON{OK: r.OK, Reason: string(r.Reason), Message: r.Message, Hint: r.Hint, Notes: r.Notes}
	if r.Scheme == sigcheck.SchemeStandard && r.Reason != sigcheck.ReasonMissingHeader && r.Reason != sigcheck.ReasonMalformedHeader {
		s := int64(r.Skew.Round(time.Second) / time.Second)
		out.SkewSeconds = &s
	}
	return out
}

// savedRequest is a request read from a file.
type savedRequest struct {
	header http.Header
	body   []byte
	note   string // something the reader noticed, such as bytes past Content-Length
}

var requestLine = regexp.MustCompile(`^[A-Z]+ \S+ HTTP/\d(\.\d)?\r?$`)

// parseSavedRequest reads a raw HTTP request, a header block and body
// without a request line, or a JSON capture ({"headers", "body"}).
func parseSavedRequest(raw []byte) (savedRequest, error) {
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '{' {
		var capture struct {
			Headers map[string]string `json:"headers"`
			Body    *string           `json:"body"`
		}
		if err := json.Unmarshal(trimmed, &capture); err == nil && capture.Headers != nil && capture.Body != nil {
			h := http.Header{}
			for k, v := range capture.Headers {
				h.Set(k, v)
			}
			return savedRequest{header: h, body: []byte(*capture.Body)}, nil
		}
		return savedRequest{}, fmt.Errorf(`a file starting with "{" must be {"headers": {...}, "body": "..."}; ` +
			"to check a body alone, give it with --body-file and the headers with --header")
	}
	head, body, ok := splitHead(raw)
	if !ok {
		return savedRequest{}, fmt.Errorf("no blank line ends the headers: a saved request is the request line, headers, a blank line, then the body")
	}
	// A copy: appending to head would overwrite the body it shares an array with.
	head = append(slices.Clip(head), "\r\n\r\n"...)
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	first, err := r.ReadLine()
	if err != nil {
		return savedRequest{}, err
	}
	var mime textproto.MIMEHeader
	if requestLine.MatchString(first) {
		mime, err = r.ReadMIMEHeader()
	} else {
		// No request line: the file starts with the headers.
		r = textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
		mime, err = r.ReadMIMEHeader()
	}
	if err != nil {
		return savedRequest{}, fmt.Errorf("headers: %w", err)
	}
	out := savedRequest{header: http.Header(mime), body: body}
	if cl := out.header.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		switch {
		case err != nil || n < 0:
			return savedRequest{}, fmt.Errorf("Content-Length %q is not a number", cl)
		case n < len(body):
			out.body = body[:n]
			out.note = fmt.Sprintf("ignored %d bytes after the Content-Length of %d (an editor's trailing newline?)", len(body)-n, n)
		case n > len(body):
			out.note = fmt.Sprintf("the body is %d bytes, shorter than its Content-Length of %d: was it cut?", len(body), n)
		}
	}
	if strings.EqualFold(out.header.Get("Transfer-Encoding"), "chunked") {
		out.note = "the body is chunked (Transfer-Encoding: chunked): save the decoded body instead, with --body-file"
	}
	return out, nil
}

// splitHead splits a saved request at the blank line after the headers,
// which may end in CRLF or LF.
func splitHead(raw []byte) (head, body []byte, ok bool) {
	crlf := bytes.Index(raw, []byte("\r\n\r\n"))
	lf := bytes.Index(raw, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return raw[:crlf], raw[crlf+4:], true
	case lf >= 0:
		return raw[:lf], raw[lf+2:], true
	}
	return nil, nil, false
}
