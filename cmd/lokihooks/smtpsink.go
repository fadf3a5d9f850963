package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Limits of the development SMTP sink.
const (
	smtpMaxMessageBytes = 10 << 20
	smtpMaxRecipients   = 100
	smtpTimeout         = time.Minute
	// smtpPreviewLines is how much of the text part each email shows.
	smtpPreviewLines = 8
	// smtpMaxPartDepth bounds nested multiparts.
	smtpMaxPartDepth = 5
)

// smtpSink is an SMTP server that accepts every message (any sender, any
// recipient, any credentials, no TLS) and prints it. For development only.
type smtpSink struct {
	srv *smtp.Server
	ln  net.Listener
	out *linePrinter
}

func newSMTPSink(out *linePrinter, errLog io.Writer) *smtpSink {
	s := &smtpSink{out: out}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{sink: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = smtpMaxMessageBytes
	s.srv.MaxRecipients = smtpMaxRecipients
	s.srv.ReadTimeout, s.srv.WriteTimeout = smtpTimeout, smtpTimeout
	s.srv.ErrorLog = log.New(errLog, "lokihooks receive: smtp: ", 0)
	return s
}

// serve accepts connections on ln until shutdown.
func (s *smtpSink) serve(ln net.Listener) error {
	s.ln = ln
	if err := s.srv.Serve(ln); err != nil {
		return fmt.Errorf("smtp sink: %w", err)
	}
	return nil
}

// shutdown closes the listener and every connection: a message being
// transferred is lost, which a development sink can afford.
func (s *smtpSink) shutdown() error {
	err := s.srv.Close()
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	if s.ln != nil {
		_ = s.ln.Close() // in case Close ran before Serve registered it
	}
	return err
}

// smtpSession collects one message at a time.
type smtpSession struct {
	sink *smtpSink
	from string
	to   []string
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth accepts any credentials.
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(string, string, string) error { return nil }), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.sink.out.email(parseEmail(time.Now(), s.from, s.to, raw))
	return nil
}

func (s *smtpSession) Reset() { s.from, s.to = "", nil }

func (s *smtpSession) Logout() error { return nil }

// email is what the sink prints of one message.
type email struct {
	Kind    string      `json:"kind"` // "email"
	Time    time.Time   `json:"time"`
	From    string      `json:"from"`
	To      []string    `json:"to"`
	Subject string      `json:"subject"`
	Bytes   int         `json:"bytes"`
	Parts   []emailPart `json:"parts"`
	Text    string      `json:"text,omitempty"` // the first text/plain part, decoded
	Problem string      `json:"problem,omitempty"`
}

type emailPart struct {
	ContentType string `json:"content_type"`
	Filename    string `json:"filename,omitempty"`
	Bytes       int    `json:"bytes"` // decoded
}

func parseEmail(at time.Time, from string, to []string, raw []byte) email {
	e := email{Kind: "email", Time: at, From: from, To: to, Bytes: len(raw), Parts: []emailPart{}}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		e.Problem = "not a parsable message: " + err.Error()
		return e
	}
	dec := new(mime.WordDecoder)
	if e.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		e.Subject = msg.Header.Get("Subject")
	}
	e.walkPart(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	return e
}

// walkPart records a part, or the leaves of a multipart.
func (e *email) walkPart(h textproto.MIMEHeader, body io.Reader, depth int) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mediaType = ct
	}
	if strings.HasPrefix(mediaType, "multipart/") && depth < smtpMaxPartDepth {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				e.Problem = "broken multipart: " + err.Error()
				return
			}
			e.walkPart(p.Header, p, depth+1)
		}
	}
	data, err := io.ReadAll(transferDecoder(h.Get("Content-Transfer-Encoding"), body))
	if err != nil {
		e.Problem = "undecodable part: " + err.Error()
	}
	part := emailPart{ContentType: mediaType, Bytes: len(data)}
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		part.Filename = dp["filename"]
	}
	if part.Filename == "" {
		part.Filename = params["name"]
	}
	e.Parts = append(e.Parts, part)
	if mediaType == "text/plain" && e.Text == "" && part.Filename == "" {
		e.Text = string(data)
	}
}

// transferDecoder undoes a Content-Transfer-Encoding. multipart.Reader
// already decodes quoted-printable parts and removes the header.
func transferDecoder(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// newlineStripper drops CR and LF, which base64.NewDecoder would reject
// only in some positions.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// email prints one message as one block (or one JSON object).
func (p *linePrinter) email(e email) {
	if p.asJSON {
		p.printJSON(e)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  from %s  to %s\n", p.paint(ansiDim, e.Time.Format("15:04:05.000")),
		p.paint(ansiCyan+ansiBold, "✉ email"), e.From, strings.Join(e.To, ", "))
	fmt.Fprintf(&b, "    subject: %s\n", e.Subject)
	parts := make([]string, len(e.Parts))
	for i, part := range e.Parts {
		parts[i] = fmt.Sprintf("%s (%s)", part.ContentType, byteSize(part.Bytes))
		if part.Filename != "" {
			parts[i] = fmt.Sprintf("%s %q (%s)", part.ContentType, part.Filename, byteSize(part.Bytes))
		}
	}
	fmt.Fprintf(&b, "    parts:   %s\n", strings.Join(parts, ", "))
	if e.Problem != "" {
		fmt.Fprintf(&b, "    %s\n", p.paint(ansiRed, e.Problem))
	}
	sc := bufio.NewScanner(strings.NewReader(e.Text))
	for i := 0; sc.Scan(); i++ {
		if i == smtpPreviewLines {
			fmt.Fprintf(&b, "    %s\n", p.paint(ansiDim, "│ …"))
			break
		}
		fmt.Fprintf(&b, "    %s %s\n", p.paint(ansiDim, "│"), sc.Text())
	}
	p.write(b.String())
}

// byteSize prints n as 312 B, 1.2 KB or 3.4 MB.
func byteSize(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
