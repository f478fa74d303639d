// IngestBench: throughput and latency of a running `ingest` service (see Benchmarks/ingest.sh).
//
//   IngestBench setup     declares the bench's job and audit exchanges and queues (before ingest starts)
//   IngestBench run       the measurements below
//   IngestBench cleanup   deletes what `setup` declared
//
// Environment:
//   LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD, LEDGERLINE_AMQP_URL, LEDGERLINE_AMQP_PASSWORD
//   INGEST_BENCH_HTTP_URL        e.g. http://127.0.0.1:18090/v1/events (required for run)
//   INGEST_BENCH_TENANT, INGEST_BENCH_LOCATION, INGEST_BENCH_SECRET   a registered tenant (required for run)
//   INGEST_BENCH_EVENTS          events per throughput phase (default 10000)
//   INGEST_BENCH_RATE            paced phases: events per second (default 500)
//   INGEST_BENCH_PACED_SECONDS   paced phases: duration (default 6)
//   INGEST_BENCH_HTTP_CONCURRENCY  requests in flight in the HTTP throughput phase (default 8)
//   INGEST_BENCH_SECONDS         time limit of each phase (default 60)
// Prints FIGURE lines:
//   ingest.ceiling.amqp_publish_confirmed  msg/s   bare confirmed publishing of same-size messages
//   ingest.amqp.accepted                   events/s  published → committed in Postgres (AMQP intake)
//   ingest.http.accepted                   events/s  single-event POSTs answered 202
//   ingest.http_batch.accepted             events/s  100-event batch POSTs answered 202
//   ingest.http.accept_p50_at_<rate> / _p99_at_<rate>   ms  POST → 202 at a steady rate
//   ingest.amqp.stored_p50_at_<rate> / _p99_at_<rate>   ms  publish → row inserted at a steady rate
//   ingest.relay_lag_p99_at_<rate>         ms  outbox row created → publish confirmed (paced phases)
//   ingest.relay_lag_p99_saturated         ms  the same during the throughput phases
try await IngestBench.main(arguments: Array(CommandLine.arguments.dropFirst()))
