import Hummingbird
public import Logging
import NIOCore
public import Prometheus
public import ServiceLifecycle

/// Builds the admin HTTP server every executable runs: `GET /healthz` (200 when every component
/// in ``HealthRegistry`` is healthy, else 503, with a JSON body listing them) and `GET /metrics`
/// (Prometheus text format). It is a `Service` and joins the executable's service group.
public enum AdminServer {
    /// - Parameters:
    ///   - name: the executable, shown as the server name.
    ///   - host: the address to bind (loopback by default).
    ///   - port: the port to bind; 0 picks a free one.
    ///   - health: component statuses.
    ///   - registry: the Prometheus registry the metrics factory writes to.
    ///   - logger: the service logger.
    public static func make(
        name: String, host: String, port: Int, health: HealthRegistry, registry: PrometheusCollectorRegistry,
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        let router = Router()
        router.get("healthz") { _, _ -> Response in
            let checks = health.snapshot.map { entry -> String in
                switch entry.status {
                case .healthy:
                    return "\"\(entry.component)\":{\"status\":\"ok\"}"
                case .unhealthy(let reason):
                    return "\"\(entry.component)\":{\"status\":\"failing\",\"reason\":\(StructuredLogHandler.jsonString(reason))}"
                }
            }
            let healthy = health.isHealthy
            let body = "{\"status\":\"\(healthy ? "ok" : "failing")\",\"service\":\"\(name)\",\"checks\":{\(checks.joined(separator: ","))}}\n"
            return Response(
                status: healthy ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: name),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
