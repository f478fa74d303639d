import Foundation
import Logging
import Runtime

/// `erp-sim`: local simulators of the QuickBooks Online and Xero APIs (see docs/erp-sim.md).
///
/// Settings: `LEDGERLINE_ERPSIM_HOST` (default 127.0.0.1), `LEDGERLINE_ERPSIM_PORT` (default 8790,
/// 0 picks a free port), `LEDGERLINE_ERPSIM_COMPANIES` (`quickbooks-online:<realm>,xero:<tenant>`),
/// `LEDGERLINE_ERPSIM_CLIENT_ID` / `LEDGERLINE_ERPSIM_CLIENT_SECRET`,
/// `LEDGERLINE_ERPSIM_ACCESS_TOKEN_SECONDS`, `LEDGERLINE_ERPSIM_RATE_LIMITS` (`on` / `off`),
/// `LEDGERLINE_ERPSIM_HANG_SECONDS`, `LEDGERLINE_ERPSIM_REQUIRE_MINORVERSION` (`on` / `off`).
@main
enum ErpSimMain {
    static func main() async {
        await ServiceMain.run(name: "erp-sim", defaultAdminPort: 9190) { environment in
            let settings = environment.settings
            let configuration = try SimConfiguration(settings: settings)
            let host = settings.string("LEDGERLINE_ERPSIM_HOST", default: "127.0.0.1")
            let port = try settings.int("LEDGERLINE_ERPSIM_PORT", default: 8790, range: 0...65535)
            let simulator = Simulator(configuration: configuration)
            let logger = environment.logger
            let companies = configuration.companies.map(\.description).joined(separator: ",")
            return [ManagedService(SimServer.make(simulator: simulator, host: host, port: port, logger: logger) { bound in
                logger.info("erp-sim ready", metadata: ["erpsim.address": "\(host):\(bound)", "erpsim.companies": "\(companies)"])
            })]
        }
    }
}

extension SimConfiguration {
    /// Reads the `LEDGERLINE_ERPSIM_*` settings.
    init(settings: Settings) throws {
        self.init()
        if let text = settings.raw("LEDGERLINE_ERPSIM_COMPANIES"), !text.isEmpty {
            do { companies = try SimConfiguration.parseCompanies(text) } catch let error as SimConfigurationError {
                throw ConfigurationError(key: "LEDGERLINE_ERPSIM_COMPANIES", problem: error.problem)
            }
        }
        clientID = settings.string("LEDGERLINE_ERPSIM_CLIENT_ID", default: clientID)
        clientSecret = settings.string("LEDGERLINE_ERPSIM_CLIENT_SECRET", default: clientSecret)
        if settings.raw("LEDGERLINE_ERPSIM_ACCESS_TOKEN_SECONDS") != nil {
            accessTokenLifetimeOverride = try settings.int("LEDGERLINE_ERPSIM_ACCESS_TOKEN_SECONDS", default: 3600, range: 1...86_400)
        }
        rateLimitsEnabled = try settings.choice("LEDGERLINE_ERPSIM_RATE_LIMITS", default: Switch.on) == .on
        hangDuration = .seconds(try settings.int("LEDGERLINE_ERPSIM_HANG_SECONDS", default: 60, range: 1...600))
        requireMinorVersion = try settings.choice("LEDGERLINE_ERPSIM_REQUIRE_MINORVERSION", default: Switch.on) == .on
    }
}

/// `on` / `off` settings.
enum Switch: String, CaseIterable {
    case on, off
}
