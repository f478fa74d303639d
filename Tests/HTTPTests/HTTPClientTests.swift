import Foundation
import HTTP
import Logging
import Testing
import TestSupport

/// The libcurl-backed client against real local servers (Python `test_server.py`, nginx).
@Suite(.timeLimit(.minutes(1)))
struct HTTPClientTests {
    let logger = LocalServers.logger

    // MARK: Connections and concurrency

    @Test func keepAliveReusesOneConnectionFor100SequentialRequests() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                var clientPorts = Set<String>()
                var opened = 0
                for _ in 0..<100 {
                    let response = try await client.execute(
                        HTTPRequest(url: "http://127.0.0.1:\(port)/connection"), logger: logger)
                    #expect(response.status == 200)
                    clientPorts.insert(String(decoding: response.body, as: UTF8.self))
                    opened += response.metrics.connectionsOpened
                }
                #expect(clientPorts.count == 1, "the server saw \(clientPorts.count) client ports")
                #expect(opened == 1)
                #expect(client.connectionsOpened == 1)
                #expect(client.responsesReceived == 100)
            }
        }
    }

    @Test func freshConnectionRequestsNeverReuseOrLeaveAConnection() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                var clientPorts = Set<String>()
                // A kept-alive connection exists first; fresh requests must not use it.
                _ = try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/connection"), logger: logger)
                for _ in 0..<5 {
                    let response = try await client.execute(
                        HTTPRequest(url: "http://127.0.0.1:\(port)/connection", freshConnection: true), logger: logger)
                    #expect(response.status == 200)
                    #expect(response.metrics.connectionsOpened == 1)
                    clientPorts.insert(String(decoding: response.body, as: UTF8.self))
                }
                #expect(clientPorts.count == 5, "each fresh request used its own connection")
                #expect(client.connectionsOpened == 6)
            }
        }
    }

    @Test func fiftyConcurrentSlowRequestsAreInFlightTogether() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient({ $0.maxConnectionsPerHost = 64 }) { client in
                let (statuses, elapsed) = try await timed {
                    try await withThrowingTaskGroup(of: Int.self) { group in
                        for _ in 0..<50 {
                            group.addTask {
                                try await client.execute(
                                    HTTPRequest(url: "http://127.0.0.1:\(port)/sleep?ms=200"), logger: logger
                                ).status
                            }
                        }
                        return try await group.reduce(into: [Int]()) { $0.append($1) }
                    }
                }
                #expect(statuses == Array(repeating: 200, count: 50))
                // One after another would take 50 × 200 ms = 10 s.
                #expect(elapsed < .seconds(3), "took \(elapsed)")
            }
        }
    }

    @Test func maxConnectionsPerHostQueuesExtraRequests() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient({ $0.maxConnectionsPerHost = 2 }) { client in
                let (_, elapsed) = try await timed {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<6 {
                            group.addTask {
                                let response = try await client.execute(
                                    HTTPRequest(url: "http://127.0.0.1:\(port)/sleep?ms=200"), logger: logger)
                                #expect(response.status == 200)
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                // 6 requests over 2 connections: 3 rounds of 200 ms.
                #expect(elapsed >= .milliseconds(580), "took \(elapsed)")
                #expect(client.connectionsOpened == 2)
            }
        }
    }

    // MARK: Failures to connect and timeouts

    @Test func closedPortFailsWithConnectFailed() async throws {
        let port = try LocalServers.freePort()
        try await withClient { client in
            for (url, host) in [
                ("http://127.0.0.1:\(port)/", "127.0.0.1"), ("HTTP://user:secret@127.0.0.1:\(port)", "127.0.0.1"),
                ("http://[::1]:\(port)/x", "[::1]"),
            ] {
                let error = await capture { try await client.execute(HTTPRequest(url: url), logger: logger) }
                let failure = try #require(error as? HTTPClientError)
                #expect(failure.code == .connectFailed)
                #expect(failure.curlCode == 7)
                #expect(failure.host == host)
                #expect(!failure.requestMayHaveBeenSent)
            }
        }
    }

    @Test func connectTimeoutAgainstAListenerThatNeverAccepts() async throws {
        try await LocalServers.withPythonServer(blackhole: true) { port in
            try await withClient({ $0.connectTimeout = .milliseconds(300) }) { client in
                let (error, elapsed) = await timed {
                    await capture {
                        try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/"), logger: logger)
                    }
                }
                let failure = try #require(error as? HTTPClientError)
                #expect(failure.code == .timedOut)
                #expect(!failure.requestMayHaveBeenSent)
                #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(3), "took \(elapsed)")
            }
        }
    }

    @Test(arguments: [false, true])
    func totalTimeoutAgainstAServerThatNeverAnswers(perRequest: Bool) async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient({ if !perRequest { $0.requestTimeout = .milliseconds(300) } }) { client in
                let request = HTTPRequest(
                    method: .post, url: "http://127.0.0.1:\(port)/hang", body: Array("{}".utf8),
                    timeout: perRequest ? .milliseconds(300) : nil)
                let (error, elapsed) = await timed {
                    await capture { try await client.execute(request, logger: logger) }
                }
                let failure = try #require(error as? HTTPClientError)
                #expect(failure.code == .timedOut)
                #expect(failure.curlCode == 28)
                #expect(failure.requestMayHaveBeenSent)
                #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(3), "took \(elapsed)")
            }
        }
    }

    @Test func requestWaitingForAConnectionTimesOutOnTime() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient({ $0.maxConnectionsPerHost = 1 }) { client in
                async let first = client.execute(
                    HTTPRequest(url: "http://127.0.0.1:\(port)/sleep?ms=1000", timeout: .seconds(5)), logger: logger)
                try await Task.sleep(for: .milliseconds(100))  // let the first take the only connection
                let (error, elapsed) = await timed {
                    await capture {
                        try await client.execute(
                            HTTPRequest(url: "http://127.0.0.1:\(port)/status/200", timeout: .milliseconds(300)),
                            logger: logger)
                    }
                }
                let failure = try #require(error as? HTTPClientError)
                #expect(failure.code == .timedOut)
                #expect(!failure.requestMayHaveBeenSent)
                // Not when the connection frees up (~900 ms later), but at its own deadline.
                #expect(elapsed < .milliseconds(800), "took \(elapsed)")
                #expect(try await first.status == 200)
            }
        }
    }

    // MARK: TLS

    @Test func selfSignedCertificateIsRefusedByDefault() async throws {
        try await LocalServers.withSelfSignedCertificate { certificate in
            try await LocalServers.withPythonServer(tls: certificate) { port in
                try await withClient { client in
                    let error = await capture {
                        try await client.execute(HTTPRequest(url: "https://127.0.0.1:\(port)/echo"), logger: logger)
                    }
                    let failure = try #require(error as? HTTPClientError)
                    #expect(failure.code == .tlsFailure)
                    #expect(failure.curlCode == 60)  // CURLE_PEER_FAILED_VERIFICATION
                }
            }
        }
    }

    @Test func selfSignedCertificateIsAcceptedWhenTrustedExplicitly() async throws {
        try await LocalServers.withSelfSignedCertificate { certificate in
            try await LocalServers.withPythonServer(tls: certificate) { port in
                try await withClient({ $0.trustedCAFile = certificate.certificatePath }) { client in
                    let response = try await client.execute(
                        HTTPRequest(method: .post, url: "https://127.0.0.1:\(port)/echo", body: Array("hi".utf8)),
                        logger: logger)
                    #expect(response.status == 200)
                    #expect(response.body == Array("hi".utf8))
                    #expect(response.version == .http1_1)  // the Python server offers no HTTP/2
                    #expect(response.metrics.tlsHandshakeTime > .zero)
                }
            }
        }
    }

    @Test func http2IsNegotiatedAndMultiplexedWhenTheServerOffersIt() async throws {
        try await LocalServers.withSelfSignedCertificate { certificate in
            try await LocalServers.withNginxTLS(certificate: certificate) { port in
                try await withClient({ $0.trustedCAFile = certificate.certificatePath }) { client in
                    let versions = try await withThrowingTaskGroup(of: HTTPVersion.self) { group in
                        for _ in 0..<20 {
                            group.addTask {
                                let response = try await client.execute(
                                    HTTPRequest(url: "https://127.0.0.1:\(port)/"), logger: logger)
                                #expect(response.status == 200)
                                #expect(response.body == Array("nginx".utf8))
                                return response.version
                            }
                        }
                        return try await group.reduce(into: Set<HTTPVersion>()) { $0.insert($1) }
                    }
                    #expect(versions == [.http2])
                    #expect(client.connectionsOpened == 1, "20 streams should share one connection")
                }
                try await withClient({
                    $0.trustedCAFile = certificate.certificatePath
                    $0.preferHTTP2 = false
                }) { client in
                    let response = try await client.execute(
                        HTTPRequest(url: "https://127.0.0.1:\(port)/"), logger: logger)
                    #expect(response.version == .http1_1)
                }
            }
        }
    }

    // MARK: Redirects

    @Test func redirectIsReturnedNotFollowedByDefault() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                let response = try await client.execute(
                    HTTPRequest(url: "http://127.0.0.1:\(port)/redirect"), logger: logger)
                #expect(response.status == 302)
                #expect(response.header("location") == "/echo")
                #expect(response.metrics.redirectCount == 0)
            }
        }
    }

    @Test func redirectsAreFollowedUpToTheConfiguredCount() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient({ $0.followRedirects = .follow(max: 3) }) { client in
                let response = try await client.execute(
                    HTTPRequest(url: "http://127.0.0.1:\(port)/redirect"), logger: logger)
                #expect(response.status == 200)
                #expect(response.header("X-Method") == "GET")
                #expect(response.header("Location") == nil, "headers are those of the final response")
                #expect(response.metrics.redirectCount == 1)

                let error = await capture {
                    try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/loop"), logger: logger)
                }
                #expect((error as? HTTPClientError)?.code == .tooManyRedirects)
            }
        }
    }

    // MARK: Headers and bodies

    @Test func requestHeadersArriveAndResponseHeadersAreReadableCaseInsensitively() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient({ $0.userAgent = "ledgerline-test/1" }) { client in
                let sent = try await client.execute(
                    HTTPRequest(
                        url: "http://127.0.0.1:\(port)/headers",
                        headers: ["X-Tenant-ID": "tenant-42", "Idempotency-Key": "abc-123", "X-Empty": ""]),
                    logger: logger)
                let received = String(decoding: sent.body, as: UTF8.self).split(separator: "\n").map(String.init)
                #expect(received.contains("X-Tenant-ID: tenant-42"))
                #expect(received.contains("Idempotency-Key: abc-123"))
                #expect(received.contains("X-Empty: "))
                #expect(received.contains("User-Agent: ledgerline-test/1"))
                #expect(!received.contains { $0.lowercased().hasPrefix("expect:") })

                let response = try await client.execute(
                    HTTPRequest(url: "http://127.0.0.1:\(port)/response-headers"), logger: logger)
                #expect(response.header("x-custom-thing") == "abc")
                #expect(response.header("X-CUSTOM-THING") == "abc")
                #expect(response.header("Content-Type") == "text/plain")
                #expect(response.headers.values(for: "set-cookie") == ["a=1", "b=2"])
                #expect(response.header("Content-Length") == "2")
                #expect(response.header("missing") == nil)
            }
        }
    }

    @Test(arguments: [1_500, 256 * 1024])
    func postBodyArrivesIntactWithoutWaitingFor100Continue(size: Int) async throws {
        var generator = SystemRandomNumberGenerator()
        let body = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                let (response, elapsed) = try await timed {
                    try await client.execute(
                        HTTPRequest(
                            method: .post, url: "http://127.0.0.1:\(port)/echo",
                            headers: ["Content-Type": "application/octet-stream"], body: body),
                        logger: logger)
                }
                #expect(response.status == 200)
                #expect(response.header("X-Expect") == "none")
                #expect(response.header("X-Body-Length") == "\(size)")
                #expect(response.body == body)
                // The server never sends "100 Continue": a client that asked for it would wait 1 s.
                #expect(elapsed < .milliseconds(900), "took \(elapsed)")
            }
        }
    }

    @Test func otherMethodsSendTheirBodiesAndHeadHasNoBody() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                let url = "http://127.0.0.1:\(port)/echo"
                for method in [HTTPMethod.put, .patch, .delete] {
                    let response = try await client.execute(
                        HTTPRequest(method: method, url: url, body: Array("\(method)".utf8)), logger: logger)
                    #expect(response.header("X-Method") == method.rawValue)
                    #expect(response.body == Array(method.rawValue.utf8))
                }
                let bodiless = try await client.execute(HTTPRequest(method: .delete, url: url), logger: logger)
                #expect(bodiless.header("X-Body-Length") == "0")
                let emptyPost = try await client.execute(HTTPRequest(method: .post, url: url), logger: logger)
                #expect(emptyPost.header("X-Body-Length") == "0")
                let head = try await client.execute(HTTPRequest(method: .head, url: url), logger: logger)
                #expect(head.status == 200)
                #expect(head.header("X-Method") == "HEAD")
                #expect(head.body.isEmpty)
                // The reused handle must not keep HEAD's or PUT's settings.
                let postAfterHead = try await client.execute(
                    HTTPRequest(method: .post, url: url, body: Array("after".utf8)), logger: logger)
                #expect(postAfterHead.header("X-Method") == "POST")
                #expect(postAfterHead.body == Array("after".utf8))
                let getAfterPost = try await client.execute(HTTPRequest(url: url), logger: logger)
                #expect(getAfterPost.header("X-Method") == "GET")
                #expect(getAfterPost.header("X-Body-Length") == "0")
            }
        }
    }

    @Test func errorStatusesAreResponsesNotErrors() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                for status in [400, 401, 404, 429, 500, 503] {
                    let response = try await client.execute(
                        HTTPRequest(url: "http://127.0.0.1:\(port)/status/\(status)"), logger: logger)
                    #expect(response.status == status)
                }
            }
        }
    }

    @Test func responsesLargerThanTheLimitFail() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient({ $0.maxResponseBytes = 1_000 }) { client in
                let fits = try await client.execute(
                    HTTPRequest(url: "http://127.0.0.1:\(port)/bytes?n=1000"), logger: logger)
                #expect(fits.body.count == 1_000)
                let error = await capture {
                    try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/bytes?n=5000"), logger: logger)
                }
                #expect((error as? HTTPClientError)?.code == .responseTooLarge)
            }
        }
    }

    // MARK: Invalid input

    @Test(arguments: [
        "http://exa mple.com/", "not a url", "ftp://127.0.0.1/file", "file:///etc/passwd", "http://", "",
        "127.0.0.1:8080/no-scheme",
    ])
    func malformedURLFailsWithInvalidURL(url: String) async throws {
        try await withClient { client in
            let error = await capture { try await client.execute(HTTPRequest(url: url), logger: logger) }
            let failure = try #require(error as? HTTPClientError)
            #expect(failure.code == .invalidURL)
            #expect(!failure.requestMayHaveBeenSent)
        }
    }

    @Test func headerInjectionIsRejectedBeforeSending() async throws {
        try await withClient { client in
            let request = HTTPRequest(url: "http://127.0.0.1:9/", headers: ["X-Evil": "a\r\nInjected: yes"])
            let error = await capture { try await client.execute(request, logger: logger) }
            #expect((error as? HTTPClientError)?.code == .invalidRequest)
            let badName = HTTPRequest(url: "http://127.0.0.1:9/", headers: ["Bad Name": "x"])
            let nameError = await capture { try await client.execute(badName, logger: logger) }
            #expect((nameError as? HTTPClientError)?.code == .invalidRequest)
        }
    }

    @Test func errorTextsNeverContainHeadersQueryOrBody() async throws {
        let port = try LocalServers.freePort()
        try await withClient { client in
            let request = HTTPRequest(
                method: .post, url: "http://user:pa55word@127.0.0.1:\(port)/x?token=SECRET-QUERY",
                headers: ["Authorization": "Bearer SECRET-TOKEN"], body: Array("SECRET-BODY".utf8))
            let error = try #require(await capture { try await client.execute(request, logger: logger) })
            for text in [String(describing: error), String(reflecting: error), request.description] {
                for secret in ["SECRET-QUERY", "SECRET-TOKEN", "SECRET-BODY", "pa55word"] {
                    #expect(!text.contains(secret), "\(text)")
                }
            }
            #expect(request.description == "POST http://127.0.0.1:\(port)/x")
            #expect((error as? HTTPClientError)?.host == "127.0.0.1")
        }
    }

    @Test func logsNameTheExchangeButNeverHeadersQueryOrBody() async throws {
        let logs = LogCapture()
        let traced = logs.logger(level: .trace)
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                let request = HTTPRequest(
                    method: .post, url: "http://127.0.0.1:\(port)/echo?token=SECRET-QUERY",
                    headers: ["Authorization": "Bearer SECRET-TOKEN"], body: Array("SECRET-BODY".utf8))
                let response = try await client.execute(request, logger: traced)
                #expect(response.status == 200)
                var failing = request
                failing.url = "http://127.0.0.1:\(try LocalServers.freePort())/x?token=SECRET-QUERY"
                _ = await capture { try await client.execute(failing, logger: traced) }
            }
        }
        let lines = logs.lines
        #expect(lines.contains { $0.hasPrefix("trace HTTP response received") && $0.contains("http.status_code=200") })
        #expect(lines.contains { $0.hasPrefix("debug HTTP request failed") && $0.contains("error.type=connectFailed") })
        for secret in ["SECRET-QUERY", "SECRET-TOKEN", "SECRET-BODY"] {
            #expect(!lines.contains { $0.contains(secret) }, "\(lines)")
        }
    }

    // MARK: Cancellation and shutdown

    @Test func cancellingTheTaskAbandonsTheRequest() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                let task = Task {
                    try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/hang"), logger: logger)
                }
                try await Task.sleep(for: .milliseconds(200))
                let (result, elapsed) = await timed {
                    task.cancel()
                    return await task.result
                }
                #expect(throws: CancellationError.self) { try result.get() }
                #expect(elapsed < .seconds(2), "took \(elapsed)")
                // The client keeps working.
                let response = try await client.execute(
                    HTTPRequest(url: "http://127.0.0.1:\(port)/status/204"), logger: logger)
                #expect(response.status == 204)
            }
        }
    }

    @Test func alreadyCancelledTaskDoesNotSend() async throws {
        try await LocalServers.withPythonServer { port in
            try await withClient { client in
                let task = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    return try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/echo"), logger: logger)
                }
                await #expect(throws: CancellationError.self) { try await task.value }
                #expect(client.connectionsOpened == 0)
            }
        }
    }

    @Test func shutdownFailsInFlightRequestsAndLaterOnes() async throws {
        try await LocalServers.withPythonServer { port in
            let client = try HTTPClient(logger: logger)
            defer { client.shutdown() }
            let (failures, elapsed) = try await timed {
                try await withThrowingTaskGroup(of: HTTPClientError?.self) { group in
                    for _ in 0..<5 {
                        group.addTask {
                            do {
                                _ = try await client.execute(
                                    HTTPRequest(url: "http://127.0.0.1:\(port)/hang"), logger: logger)
                                return nil
                            } catch {
                                return error as? HTTPClientError
                            }
                        }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    client.shutdown()
                    return try await group.reduce(into: [HTTPClientError?]()) { $0.append($1) }
                }
            }
            #expect(failures.map { $0?.code } == Array(repeating: .shutDown, count: 5))
            // They were on the wire: a caller must not assume the server never saw them.
            #expect(failures.allSatisfy { $0?.requestMayHaveBeenSent == true })
            #expect(elapsed < .seconds(3), "took \(elapsed)")
            let error = await capture {
                try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/echo"), logger: logger)
            }
            #expect((error as? HTTPClientError)?.code == .shutDown)
            client.shutdown()  // idempotent
        }
    }

    // MARK: Running on the client's executor

    @Test func tasksCanRunOnTheClientsExecutorAndOutliveShutdown() async throws {
        try await LocalServers.withPythonServer { port in
            let client = try HTTPClient(logger: logger)
            let statuses = try await withTaskExecutorPreference(client.taskExecutor) {
                var statuses: [Int] = []
                for _ in 0..<20 {
                    statuses.append(
                        try await client.execute(
                            HTTPRequest(url: "http://127.0.0.1:\(port)/status/201"), logger: logger
                        )
                        .status)
                }
                client.shutdown()  // from the client's own thread: must not deadlock
                let error = await capture {
                    try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/echo"), logger: logger)
                }
                #expect((error as? HTTPClientError)?.code == .shutDown)
                return statuses
            }
            #expect(statuses == Array(repeating: 201, count: 20))
            #expect(client.connectionsOpened == 1)
        }
    }
}
