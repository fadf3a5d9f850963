package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchAppName marks the connections of the lokihooks under test in
// pg_stat_activity, so that their backends' CPU is counted.
const benchAppName = "lokihooks-bench"

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux this runs on).
const clockTicks = 100

// procCPU returns the user+system CPU time a process has used, from
// /proc/<pid>/stat (pid 0: this process).
func procCPU(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	// Fields 14 and 15 of the file (utime, stime); f[0] is field 3.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// cpuMeter adds up the CPU time of this process and of the database
// backends serving connections named benchAppName, sampling the backends
// every second so that one that exits mid-run still counts up to its last
// sample.
type cpuMeter struct {
	mu    sync.Mutex // guards conn too: a pgx.Conn serves one query at a time
	conn  *pgx.Conn
	self0 time.Duration
	base  map[int]time.Duration // CPU of each backend when first seen before the start
	last  map[int]time.Duration // latest CPU seen of each backend
	peak  int                   // most backends seen at once
}

// newCPUMeter starts measuring; it has its own connection (close closes
// it).
func newCPUMeter(ctx context.Context, url string) (*cpuMeter, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	m := &cpuMeter{conn: conn, base: map[int]time.Duration{}, last: map[int]time.Duration{}}
	self, err := procCPU(0)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("read CPU time (bench needs Linux /proc): %w", err)
	}
	m.self0 = self
	pids, err := m.pids(ctx)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	for _, p := range pids {
		if c, err := procCPU(p); err == nil {
			m.base[p], m.last[p] = c, c
		}
	}
	return m, nil
}

func (m *cpuMeter) close(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = m.conn.Close(context.WithoutCancel(ctx))
}

// pids lists the backends; the caller holds mu or owns m alone.
func (m *cpuMeter) pids(ctx context.Context) ([]int, error) {
	rows, err := m.conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, benchAppName)
	if err != nil {
		return nil, fmt.Errorf("list backends: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// sample reads the CPU time of every backend now serving lokihooks.
func (m *cpuMeter) sample(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pids, err := m.pids(ctx)
	if err != nil {
		return
	}
	m.peak = max(m.peak, len(pids))
	for _, p := range pids {
		if c, err := procCPU(p); err == nil {
			m.last[p] = c
		}
	}
}

// run samples every second until ctx ends.
func (m *cpuMeter) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.sample(ctx)
		}
	}
}

// peakConns returns the most connections of lokihooks seen at once.
func (m *cpuMeter) peakConns() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}

// used returns the CPU time used since the meter started: this process's
// and its backends'.
func (m *cpuMeter) used(ctx context.Context) (self, backends time.Duration) {
	m.sample(ctx)
	now, _ := procCPU(0)
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, c := range m.last {
		backends += c - m.base[p]
	}
	return now - m.self0, backends
}

// dbCounters are the cluster's WAL position and the bench schema's row
// writes (inserts + updates + deletes, per table).
type dbCounters struct {
	lsn  string
	rows map[string]int64
}

// readCounters reads the counters. Row counts are those the backends have
// reported: call it once the pool is closed (backends report on exit) or
// after pg_stat_force_next_flush where it matters.
func readCounters(ctx context.Context, admin *pgx.Conn, schema string) (dbCounters, error) {
	c := dbCounters{rows: map[string]int64{}}
	if err := admin.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&c.lsn); err != nil {
		return c, fmt.Errorf("read WAL position: %w", err)
	}
	rows, err := admin.Query(ctx, `SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE schemaname = $1`, schema)
	if err != nil {
		return c, fmt.Errorf("read table statistics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return c, err
		}
		c.rows[name] = n
	}
	return c, rows.Err()
}

// diff returns the WAL bytes and the row writes (total and per table, most
// first) from a to b.
func diffCounters(ctx context.Context, admin *pgx.Conn, a, b dbCounters) (wal int64, rows int64, perTable []tableWrites, err error) {
	if err := admin.QueryRow(ctx, `SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint`, b.lsn, a.lsn).Scan(&wal); err != nil {
		return 0, 0, nil, fmt.Errorf("WAL difference: %w", err)
	}
	for t, n := range b.rows {
		if d := n - a.rows[t]; d != 0 {
			rows += d
			perTable = append(perTable, tableWrites{t, d})
		}
	}
	sort.Slice(perTable, func(i, j int) bool { return perTable[i].n > perTable[j].n })
	return wal, rows, perTable, nil
}

type tableWrites struct {
	table string
	n     int64
}

func formatTables(ts []tableWrites, per float64) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		if per > 0 {
			parts[i] = fmt.Sprintf("%s %.2f", t.table, float64(t.n)/per)
		} else {
			parts[i] = fmt.Sprintf("%s %d", t.table, t.n)
		}
	}
	return strings.Join(parts, ", ")
}
