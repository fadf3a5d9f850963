-- Open transactions that hold a transaction id, oldest first, in every
-- database of the cluster: events committed after the oldest one started
-- wait in the outbox until it ends.
SELECT pid, datname, usename, application_name, state,
       now() - xact_start AS open_for, left(query, 60) AS last_statement
FROM pg_stat_activity
WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
ORDER BY age(backend_xid) DESC
LIMIT 10;
