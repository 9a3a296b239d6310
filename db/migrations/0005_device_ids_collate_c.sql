-- Device ids compared byte by byte. Ids are ASCII ([A-Za-z0-9._:-], DESIGN.md section 2), so
-- the database's linguistic collation buys nothing for them, but every comparison in the
-- history and live indexes, the writer's DISTINCT ON and GROUP BY, went through strcoll():
-- about an eighth of PostgreSQL's CPU on the writers' statements (C.UTF-8 database, 3-minute
-- batches of the benchmark fleet: 7.0 -> 6.2 us a reading). Under C.UTF-8 the order of such
-- ids is the same as under "C"; under a language collation (en_US) it becomes code-point order.
-- Changing only the collation of a text column rewrites no table, but rebuilds the indexes on
-- the column: on a large existing history this migration takes as long as building them.
ALTER TABLE meter_history ALTER COLUMN meter_id TYPE text COLLATE "C";
ALTER TABLE vehicle_history ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE vehicle_history ALTER COLUMN meter_id TYPE text COLLATE "C";
ALTER TABLE meter_live ALTER COLUMN meter_id TYPE text COLLATE "C";
ALTER TABLE vehicle_live ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE vehicle_live ALTER COLUMN meter_id TYPE text COLLATE "C";
ALTER TABLE meter_hourly ALTER COLUMN meter_id TYPE text COLLATE "C";
ALTER TABLE vehicle_hourly ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE vehicle_meter_link ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE vehicle_meter_link ALTER COLUMN meter_id TYPE text COLLATE "C";
ALTER TABLE efficiency_alert_state ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE efficiency_alert_state ALTER COLUMN meter_id TYPE text COLLATE "C";
