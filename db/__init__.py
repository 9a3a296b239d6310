"""PostgreSQL: migrations and the batch writer's SQL."""
