-- Analytics: vehicle-meter link inference, link lookups, and efficiency alert state.

-- The identifier after a device-type prefix: V1 -> 1, V-201 -> 201, M-0001 -> 0001.
-- A vehicle with no explicit link is inferred to charge on the single meter with the same
-- trailing identifier (tests/integration/test_link_inference.py).
CREATE OR REPLACE FUNCTION energy_device_suffix(device_id text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT substring(device_id FROM '^[A-Za-z]+[-_.:]?([A-Za-z0-9].*)$')
$$;

CREATE INDEX IF NOT EXISTS meter_live_suffix ON meter_live (energy_device_suffix(meter_id));

-- One row per vehicle that was ever judged; `flagged` is the side of the threshold it was on
-- when last judged, so an alert is published once per crossing, not once per evaluation.
CREATE TABLE IF NOT EXISTS efficiency_alert_state (
    vehicle_id   text             PRIMARY KEY,
    flagged      boolean          NOT NULL,
    efficiency   double precision,
    threshold    double precision NOT NULL,
    meter_id     text,
    window_start timestamptz      NOT NULL,
    window_end   timestamptz      NOT NULL,
    changed_at   timestamptz      NOT NULL DEFAULT now(),
    evaluated_at timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS efficiency_alert_state_flagged
    ON efficiency_alert_state (vehicle_id) WHERE flagged;
