package domain

import "time"

// DeliverySettings are how a destination's deliveries are retried, timed
// and rate-limited: the same fields, rules and defaults for a webhook and
// an integration. Their JSON names are those of the API.
type DeliverySettings struct {
	RetryStrategy      RetryStrategy `json:"retry_strategy"`
	MaxRetries         int           `json:"max_retries"`
	RetryDelaySeconds  int           `json:"retry_delay_seconds"`
	MaxDelaySeconds    int           `json:"max_delay_seconds"`
	BackoffMultiplier  float64       `json:"backoff_multiplier"`
	JitterEnabled      bool          `json:"jitter_enabled"`
	TimeoutSeconds     int           `json:"timeout_seconds"`
	RateLimitPerMinute int           `json:"rate_limit_per_minute"`
	RateLimitPerHour   int           `json:"rate_limit_per_hour"`
}

// RetryPolicy extracts the retry policy.
func (s DeliverySettings) RetryPolicy() RetryPolicy {
	return RetryPolicy{
		Strategy: s.RetryStrategy, MaxRetries: s.MaxRetries,
		Delay:      time.Duration(s.RetryDelaySeconds) * time.Second,
		MaxDelay:   time.Duration(s.MaxDelaySeconds) * time.Second,
		Multiplier: s.BackoffMultiplier, Jitter: s.JitterEnabled,
	}
}

// validate adds every problem of the settings to v.
func (s DeliverySettings) validate(v *ValidationError) {
	switch s.RetryStrategy {
	case RetryExponential, RetryLinear, RetryFixed, RetryNone:
	default:
		v.add("retry_strategy", "must be one of exponential_backoff, linear_backoff, fixed_interval, no_retry")
	}
	if s.MaxRetries < 0 || s.MaxRetries > MaxRetriesLimit {
		v.add("max_retries", "must be between 0 and %d", MaxRetriesLimit)
	}
	if s.RetryDelaySeconds < 0 || s.RetryDelaySeconds > MaxDelaySecondsLimit {
		v.add("retry_delay_seconds", "must be between 0 and %d", MaxDelaySecondsLimit)
	}
	if s.MaxDelaySeconds < 0 || s.MaxDelaySeconds > MaxDelaySecondsLimit {
		v.add("max_delay_seconds", "must be between 0 and %d", MaxDelaySecondsLimit)
	} else if s.MaxDelaySeconds < s.RetryDelaySeconds {
		v.add("max_delay_seconds", "must be at least retry_delay_seconds (%d)", s.RetryDelaySeconds)
	}
	if !(s.BackoffMultiplier >= minBackoffMultiplier && s.BackoffMultiplier <= maxBackoffMultiplier) { // NaN fails too
		v.add("backoff_multiplier", "must be between %g and %g", minBackoffMultiplier, maxBackoffMultiplier)
	}
	if s.TimeoutSeconds < 1 || s.TimeoutSeconds > MaxTimeoutSeconds {
		v.add("timeout_seconds", "must be between 1 and %d", MaxTimeoutSeconds)
	}
	if s.RateLimitPerMinute < 0 {
		v.add("rate_limit_per_minute", "must be 0 (unlimited) or positive")
	}
	if s.RateLimitPerHour < 0 {
		v.add("rate_limit_per_hour", "must be 0 (unlimited) or positive")
	}
}

// deliverySettings returns the webhook's delivery settings.
func (s WebhookSpec) deliverySettings() DeliverySettings {
	return DeliverySettings{
		RetryStrategy: s.RetryStrategy, MaxRetries: s.MaxRetries, RetryDelaySeconds: s.RetryDelaySeconds,
		MaxDelaySeconds: s.MaxDelaySeconds, BackoffMultiplier: s.BackoffMultiplier, JitterEnabled: s.JitterEnabled,
		TimeoutSeconds: s.TimeoutSeconds, RateLimitPerMinute: s.RateLimitPerMinute, RateLimitPerHour: s.RateLimitPerHour,
	}
}
