package sigcheck_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/sigcheck"
)

// FuzzCheck parses and verifies arbitrary signature headers: Check never
// panics, never puts the secret in what it says, and verifies every
// request signed as lokihooks signs, whatever the body.
func FuzzCheck(f *testing.F) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Add(secret, "evt_1", "1700000000", "v1,AAAA v1,BBBB", "sha256=00", []byte(`{"id":"evt_1"}`), int64(1700000000))
	f.Add(secret, "", "", "", "", []byte{}, int64(0))
	f.Add("whsec_", "evt.1", "-1", "v2,abc", "SHA256=zz", []byte{0xff, 0x00}, int64(-1))
	f.Add("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "evt_2", "99999999999999999999", "v1,", "sha256=", []byte(`{ "a": 1 }`), int64(1<<40))
	f.Fuzz(func(t *testing.T, secret, id, ts, sig, legacy string, body []byte, now int64) {
		clock := time.Unix(now%(1<<40), 0)
		h := http.Header{}
		h.Set(sigcheck.HeaderID, id)
		h.Set(sigcheck.HeaderTimestamp, ts)
		h.Set(sigcheck.HeaderSignature, sig)
		h.Set(sigcheck.HeaderLegacy, legacy)
		rep := sigcheck.Check(h, body, sigcheck.Params{Secret: secret, PreviousSecrets: []string{secret + "x"}, Now: clock})
		if len(secret) > 12 {
			for _, r := range []sigcheck.Result{rep.Standard, rep.Legacy} {
				text := r.Message + r.Hint + strings.Join(r.Notes, "")
				if strings.Contains(text, secret) {
					t.Fatalf("the report repeats the secret: %q", text)
				}
			}
		}

		// Signed properly, it verifies.
		signed, err := domain.SignatureHeader([]string{secret}, id, clock, body)
		if err != nil {
			return
		}
		h.Set(sigcheck.HeaderTimestamp, strconv.FormatInt(clock.Unix(), 10))
		h.Set(sigcheck.HeaderSignature, signed)
		h.Set(sigcheck.HeaderLegacy, domain.SignLegacy(secret, body))
		if h.Get(sigcheck.HeaderID) != id {
			return // the header cannot carry this id as is
		}
		rep = sigcheck.Check(h, body, sigcheck.Params{Secret: secret, Now: clock})
		if !rep.OK() {
			t.Fatalf("a request signed with the secret does not verify: %+v", rep)
		}
	})
}
