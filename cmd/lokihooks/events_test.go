package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// writeFile writes content to a fresh file in the test's directory.
func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, content, 0o600))
	return p
}

func TestEvents_ExampleValidates(t *testing.T) {
	t.Parallel()
	for _, name := range domain.EventTypeNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			example, _, err := runCmd(t, "events", "example", name)
			require.NoError(t, err)
			require.True(t, json.Valid([]byte(example)))

			out, _, err := runCmd(t, "events", "validate", name, writeFile(t, "example.json", []byte(example)))
			require.NoError(t, err)
			require.Contains(t, out, "valid "+name+" payload")
		})
	}
}

func TestEvents_ValidateRejects(t *testing.T) {
	t.Parallel()
	bad := `{"document_id":"doc_1","changes":[{"before":"a"},{"before":1,"after":"b"}]}`
	out, _, err := runCmd(t, "events", "validate", domain.EventTypeCorrectionApplied, writeFile(t, "bad.json", []byte(bad)))
	require.ErrorIs(t, err, errInvalidPayload)
	require.ErrorIs(t, err, errReported, "main must not print it again")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Contains(t, lines[0], "invalid correction.applied payload, 2 problem(s)")
	require.Equal(t, []string{"/changes/0/after", "is", "required"}, strings.Fields(lines[1]))
	require.Equal(t, "/changes/1/before", strings.Fields(lines[2])[0])
	require.Contains(t, lines[2], "must be string, got number")

	t.Run("Envelope", func(t *testing.T) {
		t.Parallel()
		whole := `{"type":"webhook.test","data":{"message":"hi"}}`
		out, _, err := runCmd(t, "events", "validate", domain.EventTypeValidationFailed, writeFile(t, "whole.json", []byte(whole)))
		require.ErrorIs(t, err, errInvalidPayload)
		require.Contains(t, out, "hint: this looks like a whole event")
	})

	t.Run("Stdin", func(t *testing.T) {
		t.Parallel()
		code, _ := runMain(t, []byte(`{"message":"hi"}`), "events", "validate", domain.EventTypeWebhookTest, "-")
		require.Equal(t, 0, code)
		code, _ = runMain(t, []byte(`{"message":1}`), "events", "validate", domain.EventTypeWebhookTest, "-")
		require.Equal(t, 1, code)
	})

	t.Run("MissingFile", func(t *testing.T) {
		t.Parallel()
		_, _, err := runCmd(t, "events", "validate", domain.EventTypeWebhookTest, filepath.Join(t.TempDir(), "absent.json"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestEvents_ExampleForms(t *testing.T) {
	t.Parallel()

	t.Run("Publish", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "events", "example", domain.EventTypeComplianceAlert, "--publish")
		require.NoError(t, err)
		var body struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &body))
		require.Equal(t, domain.EventTypeComplianceAlert, body.Type)
		require.NoError(t, domain.ValidateEventData(body.Type, body.Data))
	})

	t.Run("Schema", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "events", "example", domain.EventTypeSystemError, "--schema")
		require.NoError(t, err)
		info, err := domain.LookupEventType(domain.EventTypeSystemError)
		require.NoError(t, err)
		require.JSONEq(t, string(info.Schema), out)
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "events", "list")
		require.NoError(t, err)
		require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), len(domain.EventTypeNames()))
		out, _, err = runCmd(t, "events", "list", "--json")
		require.NoError(t, err)
		var catalog []domain.EventTypeInfo
		require.NoError(t, json.Unmarshal([]byte(out), &catalog))
		want := domain.Catalog()
		require.Len(t, catalog, len(want))
		for i, info := range want {
			require.Equal(t, info.Name, catalog[i].Name)
			require.JSONEq(t, string(info.Schema), string(catalog[i].Schema))
			require.JSONEq(t, string(info.Example), string(catalog[i].Example))
		}
	})
}
