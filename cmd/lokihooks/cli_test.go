package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// commands lists every command line that has its own help.
var commands = [][]string{
	{"serve"},
	{"migrate"},
	{"replay"},
	{"openapi"},
	{"bench"},
	{"receive"},
	{"verify"},
	{"events"},
	{"events", "list"},
	{"events", "example"},
	{"events", "validate"},
	{"retries"},
	{"loadtest"},
	{"rotate-secrets-key"},
}

func TestCLI_Help(t *testing.T) {
	t.Parallel()

	for _, args := range commands {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			t.Parallel()
			for _, flag := range []string{"--help", "-h"} {
				out, _, err := runCmd(t, append(args, flag)...)
				require.NoError(t, err)
				require.Contains(t, out, "Usage:\n  lokihooks "+strings.Join(args, " "))
				require.Contains(t, out, "Examples:\n", "every command shows examples")
			}
		})
	}

	t.Run("Root", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "--help")
		require.NoError(t, err)
		require.Contains(t, out, "DATABASE_URL")
		require.Contains(t, out, "lokihooks help environment")
		for _, args := range commands {
			require.Contains(t, out, "\n  "+args[0]+" ", "the root help lists %s", args[0])
		}
	})

	t.Run("Environment", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "help", "environment")
		require.NoError(t, err)
		for _, name := range []string{
			envDatabaseURL, envAddr, envAPIKeys, envAllowHTTP, envAllowedNetworks, envShutdownTimeout,
			envLogLevel, envWorkers, envPollInterval, envPollFallback, envFetchFallback, envRescueAfter, envProjectionLag, envSecretsKey,
			envAPIKey, envNoColor, envSecretsPrevious, envWorkerID, envHeartbeat, envBreaker, envBreakerCoolDown,
			envDeactivateAfter, envRetentionInterval, envRetentionBatch, envRetentionOutbox, envRetentionCompletedJobs,
			envRetentionDiscardedJobs, envRetentionIdempotencyKeys, envRetentionRateWindows, envRetentionAttemptExcerpts, envProjectionSettle,
		} {
			require.Contains(t, out, name)
		}
	})

	t.Run("Version", func(t *testing.T) {
		t.Parallel()
		out, _, err := runCmd(t, "--version")
		require.NoError(t, err)
		require.Contains(t, out, "lokihooks version "+version)
	})
}

func TestCLI_Completion(t *testing.T) {
	t.Parallel()
	for shell, marker := range map[string]string{
		"bash": "complete -o default",
		"zsh":  "#compdef lokihooks",
		"fish": "complete -c lokihooks",
	} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			out, _, err := runCmd(t, "completion", shell)
			require.NoError(t, err)
			require.Contains(t, out, marker)
		})
	}

	t.Run("EventTypes", func(t *testing.T) {
		t.Parallel()
		// What the shell scripts ask the binary for.
		out, _, err := runCmd(t, "__complete", "events", "example", "validation.")
		require.NoError(t, err)
		require.Contains(t, out, "validation.completed\n")
		require.Contains(t, out, "validation.failed\n")
	})
}

func TestCLI_UsageErrors(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"UnknownFlag":        {"retries", "--bogus"},
		"BadFlagValue":       {"retries", "--max-retries", "many"},
		"FlagOutOfRange":     {"retries", "--max-retries", "99"},
		"MissingArgument":    {"events", "example"},
		"UnknownEventType":   {"events", "example", "validation.started"},
		"ExtraArgument":      {"retries", "now"},
		"VerifyNoSecret":     {"verify", "request.http"},
		"VerifyNoRequest":    {"verify", "--secret", "whsec_x"},
		"ReceiveBadRate":     {"receive", "--fail-rate", "30"},
		"ReceiveBadStatus":   {"receive", "--status", "1000"},
		"LoadtestNoTarget":   {"loadtest"},
		"LoadtestBothModes":  {"loadtest", "--url", "http://127.0.0.1:1/", "--via-outbox"},
		"LoadtestNoKey":      {"loadtest", "--via-outbox"},
		"LoadtestBadSecret":  {"loadtest", "--url", "http://127.0.0.1:1/", "--secret", "nope"},
		"UnknownSubcommand":  {"events", "frobnicate"},
		"UnknownCommandNear": {"recieve"}, //nolint:misspell // the typo is the test
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, _, err := runCmd(t, args...)
			var usage *usageError
			require.ErrorAs(t, err, &usage, "%v", err)
			require.Empty(t, out)
		})
	}
}

func TestLongFlagsCompat(t *testing.T) {
	t.Parallel()
	require.Equal(t,
		[]string{"serve", "--roles", "relay,worker", "--format=json", "-h", "-", "-5", "--", "-roles"},
		longFlagsCompat([]string{"serve", "-roles", "relay,worker", "-format=json", "-h", "-", "-5", "--", "-roles"}))

	out, _, err := runCmd(t, "retries", "-max-retries", "2", "-jitter=false")
	require.NoError(t, err)
	require.Contains(t, out, "2 retries")
	require.Contains(t, out, "no jitter")
}

// TestMain_HelpAndErrors runs the real main in a child process: help and
// completion exit 0; mistakes exit 1 and say what to do on stderr.
func TestMain_HelpAndErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"Help", []string{"migrate", "--help"}, 0, nil},
		{"HelpTopic", []string{"help", "environment"}, 0, nil},
		{"Completion", []string{"completion", "zsh"}, 0, nil},
		{"BadFlag", []string{"openapi", "-bogus"}, 1, []string{"unknown flag: --bogus", "run 'lokihooks openapi --help' for usage"}},
		{"Typo", []string{"recieve"}, 1, []string{`unknown command "recieve" (did you mean receive?)`}}, //nolint:misspell // the typo is the test
		{"NoCommand", nil, 1, []string{"Usage:", "no command given"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stderr := runMain(t, nil, tc.args...)
			require.Equal(t, tc.code, code, "stderr: %s", stderr)
			for _, s := range tc.stderr {
				require.Contains(t, stderr, s)
			}
		})
	}
}

// runMain runs main in a child process with stdin and returns its exit code
// and stderr.
func runMain(t *testing.T, stdin []byte, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err == nil {
		return 0, stderr.String()
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	return exit.ExitCode(), stderr.String()
}

// lineSink is an io.Writer that hands complete lines to a channel, for
// commands that keep running while the test reads their output.
type lineSink struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func newLineSink() *lineSink { return &lineSink{lines: make(chan string, 10000)} }

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		s.lines <- string(s.buf[:i])
		s.buf = s.buf[i+1:]
	}
}

// next returns the next line, failing the test after a while.
func (s *lineSink) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-s.lines:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no output line within 10s")
		return ""
	}
}

// until returns the first line containing sub, skipping the others.
func (s *lineSink) until(t *testing.T, sub string) string {
	t.Helper()
	for {
		if l := s.next(t); strings.Contains(l, sub) {
			return l
		}
	}
}

func TestListenError_NamesTheSetting(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = net.Listen("tcp", ln.Addr().String())
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	msg := listenError(ln.Addr().String(), err).Error()
	require.Contains(t, msg, "already in use")
	require.Contains(t, msg, envAddr+"=")
}
