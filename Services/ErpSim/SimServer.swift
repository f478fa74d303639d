import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The request context of the simulator's server: Hummingbird's core context plus the channel,
/// which the "reset" fault closes with `SO_LINGER` 0 (a TCP reset instead of an answer).
struct SimRequestContext: RequestContext {
    typealias Source = ApplicationRequestContextSource
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: Source) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// Thrown after the connection was reset on purpose; the server has nothing left to answer.
struct ConnectionResetOnPurpose: Error {}

/// Builds the Hummingbird application that serves a ``Simulator``.
enum SimServer {
    /// The largest request body accepted.
    static let maxBodyBytes = 8 << 20

    static func responder(_ simulator: Simulator) -> CallbackResponder<SimRequestContext> {
        CallbackResponder { request, context in
            let body = try await request.body.collect(upTo: maxBodyBytes)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let simRequest = SimRequest(
                method: request.method.rawValue, path: request.uri.path, rawQuery: request.uri.query, headers: headers,
                body: Array(buffer: body))
            let (answer, admitted) = await simulator.handle(simRequest)
            context.logger.debug("erp-sim answer", metadata: [
                "http.method": "\(simRequest.method)", "http.path": "\(simRequest.path)", "http.status_code": "\(answer.status)",
                "erpsim.delivery": "\(answer.delivery)",
            ])
            // The concurrency slot ends once the answer is ready to go (or the connection was reset).
            do {
                try await deliver(answer.delivery, channel: context.channel)
            } catch {
                if let admitted { await simulator.finish(admitted) }
                throw error
            }
            if let admitted { await simulator.finish(admitted) }
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let fieldName = HTTPFields.Element.Name(name) { fields.append(HTTPFields.Element(name: fieldName, value: value)) }
            }
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: fields,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
        }
    }

    /// Waits or resets as the answer's delivery says.
    private static func deliver(_ delivery: SimDelivery, channel: any Channel) async throws {
        switch delivery {
        case .normal: break
        case .delayed(let duration), .hang(let duration):
            try? await Task.sleep(for: duration)
        case .reset:
            if let provider = channel as? any SocketOptionProvider {
                try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
            }
            try? await channel.close().get()
            throw ConnectionResetOnPurpose()
        }
    }

    /// The HTTP server as a `Service`. `onRunning` receives the bound port (useful with port 0).
    static func make(
        simulator: Simulator, host: String, port: Int, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        Application(
            responder: responder(simulator),
            configuration: .init(address: .hostname(host, port: port), serverName: "erp-sim"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
