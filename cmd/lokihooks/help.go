package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loki-interceptor/lokihooks/httpapi"
)

// environmentHelp is `lokihooks help environment`. config.go reads these
// variables; keep the two (and README.md) in step.
var environmentHelp = fmt.Sprintf(`lokihooks reads its configuration from environment variables only; there are
no configuration files. Invalid values stop the process with every problem
listed at once. Durations use Go syntax: 30s, 2m, 100ms.

Server (serve, migrate, replay, bench):

  %-28s PostgreSQL to use.
  %-28s default %s
  %-28s Listen address of the API. Default %s.
  %-28s Comma-separated bearer keys, each at least %d characters.
  %-28s Required by the api role.
  %-28s Encrypts signing secrets, custom header values and
  %-28s integration credentials at rest: 32 random bytes, base64
  %-28s (openssl rand -base64 32). Required by the api and worker
  %-28s roles; every process must share it.
  %-28s Comma-separated keys that only open what they sealed, while
  %-28s the key is rotated (lokihooks rotate-secrets-key).
  %-28s true: accept http:// webhook URLs (development only).
  %-28s Comma-separated CIDR prefixes deliveries may reach although
  %-28s the SSRF guard blocks them, e.g. 127.0.0.0/8 (development).
  %-28s Drain time after SIGTERM/SIGINT. Default %s.
  %-28s debug, info, warn or error. Default info.
  %-28s json or text. Default: text on a terminal, JSON otherwise.
  %-28s Concurrent deliveries per worker process. Default %d.
  %-28s How often the outbox fan-out looks again while events
  %-28s wait behind an open transaction. Default %s.
  %-28s How long the idle fan-out waits for a notification
  %-28s before looking at the outbox anyway. Default %s.
  %-28s How long idle workers wait for a notification before
  %-28s looking for jobs anyway. Default %s.
  %-28s How long a delivery job may run before another process
  %-28s takes it over. Default 3m.
  %-28s Identity of a worker process, stable across restarts (a
  %-28s restart takes back its running jobs at once). Default: the
  %-28s host name followed by -worker; -2, -3, ... when taken.
  %-28s How often worker processes prove they are alive; the jobs of
  %-28s one silent for 3 intervals run elsewhere. Default 2s.
  %-28s false turns the circuit breakers of destinations off.
  %-28s How long a circuit breaker stays open before its first
  %-28s probe. Default 30s (doubling, up to 10m).
  %-28s Deactivate a destination failing without a success for this
  %-28s long. Default 120h; 0 never.
  %-28s Lag of the deliveries read model. Default %s.
  %-28s How old an event must be before the deliveries read
  %-28s model applies it: a delivery attempted within it is
  %-28s written once. Default %s; 0 applies events at once.

Retention (one process at a time deletes, in batches; 0 keeps forever):

  %-28s Pause between retention passes. Default 1m.
  %-28s Rows deleted per transaction. Default 1000.
  %-28s Consumed outbox rows. Default 168h (7 days).
  %-28s Completed River jobs (deliveries' jobs are deleted
  %-28s as they are recorded). Default 1h.
  %-28s Discarded and cancelled River jobs. Default 168h.
  %-28s Idempotency-Key of POST /events. Default 24h.
  %-28s Rate-limit windows, after they end. Default 1h.
  %-28s Attempts' request/response headers and response
  %-28s bodies. Default 720h (30 days).

  %-28s Requests per second each API key may make, per API
  %-28s process; 0: no limit. Default %d. Over it: 429.
  %-28s Requests a key may make at once. Default %d.
  %-28s Open API connections at most; 0: no cap. Default %d.
  %-28s Open API connections per client IP address at most
  %-28s (raise it behind a proxy); 0: no cap. Default %d.
  %-28s Serve /metrics on this host:port instead of beside the API
  %-28s (processes without the api role serve it only there).
  %-28s /readyz fails while the oldest outbox event not fanned out
  %-28s is older than this. Default 0: off.
  %-28s Turn on trace and metric export over OTLP/HTTP (the
  %-28s other OTEL_EXPORTER_OTLP_* variables apply).
  %-28s prometheus, otlp or none, comma-separated. Default
  %-28s prometheus (/metrics), plus otlp with an OTLP endpoint.

Developer tools:

  %-28s Default of 'lokihooks loadtest --api-key'.
  %-28s Set (to anything) to turn colour off in 'lokihooks receive'.

Development settings: 'make run' sets %s, %s,
%s=true and %s=127.0.0.0/8,::1/128
(scripts/dev-env.sh). Never use them in production.`,
	envDatabaseURL, "", defaultDatabaseURL,
	envAddr, defaultAddr,
	envAPIKeys, minAPIKeyLength, "",
	envSecretsKey, "", "", "",
	envSecretsPrevious, "",
	envAllowHTTP,
	envAllowedNetworks, "",
	envShutdownTimeout, defaultShutdownTimeout,
	envLogLevel,
	envLogFormat,
	envWorkers, defaultWorkers,
	envPollInterval, "", defaultPollInterval,
	envPollFallback, "", defaultPollFallback,
	envFetchFallback, "", defaultFetchFallback,
	envRescueAfter, "",
	envWorkerID, "", "",
	envHeartbeat, "",
	envBreaker,
	envBreakerCoolDown, "",
	envDeactivateAfter, "",
	envProjectionLag, defaultProjectionLag,
	envProjectionSettle, "", "", defaultProjectionSettle,
	envRetentionInterval, envRetentionBatch, envRetentionOutbox, envRetentionCompletedJobs, "",
	envRetentionDiscardedJobs, envRetentionIdempotencyKeys, envRetentionRateWindows, envRetentionAttemptExcerpts, "",
	envAPIRateLimit, "", httpapi.DefaultRateLimitPerSecond,
	envAPIRateBurst, httpapi.DefaultRateLimitBurst,
	envMaxConns, httpapi.DefaultMaxConns,
	envMaxClientConns, "", httpapi.DefaultMaxConnsPerClient,
	envMetricsAddr, "",
	envReadyMaxOutboxLag, "",
	envOTLPEndpoint, "",
	envMetricsExporter, "",
	envAPIKey, envNoColor,
	envAPIKeys, envSecretsKey, envAllowHTTP, envAllowedNetworks,
)

// environmentTopic is a help topic: `lokihooks help environment`.
func environmentTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "environment",
		Short: "The environment variables that configure lokihooks",
		Long:  environmentHelp,
	}
}
