import Connectors
import Domain
import Foundation
import HTTP
import Logging
import Postgres
import TestSupport
import Testing
import WorkerRuntime

extension TwoWaySyncTests {
    /// The items and tax rates of the fixture's tenant in `erp_records`: erp id → (code, name, amount).
    func referenceRecords(_ fixture: TwoWayFixture, _ kind: String) async throws
        -> [String: (code: String?, name: String?, amount: Decimal?, ourID: String?)]
    {
        var result: [String: (code: String?, name: String?, amount: Decimal?, ourID: String?)] = [:]
        for row in try await fixture.query(
            """
            SELECT erp_id, number, display_name, amount::text AS amount, our_id FROM erp_records
            WHERE tenant_id = \(fixture.tenant) AND object_kind = \(kind)
            """)
        {
            result[try row.decode(String.self, "erp_id")] = (
                try row.decode(String?.self, "number"), try row.decode(String?.self, "display_name"),
                try row.decode(String?.self, "amount").flatMap { Decimal(string: $0) },
                try row.decode(String?.self, "our_id")
            )
        }
        return result
    }

    @Test("items and tax rates are pulled from QuickBooks into erp_records as reference data, once")
    func quickBooksItemsAndTaxRatesArePulled() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .quickbooksOnline)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            var preferences = ConnectionPreferences()
            preferences.pullItems = true
            preferences.pullTaxRates = true
            try await ConnectionLifecycle(store: store).setPreferences(
                preferences, tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            let pull = PullProcessor(processor: sim.processor(QuickBooksOnlineConnector.self, store: store))
            let outcomes = try await drain(pull, fixture.job(.pull, trigger: .pull))
            #expect(outcomes.last == .synced(action: "Pull Completed"), "\(outcomes)")
            let items = try await referenceRecords(fixture, "item")
            #expect(items.count == 3, "\(items)")
            #expect(items["1"]?.code == "LABOR" && items["1"]?.name == "Labor" && items["1"]?.amount == 120)
            #expect(items.values.allSatisfy { $0.ourID == nil }, "reference data has no shop record")
            let rates = try await referenceRecords(fixture, "tax_rate")
            #expect(rates.count == 2, "\(rates)")
            #expect(rates["1"]?.name == "California State" && rates["1"]?.amount == Decimal(string: "7.25"))
            var actions = try await fixture.actions()
            #expect(actions["Item Imported"] == 3 && actions["Tax Rate Imported"] == 2, "\(actions)")

            // Read again (overlapping windows): unchanged, no new events.
            _ = try await drain(pull, fixture.job(.pull, trigger: .pull))
            actions = try await fixture.actions()
            #expect(actions["Item Imported"] == 3 && actions["Tax Rate Imported"] == 2, "\(actions)")

            // With the preference off, none is read.
            preferences.pullItems = false
            preferences.pullTaxRates = false
            preferences.pullCustomers = false
            preferences.pullInvoices = false
            preferences.pullPayments = false
            try await ConnectionLifecycle(store: store).setPreferences(
                preferences, tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            let none = try await pull.process(fixture.job(.pull, trigger: .pull), logger: logger)
            guard case .dropped = none else { Issue.record("expected dropped, got \(none)"); return }
        }
    }

    @Test("items and tax rates are pulled from Xero (GET /Items, GET /TaxRates) by an initial sync")
    func xeroItemsAndTaxRatesArePulled() async throws {
        let pool = try await TwoWayStack.pool()
        defer { pool.close() }
        try await TwoWaySim.with { sim in
            let fixture = try await TwoWayFixture.make(pool, erp: .xero)
            let store = fixture.store()
            try await sim.connect(fixture, store: store)
            try await sim.control(
                .post, "/_sim/seed", #"{"company":"xero:\#(TwoWaySim.xeroTenant)","customers":5,"invoices":10}"#)
            var preferences = ConnectionPreferences()
            preferences.pullItems = true
            preferences.pullTaxRates = true
            try await ConnectionLifecycle(store: store).setPreferences(
                preferences, tenantID: fixture.tenantID, connectionID: fixture.connection, logger: logger)
            let pull = PullProcessor(processor: sim.processor(XeroConnector.self, store: store))
            let outcomes = try await drain(pull, fixture.job(.initialSync, trigger: .initial))
            #expect(outcomes.last == .synced(action: "Initial Sync Completed"), "\(outcomes)")
            let items = try await referenceRecords(fixture, "item")
            #expect(items.count == 3, "\(items)")
            #expect(items.values.contains { $0.code == "LABOR" && $0.amount == 120 })
            let rates = try await referenceRecords(fixture, "tax_rate")
            #expect(rates.count == 3, "\(rates)")
            #expect(rates["OUTPUT"]?.amount == Decimal(string: "8.25") && rates["OUTPUT"]?.name == "Tax on Sales")
            #expect(try await fixture.count(
                "SELECT count(*) FROM erp_records WHERE tenant_id = \(fixture.tenant) AND object_kind = 'customer'") == 5)
            let actions = try await fixture.actions()
            #expect(actions["Item Imported"] == 3 && actions["Tax Rate Imported"] == 3, "\(actions)")

            // A regular pull reads them again (tax rates in full: Xero keeps no date on them): no new events.
            _ = try await drain(pull, fixture.job(.pull, trigger: .pull))
            let again = try await fixture.actions()
            #expect(again["Item Imported"] == 3 && again["Tax Rate Imported"] == 3, "\(again)")
        }
    }
}
