-- History (cold, append-only), live state (hot), vehicle-meter links and hourly rollups.
-- History tables are range-partitioned by day; a default partition takes whatever falls
-- outside the daily partitions, so no valid reading is ever refused.

CREATE TABLE IF NOT EXISTS meter_history (
    meter_id        text             NOT NULL,
    ts              timestamptz      NOT NULL,
    kwh_consumed_ac double precision NOT NULL,
    voltage         double precision NOT NULL,
    PRIMARY KEY (meter_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE IF NOT EXISTS meter_history_default PARTITION OF meter_history DEFAULT;

CREATE TABLE IF NOT EXISTS vehicle_history (
    vehicle_id       text             NOT NULL,
    ts               timestamptz      NOT NULL,
    soc              double precision NOT NULL,
    kwh_delivered_dc double precision NOT NULL,
    battery_temp     double precision NOT NULL,
    meter_id         text,
    PRIMARY KEY (vehicle_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE IF NOT EXISTS vehicle_history_default PARTITION OF vehicle_history DEFAULT;

CREATE TABLE IF NOT EXISTS meter_live (
    meter_id        text PRIMARY KEY,
    ts              timestamptz      NOT NULL,
    kwh_consumed_ac double precision NOT NULL,
    voltage         double precision NOT NULL,
    updated_at      timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS vehicle_live (
    vehicle_id       text PRIMARY KEY,
    ts               timestamptz      NOT NULL,
    soc              double precision NOT NULL,
    kwh_delivered_dc double precision NOT NULL,
    battery_temp     double precision NOT NULL,
    meter_id         text,
    updated_at       timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS vehicle_meter_link (
    vehicle_id text        NOT NULL,
    valid_from timestamptz NOT NULL,
    meter_id   text        NOT NULL,
    source     text        NOT NULL DEFAULT 'reading',
    PRIMARY KEY (vehicle_id, valid_from)
);

CREATE TABLE IF NOT EXISTS meter_hourly (
    meter_id        text             NOT NULL,
    hour            timestamptz      NOT NULL,
    kwh_consumed_ac double precision NOT NULL,
    readings        bigint           NOT NULL,
    PRIMARY KEY (meter_id, hour)
);

CREATE TABLE IF NOT EXISTS vehicle_hourly (
    vehicle_id         text             NOT NULL,
    hour               timestamptz      NOT NULL,
    kwh_delivered_dc   double precision NOT NULL,
    battery_temp_sum   double precision NOT NULL,
    battery_temp_count bigint           NOT NULL,
    readings           bigint           NOT NULL,
    PRIMARY KEY (vehicle_id, hour)
);
CREATE INDEX IF NOT EXISTS vehicle_hourly_hour ON vehicle_hourly (hour);
CREATE INDEX IF NOT EXISTS meter_hourly_hour ON meter_hourly (hour);

-- Create the daily partition of `parent` for `day`, moving any rows the default partition
-- already holds for that day, so partitions can be added after data arrived.
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
