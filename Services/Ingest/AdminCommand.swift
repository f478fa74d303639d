import Foundation
import Logging
import Postgres
import Runtime

/// `ingest admin …`: register tenants, locations, signing secrets and ERP connections (for the demo, the
/// tests and operators until `syncctl` has the same commands). Output is `key=value` lines; the signing
/// secret is printed once and stored only encrypted.
enum AdminCommand {
    static let serviceUsage = """
        ingest: runs the ingest service (settings in docs/ingest.md).
        ingest admin <command> …: operator commands; `ingest admin help` lists them.
        """

    static let usage = """
        usage: ingest admin <command> [options]

          tenant-add      --tenant ID [--name TEXT] [--location ID [--location-name TEXT] [--time-zone ZONE]]
                          [--secret TEXT | --no-secret]
                          Registers the tenant (and a location), and issues a signing secret unless --no-secret.
          location-add    --tenant ID --location ID [--name TEXT] [--time-zone ZONE]
          secret-issue    --tenant ID [--secret TEXT] [--expires-in-days N]
                          Issues another signing secret (rotation: both are valid until one is revoked).
          secret-revoke   --tenant ID --secret-id UUID
          connection-add  --tenant ID --location ID --erp SLUG [--status active|paused|needs_reauth|disconnected]
                          [--no-push-invoices] [--no-push-payments] [--no-push-customers]

        Settings: LEDGERLINE_POSTGRES_URL, LEDGERLINE_POSTGRES_PASSWORD, and LEDGERLINE_SECRETS_KEY for secrets.
        """

    /// Runs a command and returns the exit status (0 ok, 1 failed, 2 usage or configuration error).
    static func run(_ arguments: [String]) async -> Int32 {
        guard let command = arguments.first, command != "help", command != "--help" else {
            print(usage)
            return arguments.isEmpty ? 2 : 0
        }
        let options: Options
        do { options = try Options(Array(arguments.dropFirst())) } catch {
            printError("\(error)\n\n\(usage)")
            return 2
        }
        let settings = Settings()
        let logger = Logger(label: "ledgerline.ingest-admin") { label in
            StructuredLogHandler(label: label, level: .warning, format: .text)
        }
        do {
            let postgres = try settings.postgres(applicationName: "ingest-admin")
            let pool = PostgresPool(configuration: postgres, maxConnections: 2, acquireTimeout: .seconds(30), logger: logger)
            defer { pool.close() }
            let admin = TenantAdmin(pool: pool, logger: logger)
            switch command {
            case "tenant-add":
                let tenant = try options.required("tenant")
                // Read the key first, so a missing key changes nothing.
                let keyring = options.flag("no-secret") ? nil : try IngestConfiguration.keyring(settings)
                try await admin.addTenant(tenant, displayName: options["name"])
                print("tenant=\(tenant)")
                if let location = options["location"] {
                    try await admin.addLocation(
                        location, tenant: tenant, displayName: options["location-name"],
                        timeZone: options["time-zone"] ?? "UTC")
                    print("location=\(location)")
                }
                if let keyring {
                    let issued = try await admin.issueSigningSecret(
                        tenant: tenant, secret: options["secret"], keyring: keyring)
                    print("secret_id=\(issued.secretID.uuidString.lowercased())")
                    print("secret=\(issued.secret)")
                }
            case "location-add":
                let tenant = try options.required("tenant")
                let location = try options.required("location")
                try await admin.addLocation(
                    location, tenant: tenant, displayName: options["name"], timeZone: options["time-zone"] ?? "UTC")
                print("location=\(location)")
            case "secret-issue":
                let tenant = try options.required("tenant")
                let expires = try options["expires-in-days"].map { text -> Date in
                    guard let days = Int(text), days > 0 else { throw UsageError("--expires-in-days must be a positive number") }
                    return Date().addingTimeInterval(Double(days) * 86_400)
                }
                let issued = try await admin.issueSigningSecret(
                    tenant: tenant, secret: options["secret"], keyring: try IngestConfiguration.keyring(settings),
                    expiresAt: expires)
                print("secret_id=\(issued.secretID.uuidString.lowercased())")
                print("secret=\(issued.secret)")
            case "secret-revoke":
                let tenant = try options.required("tenant")
                guard let id = UUID(uuidString: try options.required("secret-id")) else {
                    throw UsageError("--secret-id must be a UUID")
                }
                guard try await admin.revokeSigningSecret(tenant: tenant, secretID: id) else {
                    printError("no active signing secret \(id) for tenant \(tenant)")
                    return 1
                }
                print("revoked=\(id.uuidString.lowercased())")
            case "connection-add":
                let id = try await admin.addConnection(
                    tenant: try options.required("tenant"), location: try options.required("location"),
                    erp: try options.required("erp"), status: options["status"] ?? "active",
                    pushInvoices: !options.flag("no-push-invoices"), pushPayments: !options.flag("no-push-payments"),
                    pushCustomers: !options.flag("no-push-customers"))
                print("connection_id=\(id.uuidString.lowercased())")
            default:
                printError("unknown command \(command)\n\n\(usage)")
                return 2
            }
            return 0
        } catch let error as UsageError {
            printError("\(error)\n\n\(usage)")
            return 2
        } catch let error as ConfigurationError {
            printError("\(error)")
            return 2
        } catch {
            printError("ingest admin \(command) failed: \(error)")
            return 1
        }
    }

    private static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    struct UsageError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// `--name value` options and `--flag` switches.
    struct Options {
        private var values: [String: String] = [:]
        private var flags: Set<String> = []
        private static let switches: Set<String> = [
            "no-secret", "no-push-invoices", "no-push-payments", "no-push-customers",
        ]

        init(_ arguments: [String]) throws {
            var index = 0
            while index < arguments.count {
                let argument = arguments[index]
                guard argument.hasPrefix("--") else { throw UsageError("unexpected argument \(argument)") }
                let name = String(argument.dropFirst(2))
                if Self.switches.contains(name) {
                    flags.insert(name)
                    index += 1
                    continue
                }
                guard index + 1 < arguments.count else { throw UsageError("--\(name) needs a value") }
                values[name] = arguments[index + 1]
                index += 2
            }
        }

        subscript(_ name: String) -> String? { values[name] }
        func flag(_ name: String) -> Bool { flags.contains(name) }
        func required(_ name: String) throws -> String {
            guard let value = values[name], !value.isEmpty else { throw UsageError("--\(name) is required") }
            return value
        }
    }
}
