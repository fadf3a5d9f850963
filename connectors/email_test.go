package connectors_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

const (
	testSMTPUser     = "relay@acme.test"
	testSMTPPassword = "sm7p-s3cr3t-pa55"
)

func emailRequest(credentials, config string, body []byte) domain.AttemptRequest {
	return domain.AttemptRequest{
		Kind: domain.KindEmail, DestinationID: "int_mail", EventID: "evt_1", EventType: "compliance.alert",
		DeliveryID: "dlv_1", Attempt: 1, Body: body, Timeout: 5 * time.Second, Now: time.Unix(testUnix, 0),
		Credentials: json.RawMessage(credentials), Config: json.RawMessage(config),
	}
}

// part is one leaf of a parsed MIME message.
type part struct {
	contentType string
	params      map[string]string
	disposition string
	filename    string
	body        string
}

// parseMail parses a received message into its headers and leaf parts,
// checking the structure multipart/mixed → multipart/alternative.
func parseMail(t *testing.T, data []byte) (*mail.Message, string, []part) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	var parts []part
	var walk func(r io.Reader, boundary string)
	walk = func(r io.Reader, boundary string) {
		mr := multipart.NewReader(r, boundary)
		for {
			p, err := mr.NextPart() // decodes quoted-printable
			if errors.Is(err, io.EOF) {
				return
			}
			require.NoError(t, err)
			ct, ps, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			require.NoError(t, err)
			if strings.HasPrefix(ct, "multipart/") {
				walk(p, ps["boundary"])
				continue
			}
			body, err := io.ReadAll(p)
			require.NoError(t, err)
			if p.Header.Get("Content-Transfer-Encoding") == "base64" {
				decoded, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body)))
				require.NoError(t, err)
				body = decoded
			}
			disp, dps, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			parts = append(parts, part{contentType: ct, params: ps, disposition: disp, filename: dps["filename"], body: string(body)})
		}
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		walk(msg.Body, params["boundary"])
	} else {
		body, err := io.ReadAll(msg.Body)
		require.NoError(t, err)
		parts = append(parts, part{contentType: mediaType, params: params, body: string(body)})
	}
	return msg, mediaType, parts
}

const emailConfig = `{
  "from": "LOKI alerts <alerts@acme.test>",
  "default_recipients": ["team@acme.test"],
  "distribution_lists": {
    "lists": {"compliance": ["legal@acme.test", "TEAM@acme.test"], "oncall": ["pager@acme.test"], "all": ["audit@acme.test"]},
    "routes": {"compliance.alert": ["compliance"], "severity:critical": ["oncall"], "*": ["all"]}
  },
  "attach_event": true,
  "footer": "Sent by lokihooks"
}`

func TestEmail_MIMEOverSTARTTLS(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t)
	srv := newSMTPServer(t, smtpOpts{tls: cert.server, user: testSMTPUser, pass: testSMTPPassword})
	body := envelopeBody("evt_1", "compliance.alert", complianceHigh)

	res := newEmail(t, cert.roots).Send(t.Context(), emailRequest(srv.credentials(testSMTPUser, testSMTPPassword), emailConfig, body))

	require.True(t, res.Success, "%s %v", res.Detail, res.Err)
	require.Equal(t, 250, res.StatusCode)
	require.Equal(t, "SMTP 250 message accepted for 3 recipient(s)", res.Detail)
	got := srv.next(t)
	require.True(t, got.tls, "STARTTLS must be used")
	require.Equal(t, testSMTPUser, got.authed)
	require.Equal(t, "alerts@acme.test", got.from)
	// default_recipients, then the compliance list (TEAM@ is a duplicate),
	// then "*"; severity:high routes nowhere.
	require.Equal(t, []string{"team@acme.test", "legal@acme.test", "audit@acme.test"}, got.to)

	msg, mediaType, parts := parseMail(t, got.data)
	require.Equal(t, "multipart/mixed", mediaType)
	require.Equal(t, "[LOKI] Compliance alert (high)", decodeHeader(t, msg.Header.Get("Subject")))
	require.Equal(t, `"LOKI alerts" <alerts@acme.test>`, msg.Header.Get("From"))
	require.Equal(t, "<evt_1.int_mail@lokihooks>", msg.Header.Get("Message-Id"))
	require.Equal(t, "evt_1", msg.Header.Get("X-Lokihooks-Event-Id"))
	date, err := msg.Header.Date()
	require.NoError(t, err)
	require.True(t, date.Equal(time.Unix(testUnix, 0)))

	require.Len(t, parts, 3)
	require.Equal(t, "text/plain", parts[0].contentType)
	require.Equal(t, "Compliance alert (high)\n\nFinancial promotion lacks a risk warning\n\n"+
		"Alert level: high\nAffected documents: doc_456, doc_789\nRecommended actions: Add the standard risk warning, Re-run validation\n\n"+
		"--\ncompliance.alert · evt_1 · 2026-01-02T03:04:05Z\nSent by lokihooks\n", normalizeNewlines(parts[0].body))
	require.Equal(t, "text/html", parts[1].contentType)
	require.Contains(t, parts[1].body, `border-left:6px solid #D00000`)
	require.Contains(t, parts[1].body, `<h1 style="margin:0 0 12px;font-size:20px">Compliance alert (high)</h1>`)
	require.Contains(t, parts[1].body, `<td style="padding:4px 0">doc_456, doc_789</td>`)
	require.Equal(t, "application/json", parts[2].contentType)
	require.Equal(t, "attachment", parts[2].disposition)
	require.Equal(t, "event.json", parts[2].filename)
	require.JSONEq(t, string(body), parts[2].body)

	require.Equal(t, []string{`"LOKI alerts" <alerts@acme.test>`}, res.RequestHeaders.Values("From"))
	require.Len(t, res.RequestHeaders.Values("To"), 3)
}

func TestEmail_RoutingBySeverity(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t)
	srv := newSMTPServer(t, smtpOpts{tls: cert.server})
	body := envelopeBody("evt_1", "system.error", `{"error_code":"E","component":"c","severity":"critical","message":"<b>down</b> & out"}`)

	res := newEmail(t, cert.roots).Send(t.Context(), emailRequest(srv.credentials("", ""), emailConfig, body))

	require.True(t, res.Success, res.Detail)
	got := srv.next(t)
	require.Empty(t, got.authed, "no username, no AUTH")
	require.Equal(t, []string{"team@acme.test", "pager@acme.test", "audit@acme.test"}, got.to)
	_, _, parts := parseMail(t, got.data)
	require.Contains(t, parts[1].body, "&lt;b&gt;down&lt;/b&gt; &amp; out", "HTML escapes event text")
	require.Contains(t, parts[0].body, "<b>down</b> & out", "text keeps it as is")
}

func TestEmail_CustomTemplatesTextOnly(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t)
	srv := newSMTPServer(t, smtpOpts{tls: cert.server})
	config := `{
	  "from": "alerts@acme.test", "default_recipients": ["team@acme.test"], "html_format": false,
	  "subject_template": "{{.Type}}: {{.Title}}",
	  "templates": {"report.generated": {"subject": "Report {{.Data.report_id}} is ready", "text": "Download: {{range .Links}}{{.URL}}{{end}} ({{upper .Level}})"}}
	}`

	res := newEmail(t, cert.roots).Send(t.Context(), emailRequest(srv.credentials("", ""), config,
		envelopeBody("evt_1", "report.generated", `{"report_id":"rpt_7","report_type":"t","url":"https://loki.example.com/r.pdf","document_count":1}`)))
	require.True(t, res.Success, res.Detail)
	msg, mediaType, parts := parseMail(t, srv.next(t).data)
	require.Equal(t, "text/plain", mediaType)
	require.Equal(t, "Report rpt_7 is ready", decodeHeader(t, msg.Header.Get("Subject")))
	require.Len(t, parts, 1)
	require.Equal(t, "Download: https://loki.example.com/r.pdf ()", strings.TrimSpace(parts[0].body))

	res = newEmail(t, cert.roots).Send(t.Context(), emailRequest(srv.credentials("", ""), config,
		envelopeBody("evt_2", "batch.completed", `{"batch_id":"b1"}`)))
	require.True(t, res.Success, res.Detail)
	msg, _, _ = parseMail(t, srv.next(t).data)
	require.Equal(t, "batch.completed: Batch completed", decodeHeader(t, msg.Header.Get("Subject")))
}

func TestEmail_ImplicitTLSWithLogin(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t)
	srv := newSMTPServer(t, smtpOpts{tls: cert.server, implicitTLS: true, user: testSMTPUser, pass: testSMTPPassword})
	config := `{"from":"alerts@acme.test","default_recipients":["team@acme.test"],"tls":"implicit","auth":"login"}`

	res := newEmail(t, cert.roots).Send(t.Context(), emailRequest(srv.credentials(testSMTPUser, testSMTPPassword), config,
		envelopeBody("evt_1", "webhook.test", `{"message":"hi"}`)))

	require.True(t, res.Success, "%s %v", res.Detail, res.Err)
	got := srv.next(t)
	require.True(t, got.tls)
	require.Equal(t, testSMTPUser, got.authed)
}

func TestEmail_PlaintextOnlyInsideAllowedNetworks(t *testing.T) {
	t.Parallel()
	srv := newSMTPServer(t, smtpOpts{insecureAuth: true, user: testSMTPUser, pass: testSMTPPassword})
	config := `{"from":"alerts@acme.test","default_recipients":["team@acme.test"],"tls":"none"}`
	req := emailRequest(srv.credentials(testSMTPUser, testSMTPPassword), config, envelopeBody("evt_1", "webhook.test", `{"message":"hi"}`))

	t.Run("Loopback", func(t *testing.T) {
		t.Parallel()
		res := newEmail(t, nil).Send(t.Context(), req)

		require.True(t, res.Success, "%s %v", res.Detail, res.Err)
		got := srv.next(t)
		require.False(t, got.tls)
		require.Equal(t, testSMTPUser, got.authed)
	})

	t.Run("Outside", func(t *testing.T) {
		t.Parallel()
		// The host's port is open to the guard through its allowed
		// networks only in the other subtest; here loopback is outside
		// them, as any real host would be.
		dialer := connectors.NewSMTPDialer(connectors.ClientConfig{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})

		res := connectors.NewEmail(dialer, connectors.EmailConfig{}).Send(t.Context(), req)

		require.False(t, res.Success)
		require.True(t, res.Permanent)
		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		require.Equal(t, "blocked: tls none is allowed only for SMTP hosts inside LOKIHOOKS_ALLOWED_NETWORKS, and 127.0.0.1 is outside", res.Detail)
	})
}

func TestEmail_Failures(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t)
	config := `{"from":"alerts@acme.test","default_recipients":["team@acme.test"]}`
	body := envelopeBody("evt_1", "webhook.test", `{"message":"hi"}`)
	tests := []struct {
		name      string
		opts      smtpOpts
		roots     bool
		password  string
		config    string
		code      int
		category  domain.ErrorCategory
		permanent bool
		detail    string
	}{
		{
			name: "Temporary4xx", roots: true,
			opts: smtpOpts{tls: cert.server, rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}},
			code: 451, category: domain.ErrorCategoryHTTP4xx, permanent: false,
		},
		{
			name: "Permanent5xx", roots: true,
			opts: smtpOpts{tls: cert.server, rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}},
			code: 550, category: domain.ErrorCategoryHTTP5xx, permanent: true,
		},
		{
			name: "DataRejected", roots: true,
			opts: smtpOpts{tls: cert.server, dataErr: &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "too big"}},
			code: 552, category: domain.ErrorCategoryHTTP5xx, permanent: true,
		},
		{
			name: "WrongPassword", roots: true, password: "wrong",
			opts: smtpOpts{tls: cert.server, user: testSMTPUser, pass: testSMTPPassword},
			code: 535, category: domain.ErrorCategoryHTTP5xx, permanent: true,
		},
		{
			name: "NoSTARTTLS", roots: true,
			opts:     smtpOpts{},
			category: domain.ErrorCategoryNetwork, permanent: true,
			detail: "tls: the server does not offer STARTTLS (config tls starttls)",
		},
		{
			name:     "UntrustedCertificate",
			opts:     smtpOpts{tls: cert.server},
			category: domain.ErrorCategoryNetwork, permanent: false,
			detail: "tls: certificate signed by unknown authority",
		},
		{
			name: "InvalidRecipient", roots: true,
			opts:     smtpOpts{tls: cert.server},
			config:   `{"from":"alerts@acme.test","default_recipients":["not an address"]}`,
			category: domain.ErrorCategoryNetwork, permanent: true,
			detail: "other: email cannot be composed: recipients: an address is not valid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSMTPServer(t, tt.opts)
			roots := cert.roots
			if !tt.roots {
				roots = nil
			}
			user, pass := "", ""
			if tt.opts.user != "" {
				user, pass = testSMTPUser, testSMTPPassword
				if tt.password != "" {
					pass = tt.password
				}
			}
			cfg := config
			if tt.config != "" {
				cfg = tt.config
			}

			res := newEmail(t, roots).Send(t.Context(), emailRequest(srv.credentials(user, pass), cfg, body))

			require.False(t, res.Success)
			require.Equal(t, tt.code, res.StatusCode)
			require.Equal(t, tt.category, res.Category)
			require.Equal(t, tt.permanent, res.Permanent, res.Detail)
			if tt.detail != "" {
				require.Equal(t, tt.detail, res.Detail)
			}
			if tt.code != 0 {
				require.True(t, strings.HasPrefix(res.Detail, "SMTP "), res.Detail)
				out := domain.DecideAttempt(domain.DefaultWebhookSpec().RetryPolicy(), 1, res, time.Unix(testUnix, 0), 0)
				if tt.permanent {
					require.Equal(t, domain.DeliveryPermanentFailure, out.Status)
				} else {
					require.Equal(t, domain.DeliveryRetrying, out.Status)
				}
			}
			srv.requireNone(t)
		})
	}
}

func TestEmail_NoRecipients(t *testing.T) {
	t.Parallel()
	cert := newTestCert(t)
	srv := newSMTPServer(t, smtpOpts{tls: cert.server})
	config := `{"from":"alerts@acme.test","distribution_lists":{"lists":{"c":["a@acme.test"]},"routes":{"compliance.alert":["c"]}}}`

	res := newEmail(t, cert.roots).Send(t.Context(), emailRequest(srv.credentials("", ""), config, envelopeBody("evt_1", "batch.completed", `{}`)))

	require.True(t, res.Success)
	require.Equal(t, "no recipient is configured for this event; nothing sent", res.Detail)
	srv.requireNone(t)
}

func TestEmail_ConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().(*net.TCPAddr)
	require.NoError(t, ln.Close())
	creds := `{"smtp_host":"127.0.0.1","smtp_port":` + strconv.Itoa(addr.Port) + `}`

	res := newEmail(t, nil).Send(t.Context(), emailRequest(creds, `{"from":"a@acme.test","default_recipients":["b@acme.test"]}`, envelopeBody("evt_1", "webhook.test", `{}`)))

	require.False(t, res.Success)
	require.False(t, res.Permanent)
	require.Equal(t, "connect: connection refused", res.Detail)
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	require.NoError(t, err)
	return s
}

func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
