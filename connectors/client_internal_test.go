package connectors

import (
	"net/netip"
	"testing"

	"code.dny.dev/ssrf"
	"github.com/stretchr/testify/require"
)

func TestAllowNetworks(t *testing.T) {
	t.Parallel()
	control := allowNetworks([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, ssrf.New().Safe)
	tests := []struct {
		address string
		want    error
	}{
		{"127.0.0.1:40000", nil},                       // allowed network, any port
		{"[::ffff:127.0.0.1]:40000", nil},              // IPv4-mapped form of an allowed address
		{"10.0.0.1:443", ssrf.ErrProhibitedIP},         // private, not allowed
		{"169.254.169.254:80", ssrf.ErrProhibitedIP},   // metadata service
		{"93.184.216.34:8443", ssrf.ErrProhibitedPort}, // public, but not 80/443
		{"93.184.216.34:443", nil},                     // public on 443
		{"[2606:2800:220:1::1]:443", nil},              // public IPv6
		{"[fd00::1]:443", ssrf.ErrProhibitedIP},        // unique local IPv6
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			t.Parallel()
			err := control("tcp4", tt.address, nil)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}
