package domain_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
)

// The fuzz targets below run on their seed corpora (testdata/fuzz) with
// every `go test`; `make fuzz` explores each for a while.

// FuzzSignatures signs arbitrary messages with arbitrary secrets: a
// malformed secret or message id is an ErrInvalid, never a panic; every
// signature made verifies, and a header differing from it does not.
func FuzzSignatures(f *testing.F) {
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "evt_1", int64(1700000000), []byte(`{"id":"evt_1"}`), "sha256=00")
	f.Add("whsec_", "", int64(0), []byte{}, "")
	f.Add("not a secret", "evt.1", int64(-1), []byte{0xff}, "sha256=ZZ")
	f.Fuzz(func(t *testing.T, secret, msgID string, unix int64, body []byte, header string) {
		ts := time.Unix(unix%(1<<40), 0)
		sig, err := domain.SignStandard(secret, msgID, ts, body)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("SignStandard: %v is not ErrInvalid", err)
			}
			if strings.Contains(err.Error(), secret) && len(secret) > len(domain.SecretPrefix)+8 {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		} else {
			all, err := domain.SignatureHeader([]string{secret, secret}, msgID, ts, body)
			if err != nil || all != sig+" "+sig {
				t.Fatalf("SignatureHeader = %q, %v; want two copies of %q", all, err, sig)
			}
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1,"))
			if err != nil || len(raw) != 32 {
				t.Fatalf("signature %q is not v1,<base64 of 32 bytes>", sig)
			}
		}
		legacy := domain.SignLegacy(secret, body)
		if !domain.VerifyLegacy(secret, body, legacy) || !domain.VerifyLegacy(secret, body, "sha256="+strings.ToUpper(legacy[7:])) {
			t.Fatalf("VerifyLegacy rejects %q", legacy)
		}
		if header != legacy && !strings.EqualFold(header, legacy) && domain.VerifyLegacy(secret, body, header) {
			t.Fatalf("VerifyLegacy accepts %q, which is not %q", header, legacy)
		}
	})
}

// FuzzDecodeEvent decodes arbitrary bytes as every stored event type: an
// error or an event, never a panic; a decoded event encodes and decodes to
// itself.
func FuzzDecodeEvent(f *testing.F) {
	for _, typ := range storedTypes {
		f.Add(typ, []byte(`{}`))
	}
	f.Add(domain.TypeBreakerOpened, []byte(`{"destination_id":"wh_1","reason":"r","opens":2,"reopen_at":"2026-03-01T12:00:30Z","at":"2026-03-01T12:00:00Z"}`))
	f.Add(domain.TypeDeliveryScheduled, []byte(`{"webhook_id":"wh_1","event_id":"evt_1"}`))
	f.Add(domain.TypeWebhookSecretsResealed, []byte(`{"secret":"enc:v1:x","previous_secrets":["a"],"custom_headers":{"A":"b"}}`))
	f.Add("unknown.v1", []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e, err := domain.DecodeEvent(typ, data)
		if err != nil {
			return
		}
		if e.EventType() != typ {
			t.Fatalf("decoded %s as %s", typ, e.EventType())
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("encode %T: %v", e, err)
		}
		back, err := domain.DecodeEvent(typ, again)
		if err != nil {
			t.Fatalf("decode %s again: %v", again, err)
		}
		again2, err := json.Marshal(back)
		if err != nil || string(again2) != string(again) {
			t.Fatalf("round trip changed %s into %s (%v)", again, again2, err)
		}
	})
}

// storedTypes are the stored event types DecodeEvent knows.
var storedTypes = []string{
	domain.TypeWebhookCreated, domain.TypeWebhookUpdated, domain.TypeWebhookPaused, domain.TypeWebhookResumed,
	domain.TypeWebhookDeactivated, domain.TypeWebhookDeleted, domain.TypeWebhookSecretRotated,
	domain.TypeWebhookSecretsResealed, domain.TypeIntegrationCreated, domain.TypeIntegrationUpdated,
	domain.TypeIntegrationSubscribed, domain.TypeIntegrationUnsubscribed, domain.TypeIntegrationPaused,
	domain.TypeIntegrationResumed, domain.TypeIntegrationDeactivated, domain.TypeIntegrationDeleted,
	domain.TypeIntegrationCredentialsResealed, domain.TypeDeliveryScheduled, domain.TypeDeliveryAttempted,
	domain.TypeDeliveryCancelled, domain.TypeDeliveryRedriven, domain.TypeDeliveryPostponed,
	domain.TypeBreakerOpened, domain.TypeBreakerHalfOpened, domain.TypeBreakerClosed,
}

// FuzzValidateEventData validates arbitrary data of published event
// types against their schemas: nil or ErrInvalid/ErrUnknownEventType,
// never a panic.
func FuzzValidateEventData(f *testing.F) {
	f.Add("validation.completed", []byte(`{"document_id":"doc_1","validation_status":"pass"}`))
	f.Add("validation.completed", []byte(`{"document_id":1}`))
	f.Add("compliance.alert", []byte(`[]`))
	f.Add("nope", []byte(`{}`))
	f.Add("batch.completed", []byte(`{"a":`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		err := domain.ValidateEventData(typ, data)
		if err != nil && !errors.Is(err, domain.ErrInvalid) && !errors.Is(err, domain.ErrUnknownEventType) {
			t.Fatalf("ValidateEventData: %v is neither ErrInvalid nor ErrUnknownEventType", err)
		}
	})
}

// FuzzRetrySchedule computes retries of arbitrary policies: delays are
// never negative and never above MaxDelay, a schedule has MaxRetries
// entries whose cumulative sums grow and whose jitter bounds hold the
// delay, and a retry is never scheduled in the past.
func FuzzRetrySchedule(f *testing.F) {
	f.Add("exponential_backoff", 5, int64(60), int64(7200), 2.0, true, 3, 0.5, 503, int64(30))
	f.Add("linear_backoff", 50, int64(1), int64(0), 1.0, false, 51, 0.0, 429, int64(0))
	f.Add("fixed_interval", 0, int64(0), int64(1), 10.0, true, 1, 0.999, 200, int64(-5))
	f.Add("no_retry", 3, int64(60), int64(60), 2.0, true, 1, 0.1, 500, int64(3600))
	f.Add("exponential_backoff", 50, int64(604800), int64(604800), 10.0, true, 50, 0.99, 503, int64(1<<40))
	f.Fuzz(func(t *testing.T, strategy string, maxRetries int, delay, maxDelay int64, multiplier float64, jitter bool,
		try int, random float64, status int, retryAfter int64,
	) {
		if random < 0 || random >= 1 || random != random {
			return // the contract: random is in [0, 1)
		}
		maxRetries = max(0, min(maxRetries, domain.MaxRetriesLimit))
		p := domain.RetryPolicy{
			Strategy: domain.RetryStrategy(strategy), MaxRetries: maxRetries,
			Delay:      time.Duration(max(0, min(delay, domain.MaxDelaySecondsLimit))) * time.Second,
			MaxDelay:   time.Duration(max(0, min(maxDelay, domain.MaxDelaySecondsLimit))) * time.Second,
			Multiplier: max(1, min(multiplier, 10)), Jitter: jitter,
		}
		if multiplier != multiplier {
			p.Multiplier = 1
		}
		for n := -1; n <= maxRetries; n++ {
			d := p.Backoff(n, random)
			if d < 0 || p.MaxDelay > 0 && d > p.MaxDelay || d > domain.MaxDelaySecondsLimit*time.Second {
				t.Fatalf("Backoff(%d) = %s with %+v", n, d, p)
			}
		}
		sched := p.Schedule()
		if p.Strategy != domain.RetryNone && len(sched) != maxRetries || p.Strategy == domain.RetryNone && len(sched) != 0 {
			t.Fatalf("%d entries for %+v", len(sched), p)
		}
		var last time.Duration
		for _, r := range sched {
			if r.Min > r.Delay || r.Delay > r.Max || r.Cumulative < last || r.CumulativeMin > r.Cumulative || r.Cumulative > r.CumulativeMax {
				t.Fatalf("inconsistent retry %+v of %+v", r, p)
			}
			last = r.Cumulative
		}
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		res := domain.AttemptResult{
			StatusCode: status, Success: status >= 200 && status < 300,
			RetryAfter: time.Duration(retryAfter) * time.Second,
		}
		out := domain.DecideAttempt(p, try, res, now, random)
		if out.Status == domain.DeliveryRetrying && (out.NextAttemptAt == nil || out.NextAttemptAt.Before(now)) {
			t.Fatalf("retry at %v before %v", out.NextAttemptAt, now)
		}
		ceiling := p.MaxDelay
		if ceiling == 0 {
			ceiling = domain.MaxDelaySecondsLimit * time.Second
		}
		if out.Status == domain.DeliveryRetrying && out.NextAttemptAt.Sub(now) > max(ceiling, domain.MaxRetryAfter) {
			t.Fatalf("retry %s away with %+v", out.NextAttemptAt.Sub(now), p)
		}
	})
}

// FuzzValidateWebhookURL checks arbitrary URLs: what is accepted is an
// absolute http(s) URL with a host, no user info and no fragment, and an
// error never repeats the URL (it may hold a token).
func FuzzValidateWebhookURL(f *testing.F) {
	for _, u := range []string{
		"https://example.com/hooks?token=abc", "http://127.0.0.1:8080/x", "https://user:pw@example.com/",
		"https://example.com/#frag", "https://[::1]:0/", "https://example.com:65536/", "ftp://example.com/",
		"//example.com/", "https:opaque", "https://exa mple.com/", "https://%zz/", "",
	} {
		f.Add(u, false)
		f.Add(u, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowHTTP bool) {
		err := domain.ValidateWebhookURL(raw, allowHTTP)
		if err != nil {
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "url" {
				t.Fatalf("error %v is not a ValidationError on url", err)
			}
			if len(raw) > 12 && strings.Contains(err.Error(), raw) {
				t.Fatalf("the error repeats the URL: %v", err)
			}
			return
		}
		u, perr := url.Parse(raw)
		switch {
		case perr != nil:
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		case u.Scheme != "https" && (!allowHTTP || u.Scheme != "http"):
			t.Fatalf("accepted scheme %q (allowHTTP %t)", u.Scheme, allowHTTP)
		case u.Hostname() == "" || u.User != nil || strings.Contains(raw, "#") || len(raw) > domain.MaxURLLength:
			t.Fatalf("accepted %q", raw)
		}
	})
}

// FuzzBreakerDecisions drives a breaker with arbitrary counts and times:
// it only ever opens on the policy's rule, waits out a positive cool-down
// no longer than the maximum, and replays to the same state.
func FuzzBreakerDecisions(f *testing.F) {
	f.Add(10, 7, int64(31), true, int64(61))
	f.Add(0, 0, int64(0), false, int64(0))
	f.Add(1<<30, 1<<30, int64(-5), true, int64(1<<33))
	f.Fuzz(func(t *testing.T, attempts, failures int, halfAfter int64, probeOK bool, closeAfter int64) {
		p := domain.BreakerPolicy{}.WithDefaults()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		b := domain.NewBreaker("wh_1")
		var history []domain.Event
		apply := func(events []domain.Event) {
			for _, e := range events {
				history = append(history, e)
				b.Apply(e, int64(len(history)))
			}
		}
		stats := domain.BreakerStats{Attempts: attempts, Failures: failures, Window: p.Window}
		opened := b.Open(p, stats, now)
		if (len(opened) > 0) != p.Trips(stats) {
			t.Fatalf("opened %v for %+v", opened, stats)
		}
		apply(opened)
		if b.State == domain.BreakerStateOpen {
			wait := b.ReopenAt.Sub(now)
			if wait <= 0 || wait > p.MaxCoolDown {
				t.Fatalf("cool-down %s", wait)
			}
		}
		at := now.Add(time.Duration(halfAfter) * time.Second)
		apply(b.HalfOpen(at))
		if b.State == domain.BreakerStateHalfOpen && at.Before(now.Add(p.CoolDown)) {
			t.Fatalf("half-open %s after opening", at.Sub(now))
		}
		if probeOK {
			apply(b.Close("probe succeeded", at.Add(time.Duration(closeAfter))))
		} else {
			apply(b.Open(p, domain.BreakerStats{Attempts: 1, Failures: 1}, at))
		}
		recs := make([]domain.Recorded, len(history))
		for i, e := range history {
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			recs[i] = domain.Recorded{Version: int64(i + 1), Type: e.EventType(), Data: data}
		}
		replayed, err := domain.ReplayBreaker("wh_1", recs)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normal(replayed), normal(b)) {
			t.Fatalf("replayed %+v, decided %+v", replayed, b)
		}
	})
}

// normal drops the monotonic clock readings and locations of a breaker's
// times, which JSON does not keep.
func normal(b *domain.Breaker) domain.Breaker {
	c := *b
	c.Since = c.Since.UTC().Round(0)
	for _, p := range []**time.Time{&c.ReopenAt, &c.FailingSince} {
		if *p != nil {
			u := (*p).UTC().Round(0)
			*p = &u
		}
	}
	return c
}
