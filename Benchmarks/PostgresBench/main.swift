// PostgresBench: insert throughput of the Postgres wrapper, for comparison with pgbench
// (Benchmarks/postgres.sh runs both against the same server and table).
//
// Statement, as in Benchmarks/reference/pg_*.sql:
//   INSERT INTO bench_pg_events (idem_key, payload) VALUES ($1, $2) ON CONFLICT (idem_key) DO NOTHING
// with a unique text key and a ~1 KiB jsonb document, one connection, prepared statements.
//
// Figures (rows/s):
//   pg.single_commit.swift   one row per commit (autocommit), one round trip per row
//   pg.tx100.swift           BEGIN, 100 INSERTs, COMMIT: one round trip per statement
//   pg.pipeline100.swift     100 INSERTs in one pipeline with one sync (one implicit transaction)
//   pg.pipeline_stream.swift 10,000 INSERTs per pipeline call, a sync every 100, two groups in flight
//   pg.single_commit_pool.swift  as single_commit, but each row leases a connection from a PostgresPool
//   pg.select1.swift         prepared `SELECT 1` round trips (queries/s): the wrapper's own overhead,
//                            free of commit (fsync) cost
//
// Usage: PostgresBench [--payload] [mode ...]   (modes: single tx100 pipeline100 stream pool select1; default all)
// Env: LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD, LEDGERLINE_PG_BENCH_SECONDS (5 per figure),
//      LEDGERLINE_PG_BENCH_MAX_ROWS (200000 per figure).
import Foundation
import Logging
import Postgres

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--payload") {
    print(BenchSettings.payloadText)
    exit(0)
}
let modes = arguments.isEmpty ? ["single", "tx100", "pipeline100", "stream", "pool", "select1"] : arguments
do {
    try await PostgresBenchmark.run(modes: modes)
} catch {
    FileHandle.standardError.write(Data("PostgresBench failed: \(error)\n".utf8))
    exit(1)
}
