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

func TestGuardControl_Explains(t *testing.T) {
	t.Parallel()
	control := guardControl(nil, ssrf.New().Safe, httpPortsText)
	tests := []struct {
		address, want string
	}{
		{"10.0.0.1:443", "destination 10.0.0.1 is not allowed (see LOKIHOOKS_ALLOWED_NETWORKS)"},
		{"169.254.169.254:80", "destination 169.254.169.254 is not allowed (see LOKIHOOKS_ALLOWED_NETWORKS)"},
		{"93.184.216.34:8443", "port 8443 of 93.184.216.34 is not allowed (only 80, 443; see LOKIHOOKS_ALLOWED_NETWORKS)"},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			t.Parallel()
			err := control("tcp4", tt.address, nil)
			var blocked *blockedError
			require.ErrorAs(t, err, &blocked)
			require.Equal(t, tt.want, blocked.explain())
			require.Contains(t, err.Error(), tt.address)
		})
	}
	require.NoError(t, control("tcp4", "93.184.216.34:443", nil))
}

func TestSMTPDialer_Guard(t *testing.T) {
	t.Parallel()
	d := NewSMTPDialer(ClientConfig{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for _, port := range []string{"25", "465", "587", "2525"} {
		require.NoError(t, d.guarded.Control("tcp4", "93.184.216.34:"+port, nil), port)
	}
	require.ErrorIs(t, d.guarded.Control("tcp4", "93.184.216.34:443", nil), ssrf.ErrProhibitedPort)
	require.ErrorIs(t, d.guarded.Control("tcp4", "10.0.0.1:587", nil), ssrf.ErrProhibitedIP)
	require.NoError(t, d.guarded.Control("tcp4", "127.0.0.1:40000", nil))
	// Without TLS only the allowed networks may be reached.
	require.NoError(t, d.local.Control("tcp4", "127.0.0.1:40000", nil))
	err := d.local.Control("tcp4", "93.184.216.34:25", nil)
	require.ErrorIs(t, err, errPlaintextNotAllowed)
	var blocked *blockedError
	require.ErrorAs(t, err, &blocked)
	require.Equal(t, "tls none is allowed only for SMTP hosts inside LOKIHOOKS_ALLOWED_NETWORKS, and 93.184.216.34 is outside", blocked.explain())

	_, err = d.DialContext(t.Context(), "unix", "/tmp/x.sock")
	require.ErrorIs(t, err, ssrf.ErrProhibitedNetwork)
}
