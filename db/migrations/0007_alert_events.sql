-- Every efficiency alert event the leader published on alerts.efficiency (issue 23: the alerts
-- page and each vehicle's alert history). Written with efficiency_alert_state, after the events
-- were sent; kept like the history (no retention of its own: a few rows a vehicle a day at most).

CREATE TABLE IF NOT EXISTS efficiency_alert_events (
    id           bigserial        PRIMARY KEY,
    vehicle_id   text COLLATE "C" NOT NULL,  -- device ids compare bytes (migration 0005)
    type         text             NOT NULL
                 CHECK (type IN ('efficiency_low', 'efficiency_recovered', 'efficiency_unjudged')),
    status       text             NOT NULL,
    efficiency   double precision,
    threshold    double precision NOT NULL,
    meter_id     text COLLATE "C",
    window_start timestamptz      NOT NULL,
    window_end   timestamptz      NOT NULL,
    at           timestamptz      NOT NULL
);
CREATE INDEX IF NOT EXISTS efficiency_alert_events_at ON efficiency_alert_events (at DESC, id DESC);
CREATE INDEX IF NOT EXISTS efficiency_alert_events_vehicle
    ON efficiency_alert_events (vehicle_id, at DESC, id DESC);
