package connectors_test

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/connectors/connectortest"
	"github.com/loki-interceptor/lokihooks/domain"
)

// httpAnswers are what a fake HTTP service answers per behaviour.
type httpAnswers map[connectortest.Behavior]http.HandlerFunc

// httpTarget starts a fake HTTP service for b: answers[b] handles each
// request; Hang holds it until the client gives up.
func httpTarget(t *testing.T, b connectortest.Behavior, answers httpAnswers, request func(url string) domain.AttemptRequest) connectortest.Target {
	t.Helper()
	var hits atomic.Int64
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		if b == connectortest.Hang {
			select {
			case arrived <- struct{}{}:
			default:
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		answers[b](w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for handlers
	return connectortest.Target{Request: request(srv.URL), Arrived: arrived, Hits: func() int { return int(hits.Load()) }}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// httpSender builds a sender on a loopback-allowing client, or on the
// production guard (plain HTTP allowed, so the refusal is the guard's).
func httpSender[S connectortest.Sender](newSender func(*http.Client) S) func(*testing.T, bool) connectortest.Sender {
	return func(t *testing.T, production bool) connectortest.Sender {
		t.Helper()
		if production {
			c := connectors.NewClient(connectors.ClientConfig{AllowHTTP: true})
			t.Cleanup(c.CloseIdleConnections)
			return newSender(c)
		}
		return newSender(testClient(t))
	}
}

func baseRequest(kind domain.DestinationKind, body []byte, credentials, config string) domain.AttemptRequest {
	return domain.AttemptRequest{
		Kind: kind, DestinationID: "int_conf", EventID: "evt_1", EventType: "webhook.test", DeliveryID: "dlv_1",
		Attempt: 1, Body: body, Timeout: 5 * time.Second, Now: time.Now(),
		Credentials: json.RawMessage(credentials), Config: json.RawMessage(config),
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	body := envelopeBody("evt_1", "webhook.test", `{"message":"hi","document_id":"doc_1"}`)

	t.Run("Webhook", func(t *testing.T) {
		t.Parallel()
		secret := domain.GenerateSecret()
		connectortest.Run(t, connectortest.Harness{
			NewSender: httpSender(func(c *http.Client) *connectors.Webhook { return connectors.NewWebhook(c, connectors.WebhookConfig{}) }),
			NewTarget: func(t *testing.T, b connectortest.Behavior) connectortest.Target {
				return httpTarget(t, b, httpAnswers{
					connectortest.Succeed:       status(http.StatusNoContent, ""),
					connectortest.FailRetryable: status(http.StatusServiceUnavailable, "busy"),
					connectortest.FailPermanent: status(http.StatusGone, "gone"),
				}, func(url string) domain.AttemptRequest {
					req := baseRequest(domain.KindWebhook, body, "", "")
					req.URL, req.Secrets = url+"/hook", []string{secret}
					return req
				})
			},
		})
	})

	t.Run("SlackWebhook", func(t *testing.T) {
		t.Parallel()
		connectortest.Run(t, connectortest.Harness{
			NewSender: httpSender(func(c *http.Client) *connectors.Slack { return connectors.NewSlack(c, nil, connectors.SlackConfig{}) }),
			NewTarget: func(t *testing.T, b connectortest.Behavior) connectortest.Target {
				return httpTarget(t, b, httpAnswers{
					connectortest.Succeed:       status(http.StatusOK, "ok"),
					connectortest.FailRetryable: status(http.StatusInternalServerError, "rollup_error"),
					connectortest.FailPermanent: status(http.StatusNotFound, "channel_not_found"),
				}, func(url string) domain.AttemptRequest {
					return baseRequest(domain.KindSlack, body, `{"webhook_url":"`+url+testSlackPath+`"}`, `{}`)
				})
			},
		})
	})

	t.Run("SlackBot", func(t *testing.T) {
		t.Parallel()
		// The API base is the fake's URL, which exists once the case has
		// started its target (Run always does that first): remember it per
		// subtest.
		var apiURLs sync.Map // *testing.T → string
		connectortest.Run(t, connectortest.Harness{
			NewSender: func(t *testing.T, production bool) connectortest.Sender {
				base, _ := apiURLs.Load(t)
				return httpSender(func(c *http.Client) *connectors.Slack {
					return connectors.NewSlack(c, &connectors.MemoryThreadStore{}, connectors.SlackConfig{BaseURL: base.(string)})
				})(t, production)
			},
			NewTarget: func(t *testing.T, b connectortest.Behavior) connectortest.Target {
				return httpTarget(t, b, httpAnswers{
					connectortest.Succeed:       status(http.StatusOK, `{"ok":true,"ts":"1.1"}`),
					connectortest.FailRetryable: status(http.StatusOK, `{"ok":false,"error":"internal_error"}`),
					connectortest.FailPermanent: status(http.StatusOK, `{"ok":false,"error":"channel_not_found"}`),
				}, func(url string) domain.AttemptRequest {
					apiURLs.Store(t, url)
					return baseRequest(domain.KindSlack, body, `{"bot_token":"`+testBotToken+`"}`, `{"channel":"C1"}`)
				})
			},
		})
	})

	t.Run("Teams", func(t *testing.T) {
		t.Parallel()
		connectortest.Run(t, connectortest.Harness{
			NewSender: httpSender(func(c *http.Client) *connectors.Teams { return connectors.NewTeams(c, connectors.TeamsConfig{}) }),
			NewTarget: func(t *testing.T, b connectortest.Behavior) connectortest.Target {
				return httpTarget(t, b, httpAnswers{
					connectortest.Succeed:       accepted,
					connectortest.FailRetryable: status(http.StatusBadGateway, ""),
					connectortest.FailPermanent: status(http.StatusNotFound, `{"error":{"code":"WorkflowNotFound"}}`),
				}, func(url string) domain.AttemptRequest {
					return baseRequest(domain.KindTeams, body, `{"webhook_url":"`+url+testTeamsPath+`?sig=x"}`, `{}`)
				})
			},
		})
	})

	t.Run("Zapier", func(t *testing.T) {
		t.Parallel()
		connectortest.Run(t, connectortest.Harness{
			NewSender: httpSender(func(c *http.Client) *connectors.Zapier { return connectors.NewZapier(c, connectors.ZapierConfig{}) }),
			NewTarget: func(t *testing.T, b connectortest.Behavior) connectortest.Target {
				return httpTarget(t, b, httpAnswers{
					connectortest.Succeed:       zapierAnswer,
					connectortest.FailRetryable: status(http.StatusTooManyRequests, ""),
					connectortest.FailPermanent: status(http.StatusGone, ""),
				}, func(url string) domain.AttemptRequest {
					return baseRequest(domain.KindZapier, body, `{"webhook_url":"`+url+testZapierPath+`"}`, `{}`)
				})
			},
		})
	})

	t.Run("Email", func(t *testing.T) {
		t.Parallel()
		cert := newTestCert(t)
		config := `{"from":"alerts@acme.test","default_recipients":["team@acme.test"]}`
		connectortest.Run(t, connectortest.Harness{
			NewSender: func(t *testing.T, production bool) connectortest.Sender {
				if production {
					return connectors.NewEmail(connectors.NewSMTPDialer(connectors.ClientConfig{}), connectors.EmailConfig{})
				}
				return newEmail(t, cert.roots)
			},
			NewTarget: func(t *testing.T, b connectortest.Behavior) connectortest.Target {
				if b == connectortest.Hang {
					return smtpHangTarget(t, config, body)
				}
				opts := smtpOpts{tls: cert.server}
				switch b {
				case connectortest.FailRetryable:
					opts.rcptErr = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
				case connectortest.FailPermanent:
					opts.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
				}
				srv := newSMTPServer(t, opts)
				return connectortest.Target{
					Request: baseRequest(domain.KindEmail, body, srv.credentials("", ""), config),
					Hits:    func() int { return len(srv.mails) },
				}
			},
		})
	})
}

// smtpHangTarget accepts SMTP connections and never greets.
func smtpHangTarget(t *testing.T, config string, body []byte) connectortest.Target {
	t.Helper()
	var hits atomic.Int64
	arrived := make(chan struct{}, 1)
	srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) {
		hits.Add(1)
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-done
	})
	addr := srv.ln.Addr().(*net.TCPAddr)
	creds := `{"smtp_host":"127.0.0.1","smtp_port":` + strconv.Itoa(addr.Port) + `}`
	return connectortest.Target{
		Request: baseRequest(domain.KindEmail, body, creds, config),
		Arrived: arrived,
		Hits:    func() int { return int(hits.Load()) },
	}
}
