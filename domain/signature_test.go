package domain_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Known-answer vector from Standard Webhooks (also svix-webhooks
// go/webhook_test.go).
const (
	katSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	katMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	katTimestamp = 1614265330
	katBody      = `{"test": 2432232314}`
	katSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// secretOfLen returns a well-formed secret whose key has n bytes.
func secretOfLen(n int) string {
	key := make([]byte, n)
	for i := range key {
		key[i] = byte(i*7 + 1)
	}
	return domain.SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

func referenceHeaders(msgID string, ts time.Time, signature string) http.Header {
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, msgID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, signature)
	return h
}

func TestSignStandard(t *testing.T) {
	t.Parallel()

	t.Run("KnownAnswer", func(t *testing.T) {
		t.Parallel()
		got, err := domain.SignStandard(katSecret, katMsgID, time.Unix(katTimestamp, 0), []byte(katBody))
		require.NoError(t, err)
		require.Equal(t, katSignature, got)
	})

	t.Run("MatchesReferenceSign", func(t *testing.T) {
		t.Parallel()
		secret := domain.GenerateSecret()
		ts := time.Unix(1700000000, 123)
		body := []byte(`{"id":"evt_1","type":"order.paid","data":{}}`)

		got, err := domain.SignStandard(secret, "evt_1", ts, body)
		require.NoError(t, err)

		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		want, err := wh.Sign("evt_1", ts, body)
		require.NoError(t, err)
		require.Equal(t, want, got)
	})

	t.Run("InvalidSecret", func(t *testing.T) {
		t.Parallel()
		_, err := domain.SignStandard("not-a-secret", katMsgID, time.Unix(katTimestamp, 0), nil)
		require.ErrorIs(t, err, domain.ErrInvalid)
	})

	t.Run("InvalidMsgID", func(t *testing.T) {
		t.Parallel()
		for _, id := range []string{"", "evt.1"} {
			_, err := domain.SignStandard(katSecret, id, time.Unix(katTimestamp, 0), nil)
			require.ErrorIs(t, err, domain.ErrInvalid, "msg id %q", id)
		}
	})
}

func TestSignatureHeader(t *testing.T) {
	t.Parallel()

	body := []byte(`{"id":"evt_01","type":"user.created","timestamp":"2026-01-02T03:04:05Z","data":{"n":1}}`)
	const msgID = "evt_01"

	t.Run("SingleSecretVerifiesWithReference", func(t *testing.T) {
		t.Parallel()
		secret := domain.GenerateSecret()
		now := time.Now() // the reference Verify enforces ±5 min around the real clock

		header, err := domain.SignatureHeader([]string{secret}, msgID, now, body)
		require.NoError(t, err)

		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(body, referenceHeaders(msgID, now, header)))
	})

	t.Run("KnownAnswer", func(t *testing.T) {
		t.Parallel()
		header, err := domain.SignatureHeader([]string{katSecret}, katMsgID, time.Unix(katTimestamp, 0), []byte(katBody))
		require.NoError(t, err)
		require.Equal(t, katSignature, header)
	})

	t.Run("RotatedSecretVerifies", func(t *testing.T) {
		t.Parallel()
		current, rotated := domain.GenerateSecret(), domain.GenerateSecret()
		ts := time.Unix(katTimestamp, 0)

		header, err := domain.SignatureHeader([]string{current, rotated}, msgID, ts, body)
		require.NoError(t, err)
		parts := strings.Split(header, " ")
		require.Len(t, parts, 2)
		for _, p := range parts {
			require.True(t, strings.HasPrefix(p, "v1,"), p)
		}

		// A receiver still holding only the rotated secret matches the second
		// entry.
		old, err := standardwebhooks.NewWebhook(rotated)
		require.NoError(t, err)
		require.NoError(t, old.VerifyIgnoringTimestamp(body, referenceHeaders(msgID, ts, header)))

		cur, err := standardwebhooks.NewWebhook(current)
		require.NoError(t, err)
		require.NoError(t, cur.VerifyIgnoringTimestamp(body, referenceHeaders(msgID, ts, header)))

		other, err := standardwebhooks.NewWebhook(domain.GenerateSecret())
		require.NoError(t, err)
		require.ErrorIs(t, other.VerifyIgnoringTimestamp(body, referenceHeaders(msgID, ts, header)),
			standardwebhooks.ErrNoMatchingSignature)
	})

	t.Run("TamperedBodyFails", func(t *testing.T) {
		t.Parallel()
		secret := domain.GenerateSecret()
		ts := time.Unix(katTimestamp, 0)
		header, err := domain.SignatureHeader([]string{secret}, msgID, ts, body)
		require.NoError(t, err)

		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		tampered := append([]byte{}, body...)
		tampered[len(tampered)-2] = '2'
		require.ErrorIs(t, wh.VerifyIgnoringTimestamp(tampered, referenceHeaders(msgID, ts, header)),
			standardwebhooks.ErrNoMatchingSignature)
	})

	t.Run("NoSecrets", func(t *testing.T) {
		t.Parallel()
		_, err := domain.SignatureHeader(nil, msgID, time.Unix(katTimestamp, 0), body)
		require.ErrorIs(t, err, domain.ErrInvalid)
	})

	t.Run("OneInvalidSecret", func(t *testing.T) {
		t.Parallel()
		_, err := domain.SignatureHeader([]string{domain.GenerateSecret(), "whsec_!!"}, msgID, time.Unix(katTimestamp, 0), body)
		require.ErrorIs(t, err, domain.ErrInvalid)
	})
}

func TestSignLegacy(t *testing.T) {
	t.Parallel()

	// pythonHexdigest mirrors the receiver snippet
	// hmac.new(secret.encode(), payload, sha256).hexdigest().
	pythonHexdigest := func(secret string, payload []byte) string {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(payload)
		return hex.EncodeToString(mac.Sum(nil))
	}

	t.Run("KeyIsSecretStringAsShown", func(t *testing.T) {
		t.Parallel()
		body := []byte(katBody)
		got := domain.SignLegacy(katSecret, body)
		require.Equal(t, "sha256="+pythonHexdigest(katSecret, body), got)
		// Not keyed by the decoded Standard Webhooks key.
		require.NotEqual(t, "sha256="+pythonHexdigest(strings.TrimPrefix(katSecret, "whsec_"), body), got)
	})

	t.Run("FixedVector", func(t *testing.T) {
		t.Parallel()
		// Computed outside Go with Python's hmac.new(secret.encode(), payload,
		// sha256).hexdigest() and with
		// printf '%s' '{"test": 2432232314}' | openssl dgst -sha256 -hmac 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'.
		const want = "sha256=80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c"
		require.Equal(t, want, domain.SignLegacy(katSecret, []byte(katBody)))
		require.True(t, domain.VerifyLegacy(katSecret, []byte(katBody), want))
	})

	t.Run("Verify", func(t *testing.T) {
		t.Parallel()
		secret := domain.GenerateSecret()
		body := []byte(`{"a":1}`)
		header := domain.SignLegacy(secret, body)

		require.True(t, domain.VerifyLegacy(secret, body, header))
		require.True(t, domain.VerifyLegacy(secret, body, "sha256="+strings.ToUpper(strings.TrimPrefix(header, "sha256="))))
		require.False(t, domain.VerifyLegacy(secret, []byte(`{"a":2}`), header))
		require.False(t, domain.VerifyLegacy(domain.GenerateSecret(), body, header))
		require.False(t, domain.VerifyLegacy(secret, body, strings.TrimPrefix(header, "sha256=")))
		require.False(t, domain.VerifyLegacy(secret, body, "sha256=zz"))
		require.False(t, domain.VerifyLegacy(secret, body, header[:len(header)-2]))
		require.False(t, domain.VerifyLegacy(secret, body, ""))
	})
}

func TestValidateSecret(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		secret  string
		wantErr bool
	}{
		{name: "Generated", secret: domain.GenerateSecret()},
		{name: "KnownAnswer24Bytes", secret: katSecret},
		{name: "Min24Bytes", secret: secretOfLen(24)},
		{name: "Max64Bytes", secret: secretOfLen(64)},
		{name: "TooShort23Bytes", secret: secretOfLen(23), wantErr: true},
		{name: "TooLong65Bytes", secret: secretOfLen(65), wantErr: true},
		{name: "Empty", secret: "", wantErr: true},
		{name: "PrefixOnly", secret: "whsec_", wantErr: true},
		{name: "MissingPrefix", secret: strings.TrimPrefix(secretOfLen(32), "whsec_"), wantErr: true},
		{name: "WrongPrefix", secret: "whsk_" + strings.TrimPrefix(secretOfLen(32), "whsec_"), wantErr: true},
		{name: "BadBase64", secret: "whsec_!!!!" + strings.TrimPrefix(secretOfLen(32), "whsec_"), wantErr: true},
		{name: "URLBase64", secret: "whsec_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff", 16))), wantErr: true},
		{name: "MissingPadding", secret: strings.TrimRight(secretOfLen(32), "="), wantErr: true},
		{name: "LineBreak", secret: secretOfLen(24)[:20] + "\n" + secretOfLen(24)[20:], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := domain.ValidateSecret(tt.secret)
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, domain.ErrInvalid)
			var verr *domain.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, "secret", verr.Fields[0].Field)
			if tt.secret != "" && tt.secret != "whsec_" {
				require.NotContains(t, err.Error(), tt.secret, "error text must not leak the secret")
			}
		})
	}
}

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	a, b := domain.GenerateSecret(), domain.GenerateSecret()
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "whsec_"))
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	require.NoError(t, err)
	require.Len(t, key, 32)
}

func BenchmarkSignatureHeader(b *testing.B) {
	body := []byte(strings.Repeat(`{"k":"v"}`, 100)) // ~1 KiB
	ts := time.Unix(katTimestamp, 0)
	for _, n := range []int{1, 2} {
		secrets := make([]string, n)
		for i := range secrets {
			secrets[i] = domain.GenerateSecret()
		}
		b.Run("secrets="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := domain.SignatureHeader(secrets, "evt_01HZX", ts, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
