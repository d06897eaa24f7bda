-- task_usage_rollup_horizon() -> timestamptz
--
-- Purpose: the latest point the watermark may pass. Usage rows are stamped with now(), the start
-- of their transaction, and become visible only when it commits; so a transaction still open may
-- yet commit rows stamped at its start. The horizon is the start of the oldest transaction open
-- in this database (other than ours and its parallel workers), 'infinity' when there is none, and
-- '-infinity' while a prepared transaction exists, whose start PostgreSQL does not keep.
-- Autovacuum workers and WAL senders never write usage and are ignored.
-- Locks: none. Reads pg_stat_activity afresh (not the transaction's cached copy). A role that
-- cannot see other roles' transaction starts gets an error instead of a horizon that is wrong.
CREATE OR REPLACE FUNCTION task_usage_rollup_horizon()
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
    v_oldest timestamptz;
    v_hidden bigint;
BEGIN
    PERFORM pg_stat_clear_snapshot();
    IF EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database()) THEN
        RETURN '-infinity';
    END IF;

    SELECT min(xact_start), count(*) FILTER (WHERE query = '<insufficient privilege>')
      INTO v_oldest, v_hidden
      FROM pg_stat_activity
     WHERE datname = current_database()
       AND coalesce(leader_pid, pid) <> pg_backend_pid()
       AND backend_type NOT IN ('autovacuum worker', 'walsender');

    IF v_hidden > 0 THEN
        RAISE EXCEPTION 'the rollup cannot see when % other session(s) began their transactions', v_hidden
              USING ERRCODE = 'insufficient_privilege',
                    HINT = format('GRANT pg_read_all_stats TO %I;', current_user);
    END IF;
    RETURN coalesce(v_oldest, 'infinity');
END;
$$;
