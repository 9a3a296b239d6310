-- Retention of the history tables (RETENTION_DAYS; see db/partitions.py and docs/architecture.md).
--
-- Daily partitions older than the retention horizon are dropped. The horizon is recorded here
-- and only ever moves forward, because a dropped day must stay dropped: a replayed reading for
-- it would otherwise be inserted again (no row left to conflict with) and counted a second time
-- in the hourly rollups, which are kept. Readings older than the horizon are therefore refused
-- silently, by a trigger on the default partitions (where they would land once their day's
-- partition is gone), and no daily partition is ever created again behind the horizon.

CREATE TABLE IF NOT EXISTS history_retention (
    table_name text PRIMARY KEY,            -- meter_history / vehicle_history
    kept_from  timestamptz NOT NULL,        -- rows with ts before this are gone for good
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- BEFORE INSERT on a default partition: skip rows older than the horizon of TG_ARGV[0]. A
-- skipped row is not in the insert's RETURNING, so live state and rollups never see it.
CREATE OR REPLACE FUNCTION energy_history_horizon() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    horizon timestamptz;
BEGIN
    SELECT kept_from INTO horizon FROM history_retention WHERE table_name = TG_ARGV[0];
    IF horizon IS NOT NULL AND NEW.ts < horizon THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER meter_history_default_horizon
    BEFORE INSERT ON meter_history_default
    FOR EACH ROW EXECUTE FUNCTION energy_history_horizon('meter_history');
CREATE OR REPLACE TRIGGER vehicle_history_default_horizon
    BEFORE INSERT ON vehicle_history_default
    FOR EACH ROW EXECUTE FUNCTION energy_history_horizon('vehicle_history');

-- energy_ensure_day_partition as in 0001, plus one rule: no partition behind the horizon (it
-- would take replayed readings of a dropped day past the trigger above).
CREATE OR REPLACE FUNCTION energy_ensure_day_partition(parent text, day date)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    child text := format('%s_p%s', parent, to_char(day, 'YYYYMMDD'));
    lo timestamptz := (day::timestamp AT TIME ZONE 'UTC');
    hi timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(child));
    IF to_regclass(child) IS NOT NULL THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM history_retention WHERE table_name = parent AND kept_from >= hi)
    THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', parent);
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   child, parent);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE ts >= $1 AND ts < $2 RETURNING *) '
                   'INSERT INTO %I SELECT * FROM moved', parent || '_default', child)
        USING lo, hi;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, child, lo, hi);
    RETURN true;
END $$;
