"""Stream processor: validates, routes and writes energy telemetry."""
