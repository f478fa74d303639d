// swift-tools-version:6.1
// Ledgerline: syncs repair-shop invoicing data into accounting systems.
// Libraries live in Shared/, executables in Services/, tests in Tests/. Dependencies point one way:
//   Services → Runtime → (Domain, Postgres, AMQP) ; workers → Connectors → (Domain, HTTP)
//   Postgres / AMQP / HTTP → BlockingIO + their C module, nothing else of ours.
import PackageDescription

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "ledgerline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "syncctl", targets: ["Syncctl"]),
        .executable(name: "ingest", targets: ["Ingest"]),
        .executable(name: "log-writer", targets: ["LogWriter"]),
        .executable(name: "erp-sim", targets: ["ErpSim"]),
        .executable(name: "worker-quickbooks-online", targets: ["QuickBooksOnlineWorker"]),
        .executable(name: "worker-xero", targets: ["XeroWorker"]),
        .executable(name: "scheduler", targets: ["Scheduler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
    ],
    targets: [
        // MARK: C libraries, found with pkg-config (shim.h holds only what Swift cannot import)
        .systemLibrary(name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CRabbitMQ", path: "Shared/CRabbitMQ", pkgConfig: "librabbitmq",
                       providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(name: "CCurl", path: "Shared/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),

        // MARK: Wrappers: own the C handles; nothing above them sees a C type
        .target(name: "BlockingIO", path: "Shared/BlockingIO"),
        .target(name: "Postgres", dependencies: ["CLibPQ", log, crypto], path: "Shared/Postgres"),
        .target(name: "AMQP", dependencies: ["CRabbitMQ", "BlockingIO", log], path: "Shared/AMQP"),
        .target(name: "HTTP", dependencies: ["CCurl", log], path: "Shared/HTTP"),

        // MARK: Domain: the canonical model, event contract and validation; no I/O
        .target(name: "Domain", path: "Shared/Domain"),

        // MARK: ERP connectors: one folder per ERP, mapping kept apart from transport (workers only)
        .target(name: "Connectors", dependencies: ["Domain", "HTTP", log, crypto], path: "Shared/Connectors"),

        // MARK: The runtime every worker-<erp> shares: sync state, retries, rate limits, credentials
        .target(name: "WorkerRuntime",
                dependencies: ["Runtime", "Connectors", "Domain", "Postgres", "AMQP", "HTTP", log, metrics, lifecycle, crypto],
                path: "Shared/WorkerRuntime"),

        // MARK: The audit trail and sync log: hash chain, writer, queries (log-writer and syncctl)
        .target(name: "AuditTrail", dependencies: ["Domain", "Postgres", log, crypto], path: "Shared/AuditTrail"),

        // MARK: The transactional outbox's relay (ingest and the scheduler run one)
        .target(name: "Outbox", dependencies: ["Runtime", "Postgres", "AMQP", "BlockingIO", log, metrics, lifecycle], path: "Shared/Outbox"),

        // MARK: The scheduler: pure scheduling logic (no I/O), and its Postgres side (triggers, fires, leader)
        .target(name: "Scheduling", path: "Shared/Scheduling"),
        .target(name: "SchedulerCore", dependencies: ["Scheduling", "Domain", "Postgres", log, metrics, crypto],
                path: "Shared/SchedulerCore"),

        // MARK: Shared runtime of every executable
        .target(name: "Runtime", dependencies: [
                    "Postgres", "AMQP", "BlockingIO", log, metrics, prometheus, lifecycle, unixSignals, hummingbird, nioCore,
                ],
                path: "Shared/Runtime"),

        // MARK: Services
        .executableTarget(name: "Syncctl",
                          dependencies: ["Runtime", "Postgres", "AMQP", "AuditTrail", "Domain", "Connectors", "WorkerRuntime", "HTTP",
                                         "Scheduling", "SchedulerCore", argumentParser, log, hummingbird, crypto],
                          path: "Services/Syncctl"),

        .executableTarget(name: "Ingest", dependencies: ["Runtime", "Outbox", "BlockingIO", "Domain", "Postgres", "AMQP", log, metrics, lifecycle, hummingbird, nioCore, crypto],
                          path: "Services/Ingest"),

        .executableTarget(name: "LogWriter", dependencies: ["Runtime", "AuditTrail", "Domain", "Postgres", "AMQP", log, metrics, lifecycle],
                          path: "Services/LogWriter"),

        .executableTarget(name: "ErpSim", dependencies: ["Runtime", "Domain", log, lifecycle, hummingbird, nioCore, crypto],
                          path: "Services/ErpSim"),

        // One worker executable per ERP: the shared runtime around that ERP's connector.
        .executableTarget(name: "QuickBooksOnlineWorker", dependencies: ["WorkerRuntime", "Connectors"],
                          path: "Services/Workers/QuickBooksOnline"),
        .executableTarget(name: "XeroWorker", dependencies: ["WorkerRuntime", "Connectors"], path: "Services/Workers/Xero"),

        .executableTarget(name: "Scheduler", dependencies: ["Runtime", "Outbox", "Scheduling", "SchedulerCore", "Domain", "Postgres", "AMQP", log, metrics, lifecycle],
                          path: "Services/Scheduler"),

        // MARK: Benchmarks (run by Benchmarks/run.sh, never by the tests)
        .executableTarget(name: "AMQPBench", dependencies: ["AMQP", log], path: "Benchmarks/AMQPBench"),
        .executableTarget(name: "PostgresBench", dependencies: ["Postgres", log], path: "Benchmarks/PostgresBench"),
        .executableTarget(name: "HTTPBench", dependencies: ["HTTP", log], path: "Benchmarks/HTTPBench"),
        .executableTarget(name: "LogWriterBench", dependencies: ["AuditTrail", "Domain", "Postgres", log],
                          path: "Benchmarks/LogWriterBench"),
        .executableTarget(name: "IngestBench", dependencies: ["Domain", "Postgres", "AMQP", "HTTP", log, crypto],
                          path: "Benchmarks/IngestBench"),

        .executableTarget(name: "SchedulerBench", dependencies: ["Scheduling", "SchedulerCore", "Domain", "Postgres", log],
                          path: "Benchmarks/SchedulerBench"),
        .executableTarget(name: "PullBench", dependencies: ["WorkerRuntime", "Connectors", "Domain", "Postgres", "HTTP", log],
                          path: "Benchmarks/PullBench"),
        .executableTarget(name: "WorkerBench", dependencies: ["WorkerRuntime", "Connectors", "Domain", "Postgres", "AMQP", "HTTP", log],
                          path: "Benchmarks/WorkerBench"),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: [log], path: "Tests/TestSupport"),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport", log], path: "Tests/PostgresTests"),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "TestSupport", log], path: "Tests/AMQPTests"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport", log], path: "Tests/HTTPTests",
                    exclude: ["Support/test_server.py"]),
        .testTarget(name: "DomainTests", dependencies: ["Domain"], path: "Tests/DomainTests"),
        .testTarget(name: "IngestTests", dependencies: ["Ingest", "Domain", "Runtime", "Postgres", "AMQP", "HTTP", "TestSupport", log, crypto],
                    path: "Tests/IngestTests"),
        .testTarget(name: "LogWriterTests", dependencies: ["LogWriter", "AuditTrail", "Domain", "Runtime", "Postgres", "AMQP", "TestSupport", log],
                    path: "Tests/LogWriterTests"),
        .testTarget(name: "ConnectorsTests", dependencies: ["Connectors", "Domain", "HTTP", "TestSupport", log, crypto],
                    path: "Tests/ConnectorsTests", resources: [.copy("Fixtures")]),
        .testTarget(name: "ErpSimTests", dependencies: ["ErpSim", "Domain", "Runtime", "HTTP", "TestSupport", log],
                    path: "Tests/ErpSimTests"),
        .testTarget(name: "WorkerRuntimeTests",
                    dependencies: ["WorkerRuntime", "Connectors", "Domain", "Runtime", "Postgres", "AMQP", "HTTP", "ErpSim",
                                   "TestSupport", log, metrics],
                    path: "Tests/WorkerRuntimeTests"),
        .testTarget(name: "TwoWaySyncTests",
                    dependencies: ["WorkerRuntime", "Connectors", "Domain", "Postgres", "AMQP", "Runtime", "HTTP", "ErpSim",
                                   "TestSupport", log],
                    path: "Tests/TwoWaySyncTests"),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling"], path: "Tests/SchedulingTests"),
        .testTarget(name: "SchedulerTests",
                    dependencies: ["Scheduler", "SchedulerCore", "Scheduling", "Domain", "Runtime", "Postgres", "AMQP", "TestSupport", log],
                    path: "Tests/SchedulerTests"),
        .testTarget(name: "EndToEndTests", dependencies: ["Postgres", "HTTP", "TestSupport", log, crypto],
                    path: "Tests/EndToEndTests"),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Postgres", "AMQP", "HTTP", "BlockingIO", "TestSupport", log, lifecycle, prometheus, metrics],
                    path: "Tests/RuntimeTests"),
    ]
)

// The same language settings for every Swift target.
for target in package.targets where [.regular, .executable, .test].contains(target.type) {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
}
