-- 0001 foundation: the tenancy every later table hangs from, and the database roles.
-- Applied by `syncctl migrate` inside one transaction; recorded in schema_migrations.

-- A tenant is a franchise (or an independent shop); it owns locations, connections and data.
CREATE TABLE tenants (
    tenant_id      text PRIMARY KEY CHECK (tenant_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    display_name   text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- A location is one shop of a tenant. Its time zone decides when its end-of-day batch runs.
CREATE TABLE locations (
    tenant_id      text NOT NULL REFERENCES tenants (tenant_id),
    location_id    text NOT NULL CHECK (location_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    display_name   text NOT NULL,
    time_zone      text NOT NULL DEFAULT 'UTC',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, location_id)
);

-- Least-privilege roles. Services log in as roles that are members of these; the migration
-- runner (owner) is the only one that changes the schema. NOLOGIN: deployments create login
-- users and GRANT these roles to them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerline_service') THEN
        CREATE ROLE ledgerline_service NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledgerline_finance') THEN
        CREATE ROLE ledgerline_finance NOLOGIN;
    END IF;
END
$$;

GRANT SELECT ON tenants, locations TO ledgerline_service;
