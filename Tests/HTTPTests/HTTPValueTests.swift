import HTTP
import Logging
import Testing

/// The value types and the transport protocol, without any server.
struct HTTPValueTests {
    @Test func headersKeepOrderAndDuplicatesAndLookUpCaseInsensitively() {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "Set-Cookie": "a=1"]
        headers.add(name: "set-cookie", value: "b=2")
        #expect(headers.count == 3)
        #expect(headers["CONTENT-TYPE"] == "application/json")
        #expect(headers.values(for: "Set-Cookie") == ["a=1", "b=2"])
        #expect(headers.map(\.name) == ["Content-Type", "Set-Cookie", "set-cookie"])
        headers.replaceOrAdd(name: "SET-COOKIE", value: "c=3")
        #expect(headers.values(for: "set-cookie") == ["c=3"])
        headers.remove(name: "content-type")
        #expect(!headers.contains("Content-Type"))
        #expect(headers == HTTPHeaders([("set-cookie", "c=3")]))
    }

    @Test func headersDescriptionShowsNamesButNeverValues() {
        let headers: HTTPHeaders = ["Authorization": "Bearer SECRET", "Accept": "application/json"]
        #expect(headers.description == "HTTPHeaders(Authorization, Accept)")
    }

    @Test(arguments: [
        ("https://api.example.com/v1/invoices?access_token=SECRET", "GET https://api.example.com/v1/invoices"),
        ("https://user:SECRET@api.example.com/x#frag", "GET https://api.example.com/x"),
        ("http://127.0.0.1:8080", "GET http://127.0.0.1:8080"),
    ])
    func requestDescriptionHidesQueryAndCredentials(url: String, expected: String) {
        #expect(HTTPRequest(url: url).description == expected)
    }

    @Test func errorDescriptionIsSafeAndDebugDescriptionHasDetail() async throws {
        let client = try HTTPClient(logger: Logger(label: "t"))
        defer { client.shutdown() }
        do {
            _ = try await client.execute(HTTPRequest(url: "http://bad host/"), logger: Logger(label: "t"))
            Issue.record("expected invalidURL")
        } catch let error as HTTPClientError {
            #expect(error.code == .invalidURL)
            #expect(error.description.hasPrefix("HTTPClientError(invalidURL"))
            #expect(error.debugDescription.count > error.description.count)
        }
    }

    @Test func invalidConfigurationIsRejected() {
        var configuration = HTTPClientConfiguration()
        configuration.requestTimeout = .zero
        #expect(throws: HTTPClientError.self) {
            try HTTPClient(configuration: configuration, logger: Logger(label: "t"))
        }
        configuration = HTTPClientConfiguration()
        configuration.maxConnectionsPerHost = 0
        #expect(throws: HTTPClientError.self) {
            try HTTPClient(configuration: configuration, logger: Logger(label: "t"))
        }
        configuration = HTTPClientConfiguration()
        configuration.trustedCAFile = "/nonexistent/ca.pem"
        let error = #expect(throws: HTTPClientError.self) {
            try HTTPClient(configuration: configuration, logger: Logger(label: "t"))
        }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test func defaultsAreSafe() {
        let configuration = HTTPClientConfiguration()
        #expect(configuration.verifyTLS)
        #expect(configuration.followRedirects == .doNotFollow)
        #expect(configuration.trustedCAFile == nil)
        #expect(configuration.preferHTTP2)
    }

    /// Connectors depend on `any HTTPTransport`; a stub is a few lines.
    @Test func stubTransportsConform() async throws {
        struct Stub: HTTPTransport {
            func execute(_ request: HTTPRequest, logger: Logger) async throws -> HTTPResponse {
                HTTPResponse(status: 201, headers: ["Location": "/invoices/1"], body: Array(request.url.utf8))
            }
        }
        let transport: any HTTPTransport = Stub()
        let response = try await transport.execute(HTTPRequest(method: .post, url: "x"), logger: Logger(label: "t"))
        #expect(response.status == 201)
        #expect(response.header("location") == "/invoices/1")
    }
}
