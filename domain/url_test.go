package domain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

func TestValidateWebhookURL(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		raw       string
		allowHTTP bool
		wantErr   bool
	}{
		{name: "HTTPS", raw: "https://example.com/hooks/in"},
		{name: "HTTPSWithPortAndQuery", raw: "https://example.com:8443/in?token=abc"},
		{name: "HTTPSIPv6", raw: "https://[2001:db8::1]/in"},
		{name: "UppercaseScheme", raw: "HTTPS://example.com/"},
		{name: "HTTPAllowed", raw: "http://127.0.0.1:8080/in", allowHTTP: true},
		{name: "HTTPRefused", raw: "http://example.com/in", wantErr: true},
		{name: "FTP", raw: "ftp://example.com/in", wantErr: true},
		{name: "FTPWithHTTPAllowed", raw: "ftp://example.com/in", allowHTTP: true, wantErr: true},
		{name: "JavaScript", raw: "javascript:alert(1)", wantErr: true},
		{name: "Relative", raw: "/hooks/in", wantErr: true},
		{name: "SchemeRelative", raw: "//example.com/in", wantErr: true},
		{name: "Empty", raw: "", wantErr: true},
		{name: "NoHost", raw: "https:///in", wantErr: true},
		{name: "PortOnly", raw: "https://:443/in", wantErr: true},
		{name: "Opaque", raw: "https:example.com", wantErr: true},
		{name: "UserInfo", raw: "https://user:pass@example.com/in", wantErr: true},
		{name: "UserOnly", raw: "https://user@example.com/in", wantErr: true},
		{name: "Fragment", raw: "https://example.com/in#frag", wantErr: true},
		{name: "EmptyFragment", raw: "https://example.com/in#", wantErr: true},
		{name: "PortZero", raw: "https://example.com:0/in", wantErr: true},
		{name: "PortTooBig", raw: "https://example.com:65536/in", wantErr: true},
		{name: "EmptyPort", raw: "https://example.com:/in", wantErr: true},
		{name: "NonNumericPort", raw: "https://example.com:https/in", wantErr: true},
		{name: "ControlCharacter", raw: "https://example.com/\nin", wantErr: true},
		{name: "Spaces", raw: " https://example.com/in", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := domain.ValidateWebhookURL(tt.raw, tt.allowHTTP)
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, domain.ErrInvalid)
			var verr *domain.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, "url", verr.Fields[0].Field)
			require.NotContains(t, err.Error(), "pass", "error text must not repeat the URL")
		})
	}
}

func TestValidateWebhookURL_HTTPNamesTheSetting(t *testing.T) {
	t.Parallel()
	var verr *domain.ValidationError
	require.ErrorAs(t, domain.ValidateWebhookURL("http://127.0.0.1:9000/hooks", false), &verr)
	require.Contains(t, verr.Fields[0].Message, "LOKIHOOKS_ALLOW_HTTP=true")
	require.NoError(t, domain.ValidateWebhookURL("http://127.0.0.1:9000/hooks", true))
}
