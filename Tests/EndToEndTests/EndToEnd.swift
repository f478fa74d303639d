import Testing
import TestSupport

/// Every end-to-end suite runs inside this one, one test at a time: their workers consume the ERPs' shared job
/// queues and each stack start retires the connections of earlier tests, so two suites must never overlap.
@Suite(.serialized, .requiresPostgres, .requiresRabbitMQ)
enum EndToEnd {}
