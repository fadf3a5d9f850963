package projections

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBodyData(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ body, data string }{
		"AsPublished": {
			`{"id":"e1","type":"system.error","timestamp":"2026-01-01T00:00:00.000000Z","data":{"a":{"data":1},"b":",\"data\":"}}`,
			`{"a":{"data":1},"b":",\"data\":"}`,
		},
		"OtherLayout": {`{"data": {"a": 1}, "id": "e1"}`, `{"a": 1}`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := bodyData([]byte(tc.body))
			require.NoError(t, err)
			require.JSONEq(t, tc.data, string(got))
		})
	}
	_, err := bodyData([]byte(`not json`))
	require.Error(t, err)
}
