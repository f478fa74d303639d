-- pgbench script (used by Benchmarks/postgres.sh with -M prepared and -D payload=<the ~1 KiB JSON>):
-- BEGIN, 100 INSERTs, COMMIT: the same work as PostgresBench's pg.tx100.swift.
\set k1 random(1, 9000000000000000000)
\set k2 random(1, 9000000000000000000)
\set k3 random(1, 9000000000000000000)
\set k4 random(1, 9000000000000000000)
\set k5 random(1, 9000000000000000000)
\set k6 random(1, 9000000000000000000)
\set k7 random(1, 9000000000000000000)
\set k8 random(1, 9000000000000000000)
\set k9 random(1, 9000000000000000000)
\set k10 random(1, 9000000000000000000)
\set k11 random(1, 9000000000000000000)
\set k12 random(1, 9000000000000000000)
\set k13 random(1, 9000000000000000000)
\set k14 random(1, 9000000000000000000)
\set k15 random(1, 9000000000000000000)
\set k16 random(1, 9000000000000000000)
\set k17 random(1, 9000000000000000000)
\set k18 random(1, 9000000000000000000)
\set k19 random(1, 9000000000000000000)
\set k20 random(1, 9000000000000000000)
\set k21 random(1, 9000000000000000000)
\set k22 random(1, 9000000000000000000)
\set k23 random(1, 9000000000000000000)
\set k24 random(1, 9000000000000000000)
\set k25 random(1, 9000000000000000000)
\set k26 random(1, 9000000000000000000)
\set k27 random(1, 9000000000000000000)
\set k28 random(1, 9000000000000000000)
\set k29 random(1, 9000000000000000000)
\set k30 random(1, 9000000000000000000)
\set k31 random(1, 9000000000000000000)
\set k32 random(1, 9000000000000000000)
\set k33 random(1, 9000000000000000000)
\set k34 random(1, 9000000000000000000)
\set k35 random(1, 9000000000000000000)
\set k36 random(1, 9000000000000000000)
\set k37 random(1, 9000000000000000000)
\set k38 random(1, 9000000000000000000)
\set k39 random(1, 9000000000000000000)
\set k40 random(1, 9000000000000000000)
\set k41 random(1, 9000000000000000000)
\set k42 random(1, 9000000000000000000)
\set k43 random(1, 9000000000000000000)
\set k44 random(1, 9000000000000000000)
\set k45 random(1, 9000000000000000000)
\set k46 random(1, 9000000000000000000)
\set k47 random(1, 9000000000000000000)
\set k48 random(1, 9000000000000000000)
\set k49 random(1, 9000000000000000000)
\set k50 random(1, 9000000000000000000)
\set k51 random(1, 9000000000000000000)
\set k52 random(1, 9000000000000000000)
\set k53 random(1, 9000000000000000000)
\set k54 random(1, 9000000000000000000)
\set k55 random(1, 9000000000000000000)
\set k56 random(1, 9000000000000000000)
\set k57 random(1, 9000000000000000000)
\set k58 random(1, 9000000000000000000)
\set k59 random(1, 9000000000000000000)
\set k60 random(1, 9000000000000000000)
\set k61 random(1, 9000000000000000000)
\set k62 random(1, 9000000000000000000)
\set k63 random(1, 9000000000000000000)
\set k64 random(1, 9000000000000000000)
\set k65 random(1, 9000000000000000000)
\set k66 random(1, 9000000000000000000)
\set k67 random(1, 9000000000000000000)
\set k68 random(1, 9000000000000000000)
\set k69 random(1, 9000000000000000000)
\set k70 random(1, 9000000000000000000)
\set k71 random(1, 9000000000000000000)
\set k72 random(1, 9000000000000000000)
\set k73 random(1, 9000000000000000000)
\set k74 random(1, 9000000000000000000)
\set k75 random(1, 9000000000000000000)
\set k76 random(1, 9000000000000000000)
\set k77 random(1, 9000000000000000000)
\set k78 random(1, 9000000000000000000)
\set k79 random(1, 9000000000000000000)
\set k80 random(1, 9000000000000000000)
\set k81 random(1, 9000000000000000000)
\set k82 random(1, 9000000000000000000)
\set k83 random(1, 9000000000000000000)
\set k84 random(1, 9000000000000000000)
\set k85 random(1, 9000000000000000000)
\set k86 random(1, 9000000000000000000)
\set k87 random(1, 9000000000000000000)
\set k88 random(1, 9000000000000000000)
\set k89 random(1, 9000000000000000000)
\set k90 random(1, 9000000000000000000)
\set k91 random(1, 9000000000000000000)
\set k92 random(1, 9000000000000000000)
\set k93 random(1, 9000000000000000000)
\set k94 random(1, 9000000000000000000)
\set k95 random(1, 9000000000000000000)
\set k96 random(1, 9000000000000000000)
\set k97 random(1, 9000000000000000000)
\set k98 random(1, 9000000000000000000)
\set k99 random(1, 9000000000000000000)
\set k100 random(1, 9000000000000000000)
BEGIN;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k1, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k2, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k3, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k4, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k5, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k6, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k7, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k8, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k9, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k10, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k11, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k12, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k13, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k14, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k15, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k16, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k17, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k18, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k19, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k20, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k21, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k22, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k23, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k24, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k25, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k26, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k27, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k28, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k29, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k30, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k31, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k32, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k33, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k34, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k35, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k36, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k37, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k38, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k39, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k40, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k41, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k42, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k43, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k44, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k45, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k46, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k47, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k48, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k49, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k50, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k51, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k52, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k53, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k54, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k55, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k56, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k57, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k58, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k59, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k60, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k61, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k62, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k63, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k64, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k65, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k66, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k67, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k68, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k69, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k70, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k71, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k72, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k73, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k74, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k75, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k76, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k77, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k78, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k79, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k80, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k81, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k82, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k83, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k84, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k85, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k86, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k87, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k88, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k89, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k90, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k91, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k92, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k93, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k94, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k95, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k96, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k97, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k98, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k99, :payload) ON CONFLICT (idem_key) DO NOTHING;
INSERT INTO bench_pg_events (idem_key, payload) VALUES (:k100, :payload) ON CONFLICT (idem_key) DO NOTHING;
COMMIT;
