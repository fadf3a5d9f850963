package sigcheck

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/internal/dbtest"
)

// TestEncodeLokihooks_MatchesPostgreSQL publishes awkward data through
// lokihooks_publish and checks that re-encoding other renderings of the
// stored body (indented, keys sorted) gives back exactly the bytes
// PostgreSQL built: the variant that lets `verify` recognise a re-serialised
// lokihooks body.
func TestEncodeLokihooks_MatchesPostgreSQL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pool := dbtest.Pool(t, nil)
	for _, data := range []string{
		`{"document_id":"doc_1","source_id":"s","validation_status":"pass","gates_passed":1,"gates_failed":0,"processing_time_ms":1.50}`,
		`{"zz":{"b":[1,2,{"y":null,"x":true}],"a":"é ü 日本 😀"},"a":"quote \" backslash \\ tab \t nl \n ctl \u0001","bb":[],"c":{}}`,
		`{"html":"<a href='x'>&</a>","slash":"a/b","big":12345678901234567890,"neg":-0.5,"exp":1E+2}`,
	} {
		var id string
		var body []byte
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT lokihooks_publish('validation.completed', $1::jsonb)`, data).Scan(&id))
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT body FROM published_events WHERE id = $1`, id).Scan(&body))
		var pretty bytes.Buffer
		require.NoError(t, json.Indent(&pretty, body, "", "  "))
		for _, given := range [][]byte{body, pretty.Bytes(), goMarshal(body)} {
			v, ok := decodeOrdered(given)
			require.True(t, ok)
			require.Equal(t, string(body), string(encodeLokihooks(v)))
		}
	}
}

func TestBodyVariants(t *testing.T) {
	t.Parallel()
	body := []byte(`{"b":"é<","a":[1, 2],"cc":{}}`)
	got := map[string]string{}
	for _, v := range bodyVariants(body) {
		got[v.name] = string(v.body)
	}
	require.Equal(t, map[string]string{
		"the body with a trailing newline": "{\"b\":\"é<\",\"a\":[1, 2],\"cc\":{}}\n",
		"the same JSON as lokihooks encodes it (compact envelope, data as PostgreSQL jsonb text)":      `{"b":"é<","a":[1,2],"cc":{}}`,
		"the same JSON as Go's encoding/json writes it (compact, keys sorted, <>& escaped)":            `{"a":[1,2],"b":"é\u003c","cc":{}}`,
		"the same JSON with keys sorted (compact)":                                                     `{"a":[1,2],"b":"é<","cc":{}}`,
		`the same JSON as Python's json.dumps writes it (", " and ": " separators, non-ASCII escaped)`: `{"b": "\u00e9<", "a": [1, 2], "cc": {}}`,
		"the same JSON indented by 2 spaces":                                                           "{\n  \"b\": \"é<\",\n  \"a\": [\n    1,\n    2\n  ],\n  \"cc\": {}\n}",
		"the same JSON indented by 4 spaces":                                                           "{\n    \"b\": \"é<\",\n    \"a\": [\n        1,\n        2\n    ],\n    \"cc\": {}\n}",
	}, got, "the JavaScript compaction equals lokihooks' encoding here, so it is listed once")
}
