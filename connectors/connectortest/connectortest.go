// Package connectortest is the conformance suite every outbound sender of
// package connectors passes: the webhook sender and each integration
// connector, against its own fake service.
//
// It checks the contract the relay relies on: a success, a retryable and a
// permanent failure decide as domain.DecideAttempt expects; an attempt is
// bounded by req.Timeout end to end; a cancelled context ends an attempt
// quickly with an error matching context.Canceled; and the production SSRF
// guard refuses a loopback service before anything reaches it. It imports
// only domain from this module, and is meant for tests.
package connectortest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Sender is the seam under test: one delivery attempt.
type Sender interface {
	Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult
}

// Behavior is how a fake service treats an attempt.
type Behavior int

// Behaviours a harness's fake service must support.
const (
	// Succeed accepts the attempt.
	Succeed Behavior = iota
	// FailRetryable answers with a failure that retrying may fix (a 503,
	// Slack's internal_error, an SMTP 451).
	FailRetryable
	// FailPermanent answers with a failure that ends the delivery: a
	// Permanent result, or a 410 on which the relay deactivates the
	// destination.
	FailPermanent
	// Hang takes the attempt (accepts the connection or reads the request)
	// and never answers while the attempt lasts.
	Hang
)

// String names the behaviour.
func (b Behavior) String() string {
	return [...]string{"Succeed", "FailRetryable", "FailPermanent", "Hang"}[b]
}

// Target is a fake service started for one behaviour.
type Target struct {
	// Request is an attempt addressed to the service. Run overrides its
	// Timeout where a case needs to.
	Request domain.AttemptRequest
	// Arrived receives (or is closed) when the service has taken an
	// attempt. Required for Hang; may be nil otherwise.
	Arrived <-chan struct{}
	// Hits reports how many attempts reached the service.
	Hits func() int
}

// Harness is one sender and its fake service.
type Harness struct {
	// NewSender returns the sender under test. With production false its
	// guard must let the fake service (on loopback) through; with
	// production true it must use the production SSRF guard, which refuses
	// loopback.
	NewSender func(t *testing.T, production bool) Sender
	// NewTarget starts a fake service that behaves as b until the test
	// ends (it stops it in t.Cleanup).
	NewTarget func(t *testing.T, b Behavior) Target
}

// Suite limits. Bounds are generous for -race on a loaded machine: they
// prove an attempt is bounded, not that it is fast.
const (
	// HangTimeout is the attempt timeout of the timeout case.
	HangTimeout = 200 * time.Millisecond
	// Leeway is how much longer than its timeout an attempt may take, and
	// how long a cancelled one may take to end.
	Leeway = 3 * time.Second
)

// Run runs the conformance cases against h, each as a parallel subtest.
func Run(t *testing.T, h Harness) {
	t.Helper()
	policy := domain.RetryPolicy{Strategy: domain.RetryExponential, MaxRetries: 5, Delay: time.Minute, Multiplier: 2}

	t.Run("Success", func(t *testing.T) {
		t.Parallel()
		target := h.NewTarget(t, Succeed)

		res := h.NewSender(t, false).Send(t.Context(), target.Request)

		require.True(t, res.Success, "detail %q err %v", res.Detail, res.Err)
		require.Equal(t, domain.ErrorCategoryNone, res.Category)
		require.False(t, res.Permanent)
		require.NoError(t, res.Err)
		require.Equal(t, 1, target.Hits())
		require.Equal(t, domain.DeliveryDelivered, domain.DecideAttempt(policy, 1, res, time.Now(), 0).Status)
	})

	t.Run("RetryableFailure", func(t *testing.T) {
		t.Parallel()
		target := h.NewTarget(t, FailRetryable)

		res := h.NewSender(t, false).Send(t.Context(), target.Request)

		require.False(t, res.Success)
		require.False(t, res.Permanent, res.Detail)
		require.NotEqual(t, domain.ErrorCategoryNone, res.Category)
		require.NotEmpty(t, res.Detail)
		require.Equal(t, domain.DeliveryRetrying, domain.DecideAttempt(policy, 1, res, time.Now(), 0).Status)
	})

	t.Run("PermanentFailure", func(t *testing.T) {
		t.Parallel()
		target := h.NewTarget(t, FailPermanent)

		res := h.NewSender(t, false).Send(t.Context(), target.Request)

		require.False(t, res.Success)
		require.NotEqual(t, domain.ErrorCategoryNone, res.Category)
		require.True(t, res.Permanent || res.StatusCode == 410, "permanent or 410, got %+v", res)
		status := domain.DecideAttempt(policy, 1, res, time.Now(), 0).Status
		require.Contains(t, []domain.DeliveryStatus{domain.DeliveryFailed, domain.DeliveryPermanentFailure}, status)
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		target := h.NewTarget(t, Hang)
		req := target.Request
		req.Timeout = HangTimeout

		start := time.Now()
		res := h.NewSender(t, false).Send(t.Context(), req)
		elapsed := time.Since(start)

		require.Less(t, elapsed, HangTimeout+Leeway, "the attempt must end at its timeout")
		require.GreaterOrEqual(t, elapsed, HangTimeout)
		require.False(t, res.Success)
		require.False(t, res.Permanent)
		require.Equal(t, domain.ErrorCategoryTimeout, res.Category, res.Detail)
		require.ErrorIs(t, res.Err, context.DeadlineExceeded)
	})

	t.Run("Cancellation", func(t *testing.T) {
		t.Parallel()
		target := h.NewTarget(t, Hang)
		require.NotNil(t, target.Arrived, "Hang targets must report arrival")
		req := target.Request
		req.Timeout = time.Minute
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() {
			select {
			case <-target.Arrived:
			case <-ctx.Done():
			}
			cancel()
		})

		start := time.Now()
		res := h.NewSender(t, false).Send(ctx, req)
		elapsed := time.Since(start)
		wg.Wait()

		require.Less(t, elapsed, Leeway, "a cancelled attempt must end quickly")
		require.False(t, res.Success)
		require.ErrorIs(t, res.Err, context.Canceled)
	})

	t.Run("CancelledBeforeSend", func(t *testing.T) {
		t.Parallel()
		target := h.NewTarget(t, Succeed)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()

		res := h.NewSender(t, false).Send(ctx, target.Request)

		require.False(t, res.Success)
		require.ErrorIs(t, res.Err, context.Canceled)
	})

	t.Run("BlockedByProductionGuard", func(t *testing.T) {
		t.Parallel()
		target := h.NewTarget(t, Succeed)

		res := h.NewSender(t, true).Send(t.Context(), target.Request)

		require.False(t, res.Success)
		require.Equal(t, domain.ErrorCategoryNetwork, res.Category)
		word, _, _ := strings.Cut(res.Detail, ":")
		require.Equal(t, domain.NetworkDetailBlocked, word, res.Detail)
		require.Zero(t, target.Hits(), "a refused destination is never reached")
	})
}
