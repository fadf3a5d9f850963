-- 0008 is reserved for the fan-out's migration (issue 12), which replaces
-- this file when it is merged. It does nothing.
SELECT 1;
