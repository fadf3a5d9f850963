package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// runMainEnv makes the test binary behave as lokihooks itself, so that exit
// codes can be checked in a child process.
const runMainEnv = "LOKIHOOKS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	// dbtest's process-wide admin pool lives until exit.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// runCmd runs the command line args without a database or environment.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, env(nil), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestRun_OpenAPI(t *testing.T) {
	t.Parallel()

	t.Run("YAML", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "openapi")
		require.NoError(t, err)
		require.Contains(t, out, "openapi: 3.1")
		require.Contains(t, out, "/api/v1/webhooks:")
	})

	t.Run("JSON", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "openapi", "-format", "json")
		require.NoError(t, err)
		var spec struct {
			OpenAPI string         `json:"openapi"`
			Paths   map[string]any `json:"paths"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &spec))
		require.Equal(t, "3.1.0", spec.OpenAPI)
		require.Contains(t, spec.Paths, "/api/v1/webhooks/{webhook_id}")
	})

	t.Run("JSON30", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "openapi", "-format=json-3.0")
		require.NoError(t, err)
		var spec struct {
			OpenAPI string `json:"openapi"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &spec))
		require.True(t, strings.HasPrefix(spec.OpenAPI, "3.0."), spec.OpenAPI)
	})

	t.Run("BadFormat", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "openapi", "-format", "xml")
		require.Error(t, err)
		require.Empty(t, out)
	})

	t.Run("BadFlag", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "openapi", "-bogus")
		var usage *usageError
		require.ErrorAs(t, err, &usage)
		require.Equal(t, "lokihooks openapi", usage.cmd)
		require.Empty(t, out)
	})

	t.Run("Help", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "openapi", "-h")
		require.NoError(t, err)
		require.Contains(t, out, "--format")
	})
}

func TestRun_Commands(t *testing.T) {
	t.Parallel()

	t.Run("NoCommand", func(t *testing.T) {
		t.Parallel()
		_, stderr, err := runCmd(t)
		var usage *usageError
		require.ErrorAs(t, err, &usage)
		require.Contains(t, stderr, "Usage:\n  lokihooks")
	})

	t.Run("UnknownCommand", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "frobnicate")
		var usage *usageError
		require.ErrorAs(t, err, &usage)
		require.Empty(t, out)
	})

	t.Run("Help", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "help")
		require.NoError(t, err)
		require.Contains(t, out, "Usage:\n  lokihooks")
	})

	t.Run("BadFlags", func(t *testing.T) {
		t.Parallel()
		for _, cmd := range []string{"serve", "migrate"} {
			_, _, err := runCmd(t, cmd, "-bogus")
			var usage *usageError
			require.ErrorAs(t, err, &usage, cmd)
		}
	})

	t.Run("ServeNeedsKeys", func(t *testing.T) {
		t.Parallel()
		_, _, err := runCmd(t, "serve")
		require.ErrorContains(t, err, envAPIKeys)
	})
}

// TestMain_ExitCode runs the real main in a child process: errors must give
// a non-zero exit status.
func TestMain_ExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"OpenAPI", []string{"openapi", "-format", "json"}, 0},
		{"UnknownCommand", []string{"frobnicate"}, 1},
		{"BadFlag", []string{"openapi", "-bogus"}, 1},
		{"BadFormat", []string{"openapi", "-format", "xml"}, 1},
		{"NoCommand", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if tc.code == 0 {
				require.NoError(t, err, "stderr: %s", stderr.String())
				return
			}
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			require.Equal(t, tc.code, exit.ExitCode(), "stderr: %s", stderr.String())
		})
	}
}
