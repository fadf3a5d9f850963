package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClient_Generated fails when client/client.gen.go is not what `make
// generate` would write: the document `lokihooks openapi --format json`
// prints (printOpenAPI), run through the pinned oapi-codegen (the go.mod
// tool directive) with client/oapi-codegen.yaml, into a temporary
// directory, compared byte for byte.
func TestClient_Generated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var spec bytes.Buffer
	require.NoError(t, printOpenAPI(openapiOpts{format: "json"}, &spec))
	specPath, outPath := filepath.Join(dir, "openapi.json"), filepath.Join(dir, "client.gen.go")
	require.NoError(t, os.WriteFile(specPath, spec.Bytes(), 0o600))
	cmd := exec.CommandContext(t.Context(), "go", "tool", "oapi-codegen",
		"-config", filepath.Join("..", "..", "client", "oapi-codegen.yaml"), "-o", outPath, specPath)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go tool oapi-codegen: %s", out)

	want, err := os.ReadFile(outPath)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join("..", "..", "client", "client.gen.go"))
	require.NoError(t, err)
	if !bytes.Equal(want, got) {
		line, wantLine, gotLine := firstDifference(want, got)
		t.Fatalf("client/client.gen.go is stale: run `make generate` and commit the result.\n"+
			"First difference, line %d:\n  generated: %q\n  committed: %q", line, wantLine, gotLine)
	}
}

// firstDifference returns the first line (from 1) where a and b differ,
// and that line of each.
func firstDifference(a, b []byte) (n int, lineA, lineB string) {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < max(len(la), len(lb)); i++ {
		var x, y []byte
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if !bytes.Equal(x, y) {
			return i + 1, string(x), string(y)
		}
	}
	return 0, "", ""
}
