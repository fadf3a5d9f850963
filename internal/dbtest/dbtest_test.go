package dbtest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/migrations"
)

func TestPool_MigratedIsolatedSchema(t *testing.T) {
	t.Parallel()
	pool, schema := dbtest.PoolSchema(t, nil)
	var current string
	require.NoError(t, pool.QueryRow(t.Context(), "SELECT current_schema()").Scan(&current))
	require.Equal(t, schema, current)
	require.NoError(t, migrations.Check(t.Context(), pool))
}
