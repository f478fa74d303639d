-- pgbench script (used by Benchmarks/postgres.sh with -M prepared and -D payload=<the ~1 KiB JSON>):
-- one row per commit, the same statement as PostgresBench's pg.single_commit.swift.
\set k1 random(1, 9000000000000000000)
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k1, :payload) ON CONFLICT (idem_key) DO NOTHING;
