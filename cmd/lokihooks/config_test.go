package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/httpapi"
)

// env returns a getenv over a fixed map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// joined returns the errors errors.Join combined into err.
func joined(t *testing.T, err error) []error {
	t.Helper()
	require.Error(t, err)
	var j interface{ Unwrap() []error }
	require.ErrorAs(t, err, &j)
	return j.Unwrap()
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		c, err := loadConfig(env(nil), false)
		require.NoError(t, err)
		require.Equal(t, config{
			DatabaseURL:        defaultDatabaseURL,
			Addr:               defaultAddr,
			ShutdownTimeout:    defaultShutdownTimeout,
			Workers:            defaultWorkers,
			PollInterval:       defaultPollInterval,
			PollFallback:       defaultPollFallback,
			FetchFallback:      defaultFetchFallback,
			ProjectionInterval: defaultProjectionLag,
			ProjectionSettle:   defaultProjectionSettle,
			APIRateLimit:       1000,
			APIRateBurst:       2000,
			MaxConns:           10000,
			MaxClientConns:     1000,
		}, c)
		require.Equal(t, "127.0.0.1:8080", c.Addr)
		require.Equal(t, 30*time.Second, c.ShutdownTimeout)
		require.Equal(t, 500, c.Workers)
		require.Equal(t, 20*time.Millisecond, c.PollInterval)
		require.Equal(t, 5*time.Second, c.FetchFallback)
	})

	t.Run("Everything", func(t *testing.T) {
		t.Parallel()
		c, err := loadConfig(env(map[string]string{
			envDatabaseURL:     "postgres://db.internal/lokihooks",
			envAddr:            ":9090",
			envAPIKeys:         " key-one-0123456789 ,, key-two-0123456789 ",
			envAllowHTTP:       "true",
			envAllowedNetworks: "10.1.2.3/8, 192.168.0.0/16 ,fd00::1/8",
			envShutdownTimeout: "5s",
			envLogLevel:        "debug",
			envWorkers:         "8",
			envPollInterval:    "250ms",
			envPollFallback:    "3s",
			envFetchFallback:   "10s",
			envRescueAfter:     "2m",
			envProjectionLag:   "1s",
			envAPIRateLimit:    "12.5",
			envAPIRateBurst:    "40",
			envMaxConns:        "0",
			envMaxClientConns:  "64",
		}), true)
		require.NoError(t, err)
		require.Equal(t, config{
			DatabaseURL: "postgres://db.internal/lokihooks",
			Addr:        ":9090",
			APIKeys:     []string{"key-one-0123456789", "key-two-0123456789"},
			AllowHTTP:   true,
			AllowedNetworks: []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fd00::/8"),
			},
			ShutdownTimeout:    5 * time.Second,
			LogLevel:           "debug",
			Workers:            8,
			PollInterval:       250 * time.Millisecond,
			PollFallback:       3 * time.Second,
			FetchFallback:      10 * time.Second,
			RescueAfter:        2 * time.Minute,
			ProjectionInterval: time.Second,
			ProjectionSettle:   defaultProjectionSettle,
			APIRateLimit:       12.5,
			APIRateBurst:       40,
			MaxConns:           0,
			MaxClientConns:     64,
		}, c)
		rate, server := c.apiLimits()
		require.Equal(t, httpapi.RateLimit{PerSecond: 12.5, Burst: 40}, rate)
		require.Equal(t, httpapi.ServerConfig{MaxConns: -1, MaxConnsPerClient: 64}, server, "0 means no cap")
	})

	t.Run("SecretsKeyRequiredToServe", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfigFor(env(map[string]string{envAPIKeys: "key-one-0123456789"}), true, true)
		require.Error(t, err)
		require.Contains(t, err.Error(), envSecretsKey)

		c, err := loadConfigFor(env(map[string]string{
			envAPIKeys: "key-one-0123456789", envSecretsKey: "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
		}), true, true)
		require.NoError(t, err)
		require.NotNil(t, c.Secrets)
		require.NotContains(t, c.String(), "KioqKio", "the key never appears in the config's text")

		_, err = loadConfigFor(env(map[string]string{envSecretsKey: "c2hvcnQ="}), false, true)
		require.Error(t, err)
		require.Contains(t, err.Error(), envSecretsKey)
	})

	t.Run("PreviousSecretsKeys", func(t *testing.T) {
		t.Parallel()
		c, err := loadConfigFor(env(map[string]string{
			envSecretsKey: newSecretsKey, envSecretsPrevious: " " + testSecretsKey + " ,, " + testSecretsKey,
		}), false, true)
		require.NoError(t, err)
		require.Equal(t, 3, c.Secrets.Keys())
		require.Contains(t, c.String(), "secrets_keys=3")

		_, err = loadConfigFor(env(map[string]string{envSecretsPrevious: testSecretsKey}), false, false)
		require.ErrorContains(t, err, envSecretsKey+" is not")
		_, err = loadConfigFor(env(map[string]string{envSecretsKey: newSecretsKey, envSecretsPrevious: "c2hvcnQ="}), false, true)
		require.ErrorContains(t, err, "previous secrets key 1")
	})

	t.Run("Operations", func(t *testing.T) {
		t.Parallel()
		c, err := loadConfig(env(map[string]string{
			envLogFormat: "text", envMetricsAddr: " 127.0.0.1:9464 ", envReadyMaxOutboxLag: "2m",
			envMetricsExporter: "prometheus, otlp",
		}), false)
		require.NoError(t, err)
		require.Equal(t, "text", c.LogFormat)
		require.Equal(t, "127.0.0.1:9464", c.MetricsAddr)
		require.Equal(t, 2*time.Minute, c.ReadyMaxOutboxLag)

		c, err = loadConfig(env(map[string]string{envReadyMaxOutboxLag: "0"}), false)
		require.NoError(t, err)
		require.Zero(t, c.ReadyMaxOutboxLag, "0 turns the check off")

		errs := joined(t, func() error {
			_, err := loadConfig(env(map[string]string{
				envLogFormat: "xml", envMetricsAddr: "9464", envReadyMaxOutboxLag: "100ms", envMetricsExporter: "statsd",
			}), false)
			return err
		}())
		require.Len(t, errs, 4)
		for i, name := range []string{envLogFormat, envMetricsAddr, envReadyMaxOutboxLag, envMetricsExporter} {
			require.Contains(t, errs[i].Error(), name)
		}
	})

	t.Run("MetricExporters", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			vars map[string]string
			want []string
		}{
			{nil, []string{exporterPrometheus}},
			{map[string]string{envOTLPEndpoint: "http://collector:4318"}, []string{exporterPrometheus, exporterOTLP}},
			{map[string]string{envOTLPMetricsEndpoint: "http://collector:4318/v1/metrics"}, []string{exporterPrometheus, exporterOTLP}},
			{map[string]string{envMetricsExporter: "otlp", envOTLPEndpoint: "http://collector:4318"}, []string{exporterOTLP}},
			{map[string]string{envMetricsExporter: "none"}, nil},
		} {
			got, err := metricExporters(env(tc.vars))
			require.NoError(t, err)
			require.Equal(t, tc.want, got, "%v", tc.vars)
		}
	})

	t.Run("Resilience", func(t *testing.T) {
		t.Parallel()
		c, err := loadConfig(env(map[string]string{
			envWorkerID: " worker-a ", envHeartbeat: "500ms", envBreaker: "false",
			envBreakerCoolDown: "1m", envDeactivateAfter: "48h",
		}), false)
		require.NoError(t, err)
		require.Equal(t, "worker-a", c.WorkerID)
		require.Equal(t, 500*time.Millisecond, c.HeartbeatInterval)
		require.True(t, c.BreakerDisabled)
		require.Equal(t, time.Minute, c.BreakerCoolDown)
		require.Equal(t, 48*time.Hour, c.DeactivateAfter)
		require.Equal(t, "worker-a", workerID(c))

		c, err = loadConfig(env(map[string]string{envDeactivateAfter: "0"}), false)
		require.NoError(t, err)
		require.Negative(t, c.DeactivateAfter, "0 turns auto-deactivation off")
		require.True(t, strings.HasSuffix(workerID(c), "-worker"), "default: the host name and the role")

		errs := joined(t, func() error {
			_, err := loadConfig(env(map[string]string{
				envWorkerID: strings.Repeat("w", 91), envHeartbeat: "1ms", envBreaker: "sometimes",
				envBreakerCoolDown: "0s", envDeactivateAfter: "soon",
			}), false)
			return err
		}())
		require.Len(t, errs, 5)
	})

	t.Run("Retention", func(t *testing.T) {
		t.Parallel()
		c, err := loadConfig(env(map[string]string{
			envRetentionInterval: "30s", envRetentionBatch: "200", envRetentionOutbox: "72h",
			envRetentionCompletedJobs: "0", envRetentionDiscardedJobs: "24h", envRetentionIdempotencyKeys: "48h",
			envRetentionRateWindows: "off", envRetentionAttemptExcerpts: "240h",
		}), false)
		require.NoError(t, err)
		r := c.Retention
		require.Equal(t, 30*time.Second, r.Interval)
		require.Equal(t, 200, r.BatchSize)
		require.Equal(t, 72*time.Hour, r.Outbox)
		require.Negative(t, r.CompletedJobs, "0 keeps forever")
		require.Equal(t, 24*time.Hour, r.DiscardedJobs)
		require.Equal(t, 48*time.Hour, r.IdempotencyKeys)
		require.Negative(t, r.RateWindows, "off keeps forever")
		require.Equal(t, 240*time.Hour, r.AttemptExcerpts)

		c, err = loadConfig(env(nil), false)
		require.NoError(t, err)
		require.Zero(t, c.Retention, "unset: relay's defaults")
		require.Equal(t, time.Second, c.ProjectionSettle)
		c, err = loadConfig(env(map[string]string{envProjectionSettle: "0"}), false)
		require.NoError(t, err)
		require.Zero(t, c.ProjectionSettle)

		errs := joined(t, func() error {
			_, err := loadConfig(env(map[string]string{
				envRetentionInterval: "10ms", envRetentionBatch: "0", envRetentionOutbox: "a week",
			}), false)
			return err
		}())
		require.Len(t, errs, 3)
	})

	t.Run("KeysOnlyRequiredToServe", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfig(env(nil), false)
		require.NoError(t, err)
		errs := joined(t, func() error { _, err := loadConfig(env(nil), true); return err }())
		require.Len(t, errs, 1)
		require.Contains(t, errs[0].Error(), envAPIKeys)
	})

	t.Run("EveryProblemAtOnce", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfig(env(map[string]string{
			envAPIKeys:         "short",
			envAllowHTTP:       "maybe",
			envAllowedNetworks: "10.0.0.0/33",
			envShutdownTimeout: "soon",
			envPollInterval:    "500us",
			envRescueAfter:     "-1s",
			envWorkers:         "0",
			envLogLevel:        "loud",
			envAPIRateLimit:    "-1",
			envAPIRateBurst:    "0",
			envMaxConns:        "lots",
			envMaxClientConns:  "-5",
		}), true)
		errs := joined(t, err)
		var names []string
		for _, e := range errs {
			for _, name := range []string{
				envAPIKeys, envAllowHTTP, envAllowedNetworks, envShutdownTimeout, envPollInterval, envRescueAfter, envWorkers, envLogLevel,
				envAPIRateLimit, envAPIRateBurst, envMaxConns, envMaxClientConns,
			} {
				if strings.Contains(e.Error(), name) {
					names = append(names, name)
				}
			}
		}
		// The short key and the resulting lack of any key are two problems.
		require.ElementsMatch(t, []string{
			envAPIKeys, envAPIKeys, envAllowHTTP, envAllowedNetworks, envShutdownTimeout,
			envPollInterval, envRescueAfter, envWorkers, envLogLevel,
			envAPIRateLimit, envAPIRateBurst, envMaxConns, envMaxClientConns,
		}, names)
		require.Len(t, errs, 13)
	})

	t.Run("PollFallbackNotBelowPollInterval", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfig(env(map[string]string{envPollInterval: "2s", envPollFallback: "1s"}), false)
		require.ErrorContains(t, err, envPollFallback)
	})

	t.Run("FetchFallbackIsAPositiveDuration", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"0", "-1s", "500us", "soon"} {
			errs := joined(t, func() error { _, err := loadConfig(env(map[string]string{envFetchFallback: v}), false); return err }())
			require.Len(t, errs, 1, v)
			require.EqualError(t, errs[0], envFetchFallback+` must be a duration of at least 1ms (e.g. 30s), got "`+v+`"`)
		}
		c, err := loadConfig(env(map[string]string{envFetchFallback: "250ms", envPollFallback: "2s"}), false)
		require.NoError(t, err)
		require.Equal(t, 250*time.Millisecond, c.FetchFallback, "independent of the fan-out's fallback")
		require.Equal(t, 2*time.Second, c.PollFallback)
		require.Contains(t, c.String(), "fetch_fallback=250ms")
	})

	t.Run("ShortKeyNotInError", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfig(env(map[string]string{envAPIKeys: "ok-key-0123456789,tiny-secret"}), true)
		errs := joined(t, err)
		require.Len(t, errs, 1)
		require.Contains(t, errs[0].Error(), envAPIKeys)
		require.NotContains(t, err.Error(), "tiny-secret")
	})

	t.Run("NoRateLimit", func(t *testing.T) {
		t.Parallel()
		c, err := loadConfig(env(map[string]string{envAPIRateLimit: "0"}), false)
		require.NoError(t, err)
		rate, server := c.apiLimits()
		require.Equal(t, httpapi.RateLimit{PerSecond: -1, Burst: 2000}, rate)
		require.Equal(t, httpapi.ServerConfig{MaxConns: 10000, MaxConnsPerClient: 1000}, server)
	})

	t.Run("StringHidesKeys", func(t *testing.T) {
		t.Parallel()
		c, err := loadConfig(env(map[string]string{envAPIKeys: "secret-key-0123456789"}), true)
		require.NoError(t, err)
		require.NotContains(t, c.String(), "secret-key")
		require.Contains(t, c.String(), "api_keys=1")
	})
}
