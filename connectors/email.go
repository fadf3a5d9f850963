package connectors

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Email defaults and limits.
const (
	// DefaultEmailTimeout bounds an email attempt (connect, TLS, AUTH and
	// the whole SMTP dialogue) when neither the request nor
	// EmailConfig.DefaultTimeout sets one.
	DefaultEmailTimeout = 30 * time.Second
	// DefaultEmailSubject is the subject template when config
	// subject_template and the event type's template set none.
	DefaultEmailSubject = "[LOKI] {{.Title}}"

	// TLS modes of config tls.
	EmailTLSStartTLS = "starttls"
	EmailTLSImplicit = "implicit"
	EmailTLSNone     = "none"

	// Auth mechanisms of config auth.
	EmailAuthPlain = "plain"
	EmailAuthLogin = "login"

	// emailSubjectMaxRunes bounds a rendered subject.
	emailSubjectMaxRunes = 200
	// emailRouteAll routes every event to lists.
	emailRouteAll = "*"
	// emailRouteSeverity prefixes a route by severity level
	// ("severity:critical").
	emailRouteSeverity = "severity:"
	// smtpDeadlineBackstop is how long after the attempt's deadline
	// go-mail's own I/O deadline falls.
	smtpDeadlineBackstop = time.Second
	// emailStatusAccepted is the StatusCode of a message the server
	// accepted (SMTP 250 after DATA).
	emailStatusAccepted = 250
)

// emailDefaultPorts is the port used per TLS mode when credentials give
// none.
var emailDefaultPorts = map[string]int{EmailTLSStartTLS: 587, EmailTLSImplicit: 465, EmailTLSNone: 25}

// EmailConfig configures NewEmail.
type EmailConfig struct {
	// TLSConfig is the base of every TLS session (STARTTLS and implicit);
	// ServerName is set to the SMTP host each time. Tests set RootCAs here.
	// Default: the system roots, TLS 1.2 or later.
	TLSConfig *tls.Config
	// DefaultTimeout bounds an attempt whose request has no Timeout.
	// Default DefaultEmailTimeout (30s).
	DefaultTimeout time.Duration
	// HELO is the name sent in EHLO. Default: the machine's host name.
	HELO string
}

func (c EmailConfig) withDefaults() EmailConfig {
	if c.TLSConfig == nil {
		c.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = DefaultEmailTimeout
	}
	return c
}

// Email sends each event as an email over SMTP (github.com/wneessen/go-mail),
// connecting through the SSRF-guarded SMTPDialer.
//
// Credentials: smtp_host, smtp_port (default 587 for starttls, 465 for
// implicit, 25 for none), smtp_username and smtp_password (PLAIN or LOGIN,
// config auth; no AUTH without a username). Config: from,
// default_recipients, distribution_lists, html_format (default true: a
// text/plain and a text/html alternative; false: text only), attach_event
// (the envelope attached as event.json), subject_template, templates (per
// event type: subject, html, text, overriding the built-in templates),
// header, footer, link_url, link_title, and tls:
//
//   - starttls (default): STARTTLS is required; a server without it fails
//     permanently.
//   - implicit: TLS from the first byte (port 465).
//   - none: plaintext, accepted only when the host resolves inside the
//     dialer's allowed networks (development); anywhere else the attempt
//     fails permanently with "blocked: tls none is allowed only …".
//
// Recipients are default_recipients plus every distribution list that a
// route names for the event: routes are keyed by event type
// ("compliance.alert"), by severity ("severity:critical", from
// data.alert_level or data.severity) or "*" (every event), and hold list
// names; addresses are deduplicated. An event with no recipient is not
// sent and counts as a success.
//
// Templates get the event view: .ID, .Type, .Timestamp, .Time, .Title,
// .Message, .Level, .Tone, .Facts (.Label, .Value), .Links (.Title, .URL),
// .Data (the data object), .Header and .Footer.
//
// Outcomes: StatusCode is the SMTP reply code (250 on success). A 4xx
// reply and connection failures are retried; a 5xx reply is Permanent
// (so a wrong password, 535, goes to the dead letter at once). Category
// follows the reply's class (http_4xx, http_5xx) or the network failure.
// A recipient refused with 5xx fails the whole message. The Message-ID is
// derived from the event and the destination, so a retried message can be
// recognised as a duplicate. Email is safe for concurrent use.
type Email struct {
	dialer *SMTPDialer
	cfg    EmailConfig
}

// NewEmail returns the email connector. dialer should come from
// NewSMTPDialer; nil means NewSMTPDialer(ClientConfig{}), the production
// guard.
func NewEmail(dialer *SMTPDialer, cfg EmailConfig) *Email {
	if dialer == nil {
		dialer = NewSMTPDialer(ClientConfig{})
	}
	return &Email{dialer: dialer, cfg: cfg.withDefaults()}
}

// emailCredentials are the email credentials
// (connectors/schemas/email.credentials.json).
type emailCredentials struct {
	Host     string `json:"smtp_host"`
	Port     int    `json:"smtp_port"`
	Username string `json:"smtp_username"`
	Password string `json:"smtp_password"`
}

// emailSettings is the email config (connectors/schemas/email.config.json).
type emailSettings struct {
	From              string                    `json:"from"`
	DefaultRecipients []string                  `json:"default_recipients"`
	DistributionLists emailLists                `json:"distribution_lists"`
	HTMLFormat        *bool                     `json:"html_format"`
	AttachEvent       bool                      `json:"attach_event"`
	SubjectTemplate   string                    `json:"subject_template"`
	Templates         map[string]emailTemplates `json:"templates"`
	TLS               string                    `json:"tls"`
	Auth              string                    `json:"auth"`
	Header            string                    `json:"header"`
	Footer            string                    `json:"footer"`
	LinkURL           string                    `json:"link_url"`
	LinkTitle         string                    `json:"link_title"`
}

// emailLists are named recipient lists and the routes that pick them.
type emailLists struct {
	Lists  map[string][]string `json:"lists"`
	Routes map[string][]string `json:"routes"`
}

// emailTemplates override the built-in templates for one event type.
type emailTemplates struct {
	Subject string `json:"subject"`
	HTML    string `json:"html"`
	Text    string `json:"text"`
}

// emailData is what the templates render.
type emailData struct {
	*view
	Header string
	Footer string
	// Color is the tone's colour, for HTML accents.
	Color string
}

// Send emails one event (req.Body). It never returns an error: every
// outcome is a domain.AttemptResult, bounded by req.Timeout from connect
// to the server's answer to DATA. Undecodable credentials or config, a
// body that is not an event envelope, a template that does not parse or
// run, or an invalid address are Permanent failures matching
// domain.ErrInvalid, and nothing is sent. No credential appears in the
// result.
func (e *Email) Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult {
	var (
		creds emailCredentials
		set   emailSettings
	)
	if err := decodeSettings(req.Credentials, &creds, "email credentials"); err != nil {
		return invalidAttempt("email credentials do not match the schema", err)
	}
	if err := decodeSettings(req.Config, &set, "email config"); err != nil {
		return invalidAttempt("email config does not match the schema", err)
	}
	if creds.Host == "" || set.From == "" {
		return invalidAttempt("email needs credentials smtp_host and config from", errUndecodable)
	}
	if set.TLS == "" {
		set.TLS = EmailTLSStartTLS
	}
	env, err := parseEnvelope(req.Body)
	if err != nil {
		return invalidAttempt("event body is not an event envelope", err)
	}
	v := newView(env, set.LinkURL, set.LinkTitle)
	rcpts := set.recipients(env.Type, v.Level)
	if len(rcpts) == 0 {
		return domain.AttemptResult{Success: true, Detail: "no recipient is configured for this event; nothing sent"}
	}
	msg, err := e.message(&req, &set, v, rcpts)
	if err != nil {
		return invalidAttempt("email cannot be composed: "+shortText(err), err)
	}
	return e.deliver(ctx, &req, &creds, &set, msg, len(rcpts))
}

// recipients lists default_recipients, then the addresses of the lists
// routed by event type, by severity and by "*", each once (compared
// case-insensitively).
func (s *emailSettings) recipients(eventType, level string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(addrs []string) {
		for _, a := range addrs {
			if k := strings.ToLower(strings.TrimSpace(a)); k != "" && !seen[k] {
				seen[k] = true
				out = append(out, strings.TrimSpace(a))
			}
		}
	}
	add(s.DefaultRecipients)
	routes := []string{eventType}
	if level != "" {
		routes = append(routes, emailRouteSeverity+level)
	}
	routes = append(routes, emailRouteAll)
	for _, r := range routes {
		for _, name := range s.DistributionLists.Routes[r] {
			add(s.DistributionLists.Lists[name])
		}
	}
	return out
}

// message composes the email.
func (e *Email) message(req *domain.AttemptRequest, set *emailSettings, v *view, rcpts []string) (*mail.Msg, error) {
	data := &emailData{view: v, Header: set.Header, Footer: set.Footer, Color: toneColor(v.tone)}
	over := set.Templates[v.Type]
	subject, err := renderText("subject", firstNonEmpty(over.Subject, set.SubjectTemplate, DefaultEmailSubject), data)
	if err != nil {
		return nil, err
	}
	text, err := renderText("text", firstNonEmpty(over.Text, defaultEmailText), data)
	if err != nil {
		return nil, err
	}

	m := mail.NewMsg()
	if err := m.From(set.From); err != nil {
		return nil, fmt.Errorf("from: %w", errors.New("address is not valid"))
	}
	if err := m.To(rcpts...); err != nil {
		return nil, fmt.Errorf("recipients: %w", errors.New("an address is not valid"))
	}
	m.Subject(truncateRunes(strings.Join(strings.Fields(subject), " "), emailSubjectMaxRunes))
	m.SetDateWithValue(attemptNow(req))
	m.SetMessageIDWithValue(emailMessageID(req))
	m.SetGenHeader("X-Lokihooks-Event-Id", req.EventID)
	m.SetGenHeader("X-Lokihooks-Event-Type", v.Type)
	m.SetGenHeader("X-Lokihooks-Delivery-Id", req.DeliveryID)
	m.SetBodyString(mail.TypeTextPlain, text)
	if set.HTMLFormat == nil || *set.HTMLFormat {
		html, err := renderHTML(firstNonEmpty(over.HTML, defaultEmailHTML), data)
		if err != nil {
			return nil, err
		}
		m.AddAlternativeString(mail.TypeTextHTML, html)
	}
	if set.AttachEvent {
		if err := m.AttachReader("event.json", bytes.NewReader(req.Body),
			mail.WithFileContentType(mail.ContentType(contentTypeJSON))); err != nil {
			return nil, fmt.Errorf("attach event.json: %w", err)
		}
	}
	return m, nil
}

// emailMessageID is the same for every retry of one event to one
// destination: <event.destination@lokihooks>.
func emailMessageID(req *domain.AttemptRequest) string {
	id := req.EventID
	if req.DestinationID != "" {
		id += "." + string(req.DestinationID)
	}
	return id + "@lokihooks"
}

// deliver connects, authenticates and sends msg within the attempt's
// timeout, and describes the outcome.
func (e *Email) deliver(ctx context.Context, req *domain.AttemptRequest, creds *emailCredentials, set *emailSettings, msg *mail.Msg, n int) domain.AttemptResult {
	timeout := attemptTimeout(req, e.cfg.DefaultTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	conns := &boundConns{}
	defer conns.release()
	client, err := mail.NewClient(creds.Host, e.clientOptions(ctx, creds, set, conns, timeout)...)
	if err != nil {
		return invalidAttempt("smtp client cannot be configured", err)
	}

	res := domain.AttemptResult{RequestHeaders: emailHeaders(msg)}
	start := time.Now()
	err = client.DialAndSendWithContext(ctx, msg)
	res.Duration = time.Since(start)
	if err == nil {
		res.Success = true
		res.StatusCode = emailStatusAccepted
		res.Detail = "SMTP " + strconv.Itoa(emailStatusAccepted) + " message accepted for " + strconv.Itoa(n) + " recipient(s)"
		return res
	}
	classifySMTP(ctx, &res, err, timeout)
	res.Err = fmt.Errorf("send email for delivery %s: %w", req.DeliveryID, smtpCause(ctx, err))
	return res
}

func (e *Email) clientOptions(ctx context.Context, creds *emailCredentials, set *emailSettings, conns *boundConns, timeout time.Duration) []mail.Option {
	port := creds.Port
	if port == 0 {
		port = emailDefaultPorts[set.TLS]
	}
	tlsCfg := e.cfg.TLSConfig.Clone()
	tlsCfg.ServerName = creds.Host
	opts := []mail.Option{
		// go-mail's own I/O deadline is only a backstop, a little after
		// the attempt's: the attempt's context ends first and closes the
		// connection, so the outcome is reported as the deadline it is.
		mail.WithPort(port), mail.WithTimeout(timeout + smtpDeadlineBackstop), mail.WithTLSConfig(tlsCfg),
	}
	if e.cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(e.cfg.HELO))
	}
	dial := e.dialer.DialContext
	switch set.TLS {
	case EmailTLSImplicit:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS)) // already TLS: no STARTTLS on top
		plain := dial
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := plain(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(conn, tlsCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = conn.Close()
				return nil, err
			}
			return tc, nil
		}
	case EmailTLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		dial = e.dialer.dialLocal
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	// go-mail bounds the dial by ctx but the SMTP dialogue only by its own
	// timeout; closing the connection when the attempt's ctx ends makes
	// cancellation (shutdown) immediate too.
	opts = append(opts, mail.WithDialContextFunc(conns.bind(ctx, dial)))
	if creds.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(emailAuth(set)), mail.WithUsername(creds.Username), mail.WithPassword(creds.Password))
	}
	return opts
}

// emailAuth picks the AUTH mechanism. Without TLS (allowed only inside the
// allowed networks) the NoEnc variants are needed: go-mail refuses PLAIN
// and LOGIN in clear text otherwise.
func emailAuth(set *emailSettings) mail.SMTPAuthType {
	login := set.Auth == EmailAuthLogin
	switch {
	case set.TLS == EmailTLSNone && login:
		return mail.SMTPAuthLoginNoEnc
	case set.TLS == EmailTLSNone:
		return mail.SMTPAuthPlainNoEnc
	case login:
		return mail.SMTPAuthLogin
	default:
		return mail.SMTPAuthPlain
	}
}

// boundConns closes the connections of one attempt when its context ends.
type boundConns struct {
	mu    sync.Mutex
	stops []func() bool
}

// bind wraps dial so every connection it opens is closed when attemptCtx
// is done. The connection itself is returned unwrapped: go-mail recognises
// a *tls.Conn as encrypted.
func (b *boundConns) bind(attemptCtx context.Context, dial mail.DialContextFunc) mail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		stop := context.AfterFunc(attemptCtx, func() { _ = conn.Close() })
		b.mu.Lock()
		b.stops = append(b.stops, stop)
		b.mu.Unlock()
		return conn, nil
	}
}

func (b *boundConns) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, stop := range b.stops {
		stop()
	}
}

// emailHeaders records the message's addressing as the attempt's request
// headers.
func emailHeaders(m *mail.Msg) http.Header {
	h := http.Header{}
	for _, name := range []mail.AddrHeader{mail.HeaderFrom, mail.HeaderTo} {
		for _, a := range m.GetAddrHeaderString(name) {
			h.Add(string(name), a)
		}
	}
	for _, name := range []mail.Header{mail.HeaderSubject, mail.HeaderMessageID} {
		for _, v := range m.GetGenHeader(name) {
			h.Add(string(name), v)
		}
	}
	return h
}

// Errors go-mail returns as plain text, with no sentinel to match; their
// text is all there is (go-mail v0.8.1 client.go).
const (
	goMailNoStartTLS = "does not support STARTTLS"
	goMailNoAuth     = "server does not support SMTP AUTH"
)

// classifySMTP fills res for a failed send: an SMTP reply gives the
// StatusCode, the category by class and Permanent for 5xx; configuration
// the server will never accept is Permanent; anything else is a
// connection failure, retried.
func classifySMTP(ctx context.Context, res *domain.AttemptResult, err error, timeout time.Duration) {
	var (
		sendErr  *mail.SendError
		protoErr *textproto.Error
		blocked  *blockedError
	)
	switch {
	case ctx.Err() != nil:
		res.Category, res.Detail = classifyError(ctx, ctx.Err(), timeout)
	case errors.As(err, &blocked):
		res.Category, res.Detail = classifyError(ctx, err, timeout)
		res.Permanent = errors.Is(err, errPlaintextNotAllowed)
	case errors.As(err, &sendErr) && sendErr.ErrorCode() >= 400:
		smtpReply(res, sendErr.ErrorCode(), sendErr.Error())
	case errors.As(err, &sendErr):
		res.Category = domain.ErrorCategoryNetwork
		res.Detail = domain.NetworkDetailOther + ": connection lost during the SMTP session"
	case errors.As(err, &protoErr):
		smtpReply(res, protoErr.Code, protoErr.Msg)
	case strings.Contains(err.Error(), goMailNoStartTLS):
		res.Category, res.Permanent = domain.ErrorCategoryNetwork, true
		res.Detail = domain.NetworkDetailTLS + ": the server does not offer STARTTLS (config tls starttls)"
	case errors.Is(err, mail.ErrPlainAuthNotSupported) || errors.Is(err, mail.ErrLoginAuthNotSupported) ||
		strings.Contains(err.Error(), goMailNoAuth):
		res.Category, res.Permanent = domain.ErrorCategoryNetwork, true
		res.Detail = domain.NetworkDetailOther + ": the server does not offer the configured AUTH mechanism"
	default:
		res.Category, res.Detail = classifyError(ctx, err, timeout)
	}
}

// smtpReply records an SMTP reply: its code, its text as the response
// body, its class as the category, and Permanent for 5xx.
func smtpReply(res *domain.AttemptResult, code int, text string) {
	res.StatusCode = code
	res.ResponseBody = []byte(truncateRunes(text, DefaultMaxResponseBytes))
	res.Permanent = code >= 500
	res.Category = domain.ErrorCategoryHTTP4xx
	if code >= 500 {
		res.Category = domain.ErrorCategoryHTTP5xx
	}
	res.Detail = "SMTP " + strconv.Itoa(code) + ": " + truncateRunes(strings.TrimSpace(text), maxExplanationRunes)
}

// smtpCause keeps the context's error in the chain when the attempt ended
// by its context: go-mail then reports only a closed connection.
func smtpCause(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return err
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// templateFuncs are the helpers templates may call.
var templateFuncs = map[string]any{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  func(sep string, items []string) string { return strings.Join(items, sep) },
}

// errTemplate reports a template that does not parse or run.
var errTemplate = errors.New("template")

func renderText(name, src string, data any) (string, error) {
	t, err := texttemplate.New(name).Funcs(templateFuncs).Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errTemplate, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("%w: %w", errTemplate, err)
	}
	return b.String(), nil
}

func renderHTML(src string, data any) (string, error) {
	t, err := htmltemplate.New("html").Funcs(templateFuncs).Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errTemplate, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("%w: %w", errTemplate, err)
	}
	return b.String(), nil
}

// checkTemplates parses every template of an email config, for
// ValidateIntegration; it returns the config field of each one that does
// not parse.
func checkTemplates(set *emailSettings) []domain.FieldError {
	var out []domain.FieldError
	check := func(field, src string, html bool) {
		if src == "" {
			return
		}
		var err error
		if html {
			_, err = htmltemplate.New("t").Funcs(templateFuncs).Parse(src)
		} else {
			_, err = texttemplate.New("t").Funcs(templateFuncs).Parse(src)
		}
		if err != nil {
			out = append(out, domain.FieldError{Field: field, Message: "is not a valid template: " + shortText(err)})
		}
	}
	check("config.subject_template", set.SubjectTemplate, false)
	for _, typ := range slices.Sorted(maps.Keys(set.Templates)) {
		tt := set.Templates[typ]
		check("config.templates."+typ+".subject", tt.Subject, false)
		check("config.templates."+typ+".text", tt.Text, false)
		check("config.templates."+typ+".html", tt.HTML, true)
	}
	return out
}

// defaultEmailText is the built-in text/plain body.
const defaultEmailText = `{{if .Header}}{{.Header}}

{{end}}{{.Title}}
{{if .Message}}
{{.Message}}
{{end}}{{if .Facts}}
{{range .Facts}}{{.Label}}: {{.Value}}
{{end}}{{end}}{{if .Links}}
{{range .Links}}{{.Title}}: {{.URL}}
{{end}}{{end}}
--
{{.Type}} · {{.ID}} · {{.Timestamp}}
{{if .Footer}}{{.Footer}}
{{end}}`

// defaultEmailHTML is the built-in text/html body: inline styles only, as
// mail clients drop style sheets.
const defaultEmailHTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:Helvetica,Arial,sans-serif;color:#1d1c1d">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:640px;margin:0 auto;background:#ffffff;border-left:6px solid {{.Color}}">
<tr><td style="padding:20px 24px">
{{if .Header}}<p style="margin:0 0 8px;font-size:12px;color:#616061">{{.Header}}</p>{{end}}
<h1 style="margin:0 0 12px;font-size:20px">{{.Title}}</h1>
{{if .Message}}<p style="margin:0 0 16px;font-size:15px">{{.Message}}</p>{{end}}
{{if .Facts}}<table role="presentation" cellpadding="0" cellspacing="0" style="font-size:14px;margin:0 0 16px">
{{range .Facts}}<tr><td style="padding:4px 16px 4px 0;color:#616061;vertical-align:top;white-space:nowrap">{{.Label}}</td><td style="padding:4px 0">{{.Value}}</td></tr>
{{end}}</table>{{end}}
{{range .Links}}<p style="margin:0 0 8px"><a href="{{.URL}}" style="color:#1264a3">{{.Title}}</a></p>
{{end}}<p style="margin:16px 0 0;font-size:12px;color:#616061">{{.Type}} · {{.ID}} · {{.Timestamp}}{{if .Footer}}<br>{{.Footer}}{{end}}</p>
</td></tr></table>
</body></html>
`

// emailKind registers email.
var emailKind = kindSpec{
	kind:        domain.KindEmail,
	title:       "Email",
	description: "Email events over SMTP to fixed recipients and to distribution lists chosen by event type or severity.",
	features:    []string{"SMTP (Gmail, Outlook, custom)", "HTML templates", "attachments", "distribution lists", "automatic retry"},
	defaults:    KindDefaults{RateLimitPerMinute: 30, TimeoutSeconds: 30},
	check:       checkEmail,
}

// checkEmail checks that routes name defined lists and catalog event
// types, that templates are for catalog event types and parse, and that
// the link template is well formed.
func checkEmail(_, config json.RawMessage) []domain.FieldError {
	var set emailSettings
	if decodeSettings(config, &set, "") != nil {
		return []domain.FieldError{{Field: "config", Message: "does not match the schema"}}
	}
	var out []domain.FieldError
	for _, route := range slices.Sorted(maps.Keys(set.DistributionLists.Routes)) {
		field := "config.distribution_lists.routes." + route
		if route != emailRouteAll && !strings.HasPrefix(route, emailRouteSeverity) && !domain.IsKnownEventType(route) {
			out = append(out, domain.FieldError{Field: field, Message: "is not a known event type"})
		}
		for _, name := range set.DistributionLists.Routes[route] {
			if _, ok := set.DistributionLists.Lists[name]; !ok {
				out = append(out, domain.FieldError{Field: field, Message: fmt.Sprintf("names list %q, which is not in distribution_lists.lists", name)})
			}
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(set.Templates)) {
		if !domain.IsKnownEventType(typ) {
			out = append(out, domain.FieldError{Field: "config.templates." + typ, Message: "is not a known event type"})
		}
	}
	out = append(out, checkTemplates(&set)...)
	return append(out, checkLinkTemplate(set.LinkURL)...)
}
