-- task_usage_rollup_horizon() -> timestamptz
--
-- Purpose: the latest point the watermark may pass. Usage rows are stamped with now(), the start
-- of their transaction, and become visible only when it commits; so a transaction still open may
-- yet commit rows stamped at its start. The horizon is the start of the oldest transaction open
-- in this database (other than ours and its parallel workers), 'infinity' when there is none, and
-- '-infinity' while a prepared transaction exists, whose start PostgreSQL does not keep.
-- Autovacuum workers and WAL senders never write usage and are ignored.
--
-- Version 2: a role that is neither superuser nor a member of pg_read_all_stats is refused
-- outright. For sessions such a role cannot see, pg_stat_activity shows backend_type NULL, so
-- v1's `backend_type NOT IN (...)` dropped exactly the rows its hidden-session guard counted and
-- returned 'infinity' past open transactions. A hidden session is still an error here, in case
-- some other privilege rule hides one.
-- Locks: none. Reads pg_stat_activity afresh (not the transaction's cached copy).
CREATE OR REPLACE FUNCTION task_usage_rollup_horizon()
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_oldest timestamptz;
    v_hidden bigint;
BEGIN
    IF NOT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') THEN
        RAISE EXCEPTION 'the rollup''s role % cannot see when other sessions began their '
                        'transactions: GRANT pg_read_all_stats TO %', current_user, current_user
              USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM pg_stat_clear_snapshot();
    IF EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database()) THEN
        RETURN '-infinity';
    END IF;

    SELECT min(xact_start) FILTER (WHERE backend_type NOT IN ('autovacuum worker', 'walsender')),
           count(*) FILTER (WHERE backend_type IS NULL)
      INTO v_oldest, v_hidden
      FROM pg_stat_activity
     WHERE datname = current_database()
       AND coalesce(leader_pid, pid) <> pg_backend_pid();

    IF v_hidden > 0 THEN
        RAISE EXCEPTION 'the rollup''s role % cannot see when % other session(s) began their '
                        'transactions: GRANT pg_read_all_stats TO %', current_user, v_hidden,
                        current_user
              USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN coalesce(v_oldest, 'infinity');
END;
$$;
