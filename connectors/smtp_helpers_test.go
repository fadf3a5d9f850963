package connectors_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost,
// generated per test, with the pool that trusts it.
type testCert struct {
	server *tls.Config
	roots  *x509.CertPool
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lokihooks test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return testCert{
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		roots:  roots,
	}
}

// smtpOpts shapes the fake SMTP server.
type smtpOpts struct {
	// tls offers STARTTLS with this configuration.
	tls *tls.Config
	// implicitTLS speaks TLS from the first byte (needs tls).
	implicitTLS bool
	// insecureAuth allows AUTH without TLS.
	insecureAuth bool
	// user and pass are the only accepted credentials; empty: no AUTH.
	user, pass string
	// rcptErr and dataErr are replies to RCPT TO and to the end of DATA.
	rcptErr, dataErr error
}

// receivedMail is one message the fake server accepted.
type receivedMail struct {
	from   string
	to     []string
	data   []byte
	tls    bool
	authed string
}

type smtpServer struct {
	addr  string
	host  string
	port  int
	mails chan receivedMail
}

// newSMTPServer starts an in-process go-smtp server on loopback.
func newSMTPServer(t *testing.T, opts smtpOpts) *smtpServer {
	t.Helper()
	s := &smtpServer{mails: make(chan receivedMail, 8)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &smtpSession{srv: s, opts: &opts, conn: c, mail: receivedMail{tls: isTLS}}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = opts.insecureAuth
	srv.TLSConfig = opts.tls
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	var (
		ln  net.Listener
		err error
	)
	if opts.implicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", opts.tls)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	require.NoError(t, err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = ln.Close() // Close may run before Serve has registered ln
		<-served
	})
	s.addr = ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.addr)
	s.host = host
	s.port, _ = strconv.Atoi(port)
	return s
}

// credentials are the email credentials for this server.
func (s *smtpServer) credentials(user, pass string) string {
	c := `{"smtp_host":"` + s.host + `","smtp_port":` + strconv.Itoa(s.port)
	if user != "" {
		c += `,"smtp_username":"` + user + `","smtp_password":"` + pass + `"`
	}
	return c + "}"
}

func (s *smtpServer) next(t *testing.T) receivedMail {
	t.Helper()
	select {
	case m := <-s.mails:
		return m
	default:
		t.Fatal("SMTP server received no message")
		return receivedMail{}
	}
}

func (s *smtpServer) requireNone(t *testing.T) {
	t.Helper()
	require.Empty(t, s.mails, "SMTP server must not receive a message")
}

type smtpSession struct {
	srv  *smtpServer
	opts *smtpOpts
	conn *smtp.Conn
	mail receivedMail
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (s *smtpSession) AuthMechanisms() []string {
	if s.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.opts.user || pass != s.opts.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		s.mail.authed = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnsupported
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.opts.user != "" && s.mail.authed == "" {
		return smtp.ErrAuthRequired
	}
	s.mail.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.opts.rcptErr != nil {
		return s.opts.rcptErr
	}
	s.mail.to = append(s.mail.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.opts.dataErr != nil {
		return s.opts.dataErr
	}
	m := s.mail
	m.data = data
	_, m.tls = s.conn.TLSConnectionState()
	s.srv.mails <- m
	return nil
}

func (s *smtpSession) Reset() {
	s.mail = receivedMail{authed: s.mail.authed}
}

func (s *smtpSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (go-sasl ships only the
// client).
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(response) > 0 {
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.step++
		l.user = string(response)
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.user, string(response))
	}
	return nil, false, errors.New("unexpected LOGIN step")
}

// newEmail returns an email connector that may reach loopback and trusts
// roots (nil: the system's).
func newEmail(t *testing.T, roots *x509.CertPool) *connectors.Email {
	t.Helper()
	dialer := connectors.NewSMTPDialer(connectors.ClientConfig{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	return connectors.NewEmail(dialer, connectors.EmailConfig{
		TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		HELO:      "lokihooks.test",
	})
}
