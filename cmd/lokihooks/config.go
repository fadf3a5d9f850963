package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/relay"
)

// Environment variables. These names are a contract: other tools set them.
const (
	envDatabaseURL      = "DATABASE_URL"
	envAddr             = "LOKIHOOKS_ADDR"
	envAPIKeys          = "LOKIHOOKS_API_KEYS"
	envAllowHTTP        = "LOKIHOOKS_ALLOW_HTTP"
	envAllowedNetworks  = "LOKIHOOKS_ALLOWED_NETWORKS"
	envShutdownTimeout  = "LOKIHOOKS_SHUTDOWN_TIMEOUT"
	envLogLevel         = "LOKIHOOKS_LOG_LEVEL"
	envWorkers          = "LOKIHOOKS_WORKERS"
	envPollInterval     = "LOKIHOOKS_POLL_INTERVAL"
	envPollFallback     = "LOKIHOOKS_POLL_FALLBACK"
	envFetchFallback    = "LOKIHOOKS_FETCH_FALLBACK"
	envRescueAfter      = "LOKIHOOKS_RESCUE_AFTER"
	envProjectionLag    = "LOKIHOOKS_PROJECTION_INTERVAL"
	envProjectionSettle = "LOKIHOOKS_PROJECTION_SETTLE"
	envSecretsKey       = "LOKIHOOKS_SECRETS_KEY"
	envAPIRateLimit     = "LOKIHOOKS_API_RATE_LIMIT"
	envAPIRateBurst     = "LOKIHOOKS_API_RATE_BURST"
	envMaxConns         = "LOKIHOOKS_MAX_CONNS"
	envMaxClientConns   = "LOKIHOOKS_MAX_CLIENT_CONNS"
	envSecretsPrevious  = "LOKIHOOKS_SECRETS_KEY_PREVIOUS"
	envWorkerID         = "LOKIHOOKS_WORKER_ID"
	envHeartbeat        = "LOKIHOOKS_HEARTBEAT_INTERVAL"
	envBreaker          = "LOKIHOOKS_BREAKER"
	envBreakerCoolDown  = "LOKIHOOKS_BREAKER_COOLDOWN"
	envDeactivateAfter  = "LOKIHOOKS_DEACTIVATE_AFTER"
	envLogFormat        = "LOKIHOOKS_LOG_FORMAT"
	envMetricsAddr      = "LOKIHOOKS_METRICS_ADDR"
	// envReadyMaxOutboxLag fails /readyz when the oldest unconsumed outbox
	// event is older than it.
	envReadyMaxOutboxLag = "LOKIHOOKS_READY_MAX_OUTBOX_LAG"

	// Retention (relay.RetentionConfig): how long what lokihooks deletes
	// by itself is kept; 0 keeps it forever.
	envRetentionInterval        = "LOKIHOOKS_RETENTION_INTERVAL"
	envRetentionBatch           = "LOKIHOOKS_RETENTION_BATCH"
	envRetentionOutbox          = "LOKIHOOKS_RETENTION_OUTBOX"
	envRetentionCompletedJobs   = "LOKIHOOKS_RETENTION_COMPLETED_JOBS"
	envRetentionDiscardedJobs   = "LOKIHOOKS_RETENTION_DISCARDED_JOBS"
	envRetentionIdempotencyKeys = "LOKIHOOKS_RETENTION_IDEMPOTENCY_KEYS"
	envRetentionRateWindows     = "LOKIHOOKS_RETENTION_RATE_WINDOWS"
	envRetentionAttemptExcerpts = "LOKIHOOKS_RETENTION_ATTEMPT_EXCERPTS"

	// Read by the developer tools, not by the server.
	envAPIKey  = "LOKIHOOKS_API_KEY" // default of loadtest --api-key
	envNoColor = "NO_COLOR"          // any value turns colour off (no-color.org)

	defaultDatabaseURL      = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultAddr             = "127.0.0.1:8080"
	defaultShutdownTimeout  = 30 * time.Second
	defaultWorkers          = 500
	defaultPollInterval     = 20 * time.Millisecond
	defaultPollFallback     = time.Second
	defaultFetchFallback    = 5 * time.Second
	defaultProjectionLag    = 250 * time.Millisecond
	defaultProjectionSettle = time.Second
	minAPIKeyLength         = 16
	maxConnsLimit           = 1 << 20
	maxWorkerIDLength       = 90
	// workerIDSuffix follows the host name in the default worker id.
	workerIDSuffix = "-worker"
)

// config is everything lokihooks reads from the environment.
type config struct {
	DatabaseURL     string
	Addr            string
	APIKeys         []string
	AllowHTTP       bool
	AllowedNetworks []netip.Prefix
	ShutdownTimeout time.Duration
	LogLevel        string
	// LogFormat is json or text ("": text on a terminal, JSON otherwise).
	LogFormat string
	// MetricsAddr, when set, serves /metrics on a listener of its own
	// instead of beside the API.
	MetricsAddr string
	// ReadyMaxOutboxLag fails /readyz while the oldest outbox event the
	// fan-out has not consumed is older than it (0: off).
	ReadyMaxOutboxLag time.Duration
	Workers           int
	PollInterval      time.Duration
	// PollFallback is how long the idle fan-out waits for a notification
	// before it looks at the outbox anyway.
	PollFallback time.Duration
	// FetchFallback is how long idle workers wait for a notification
	// before they look for jobs anyway (relay.Config.FetchPollInterval).
	FetchFallback time.Duration
	RescueAfter   time.Duration
	// ProjectionInterval is how long the deliveries projection waits once
	// caught up: the read model's lag, traded for fewer, larger writes.
	ProjectionInterval time.Duration
	// ProjectionSettle is how old an event must be before the deliveries
	// projection applies it (0: at once), so that a delivery attempted
	// within it is written once.
	ProjectionSettle time.Duration
	// Secrets encrypts signing secrets and integration credentials at rest
	// (LOKIHOOKS_SECRETS_KEY); it also opens what the previous keys sealed
	// (LOKIHOOKS_SECRETS_KEY_PREVIOUS).
	Secrets *secretbox.Box
	// APIRateLimit is each API key's sustained requests per second, in
	// each API process (0: no limit); APIRateBurst how many it may make
	// at once.
	APIRateLimit float64
	APIRateBurst int
	// MaxConns and MaxClientConns cap the API's open connections in total
	// and per client IP address (0: no cap).
	MaxConns       int
	MaxClientConns int
	// WorkerID is the worker process's identity ("" means the host name
	// followed by -worker).
	WorkerID string
	// HeartbeatInterval is how often a worker process beats (0: relay's
	// default, 2s).
	HeartbeatInterval time.Duration
	// BreakerDisabled turns the circuit breakers off (LOKIHOOKS_BREAKER=false).
	BreakerDisabled bool
	// BreakerCoolDown is how long a breaker stays open before its first
	// probe (0: the default, 30s).
	BreakerCoolDown time.Duration
	// DeactivateAfter deactivates a destination failing without a success
	// for this long (0: the default, 120h; negative: never).
	DeactivateAfter time.Duration
	// Retention is how long each kind of row lokihooks deletes by itself
	// is kept (zero: relay's default; negative: forever).
	Retention relay.RetentionConfig
}

// String never shows secrets.
func (c config) String() string {
	return fmt.Sprintf("addr=%s api_keys=%d allow_http=%t allowed_networks=%v workers=%d poll=%s poll_fallback=%s fetch_fallback=%s secrets_encrypted=%t secrets_keys=%d breaker=%t "+
		"api_rate_limit=%g/s burst=%d max_conns=%d max_client_conns=%d metrics_addr=%s ready_max_outbox_lag=%s",
		c.Addr, len(c.APIKeys), c.AllowHTTP, c.AllowedNetworks, c.Workers, c.PollInterval, c.PollFallback, c.FetchFallback, c.Secrets != nil,
		c.Secrets.Keys(), !c.BreakerDisabled, c.APIRateLimit, c.APIRateBurst, c.MaxConns, c.MaxClientConns,
		c.MetricsAddr, c.ReadyMaxOutboxLag)
}

// loadConfig parses the environment and reports every problem at once.
// needKeys is false for commands that serve no API (migrate, openapi).
func loadConfig(getenv func(string) string, needKeys bool) (config, error) {
	return loadConfigFor(getenv, needKeys, false)
}

// loadConfigFor is loadConfig where the secrets key is required separately:
// every process that reads or writes signing secrets (api, worker) needs it.
func loadConfigFor(getenv func(string) string, needKeys, needSecrets bool) (config, error) {
	c := config{
		DatabaseURL: getenv(envDatabaseURL), Addr: getenv(envAddr), LogLevel: getenv(envLogLevel),
		LogFormat: getenv(envLogFormat), MetricsAddr: strings.TrimSpace(getenv(envMetricsAddr)),
		ShutdownTimeout: defaultShutdownTimeout, Workers: defaultWorkers, PollInterval: defaultPollInterval,
		PollFallback:       defaultPollFallback,
		FetchFallback:      defaultFetchFallback,
		ProjectionInterval: defaultProjectionLag,
		ProjectionSettle:   defaultProjectionSettle,
		APIRateLimit:       httpapi.DefaultRateLimitPerSecond, APIRateBurst: httpapi.DefaultRateLimitBurst,
		MaxConns: httpapi.DefaultMaxConns, MaxClientConns: httpapi.DefaultMaxConnsPerClient,
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = defaultDatabaseURL
	}
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	var errs []error
	for _, k := range strings.Split(getenv(envAPIKeys), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if len(k) < minAPIKeyLength {
			errs = append(errs, fmt.Errorf("%s: every key must be at least %d characters (generate one with: openssl rand -hex 24)",
				envAPIKeys, minAPIKeyLength))
			continue
		}
		c.APIKeys = append(c.APIKeys, k)
	}
	if needKeys && len(c.APIKeys) == 0 {
		errs = append(errs, fmt.Errorf("%s must list at least one API key (comma-separated; generate one with: openssl rand -hex 24): "+
			"the api role authenticates every request with them (serve --roles relay,worker,projector runs without the API)", envAPIKeys))
	}
	if v := getenv(envAllowHTTP); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s must be true or false (true only for development), got %q", envAllowHTTP, v))
		}
		c.AllowHTTP = b
	}
	for _, s := range strings.Split(getenv(envAllowedNetworks), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a CIDR prefix; write address/bits, e.g. 127.0.0.0/8 or ::1/128", envAllowedNetworks, s))
			continue
		}
		c.AllowedNetworks = append(c.AllowedNetworks, p.Masked())
	}
	parseDuration(getenv, envShutdownTimeout, &c.ShutdownTimeout, time.Second, &errs)
	parseDuration(getenv, envPollInterval, &c.PollInterval, time.Millisecond, &errs)
	parseDuration(getenv, envPollFallback, &c.PollFallback, time.Millisecond, &errs)
	if c.PollFallback < c.PollInterval {
		errs = append(errs, fmt.Errorf("%s (%s) must be at least %s (%s)", envPollFallback, c.PollFallback, envPollInterval, c.PollInterval))
	}
	parseDuration(getenv, envFetchFallback, &c.FetchFallback, time.Millisecond, &errs)
	parseDuration(getenv, envRescueAfter, &c.RescueAfter, time.Second, &errs)
	parseDuration(getenv, envProjectionLag, &c.ProjectionInterval, time.Millisecond, &errs)
	if v := getenv(envProjectionSettle); v == "0" || v == "off" {
		c.ProjectionSettle = 0
	} else {
		parseDuration(getenv, envProjectionSettle, &c.ProjectionSettle, time.Millisecond, &errs)
	}
	if v := getenv(envWorkers); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			errs = append(errs, fmt.Errorf("%s must be an integer between 1 and 10000, got %q", envWorkers, v))
		}
		c.Workers = n
	}
	if v := getenv(envAPIRateLimit); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0) || math.IsInf(f, 0) {
			errs = append(errs, fmt.Errorf("%s must be a number of requests per second per API key, 0 for no limit, got %q", envAPIRateLimit, v))
		}
		c.APIRateLimit = f
	}
	parseInt(getenv, envAPIRateBurst, 1, maxConnsLimit, &c.APIRateBurst, &errs)
	parseInt(getenv, envMaxConns, 0, maxConnsLimit, &c.MaxConns, &errs)
	parseInt(getenv, envMaxClientConns, 0, maxConnsLimit, &c.MaxClientConns, &errs)
	var previous []string
	for _, k := range strings.Split(getenv(envSecretsPrevious), ",") {
		if k = strings.TrimSpace(k); k != "" {
			previous = append(previous, k)
		}
	}
	if v := getenv(envSecretsKey); v != "" {
		box, err := secretbox.Parse(v, previous...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s, %s: %w (generate one with: openssl rand -base64 32)", envSecretsKey, envSecretsPrevious, err))
		}
		c.Secrets = box
	} else if len(previous) > 0 {
		errs = append(errs, fmt.Errorf("%s is set but %s is not: the current key seals, the previous ones only open", envSecretsPrevious, envSecretsKey))
	} else if needSecrets {
		errs = append(errs, fmt.Errorf("%s must be set: signing secrets, custom header values and integration credentials are encrypted at rest with it "+
			"(32 random bytes, base64; generate one with: openssl rand -base64 32)", envSecretsKey))
	}
	c.WorkerID = strings.TrimSpace(getenv(envWorkerID))
	if len(c.WorkerID) > maxWorkerIDLength {
		errs = append(errs, fmt.Errorf("%s must be at most %d characters", envWorkerID, maxWorkerIDLength))
	}
	parseDuration(getenv, envHeartbeat, &c.HeartbeatInterval, 100*time.Millisecond, &errs)
	parseDuration(getenv, envBreakerCoolDown, &c.BreakerCoolDown, time.Second, &errs)
	if v := getenv(envBreaker); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s must be true or false, got %q", envBreaker, v))
		}
		c.BreakerDisabled = !on
	}
	if v := getenv(envDeactivateAfter); v == "0" || v == "off" {
		c.DeactivateAfter = -1
	} else {
		parseDuration(getenv, envDeactivateAfter, &c.DeactivateAfter, time.Minute, &errs)
	}
	parseRetention(getenv, &c.Retention, &errs)
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("%s must be debug, info, warn or error, got %q", envLogLevel, c.LogLevel))
	}
	switch c.LogFormat {
	case "", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("%s must be json or text, got %q", envLogFormat, c.LogFormat))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("%s must be host:port, e.g. 127.0.0.1:9464, got %q", envMetricsAddr, c.MetricsAddr))
		}
	}
	if v := getenv(envReadyMaxOutboxLag); v != "0" {
		parseDuration(getenv, envReadyMaxOutboxLag, &c.ReadyMaxOutboxLag, time.Second, &errs)
	}
	if _, err := metricExporters(getenv); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// parseRetention reads the retention settings: durations, where 0 (or
// "off") keeps that kind forever.
func parseRetention(getenv func(string) string, r *relay.RetentionConfig, errs *[]error) {
	parseDuration(getenv, envRetentionInterval, &r.Interval, time.Second, errs)
	if v := getenv(envRetentionBatch); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100_000 {
			*errs = append(*errs, fmt.Errorf("%s must be a number from 1 to 100000, got %q", envRetentionBatch, v))
		}
		r.BatchSize = n
	}
	for name, dst := range map[string]*time.Duration{
		envRetentionOutbox: &r.Outbox, envRetentionCompletedJobs: &r.CompletedJobs, envRetentionDiscardedJobs: &r.DiscardedJobs,
		envRetentionIdempotencyKeys: &r.IdempotencyKeys, envRetentionRateWindows: &r.RateWindows,
		envRetentionAttemptExcerpts: &r.AttemptExcerpts,
	} {
		if v := getenv(name); v == "0" || v == "off" {
			*dst = -1
		} else {
			parseDuration(getenv, name, dst, time.Second, errs)
		}
	}
}

// configError presents loadConfig's problems, one per line, and where to
// read about the settings.
func configError(err error) error {
	return fmt.Errorf("configuration:\n%w\nrun 'lokihooks help environment' for every setting", err)
}

func parseDuration(getenv func(string) string, name string, dst *time.Duration, minimum time.Duration, errs *[]error) {
	v := getenv(name)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minimum {
		*errs = append(*errs, fmt.Errorf("%s must be a duration of at least %s (e.g. 30s), got %q", name, minimum, v))
		return
	}
	*dst = d
}

func parseInt(getenv func(string) string, name string, minimum, maximum int, dst *int, errs *[]error) {
	v := getenv(name)
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minimum || n > maximum {
		*errs = append(*errs, fmt.Errorf("%s must be an integer between %d and %d, got %q", name, minimum, maximum, v))
		return
	}
	*dst = n
}

// apiLimits turns the configuration into the API's rate limit and server
// settings, where 0 (no limit) is spelled -1.
func (c config) apiLimits() (httpapi.RateLimit, httpapi.ServerConfig) {
	off := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	rate := httpapi.RateLimit{PerSecond: c.APIRateLimit, Burst: c.APIRateBurst}
	if c.APIRateLimit == 0 {
		rate.PerSecond = -1
	}
	return rate, httpapi.ServerConfig{MaxConns: off(c.MaxConns), MaxConnsPerClient: off(c.MaxClientConns)}
}

// toolConfig is what the developer tools (receive, loadtest) read from the
// environment.
type toolConfig struct {
	// APIKey is the default API key of loadtest --via-outbox.
	APIKey string
	// NoColor turns colour off even on a terminal.
	NoColor bool
}

func loadToolConfig(getenv func(string) string) toolConfig {
	return toolConfig{APIKey: getenv(envAPIKey), NoColor: getenv(envNoColor) != ""}
}
