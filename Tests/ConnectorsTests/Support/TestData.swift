import Connectors
import Domain
import Foundation
import HTTP

/// Connections, mappings and canonical documents shared by the tests.
enum TestData {
    /// The bearer token every stub connection uses; tests check it never shows up in errors or logs.
    static let token = "test-access-token-SECRET-4f1c9a"
    static let tenant: TenantID = "sparks-franchise"
    static let connection = UUID(uuidString: "6F1C2E5A-9B7D-4C3E-8A21-0D4B5E6F7A81")!
    static let sacramento: LocationID = "sacramento-01"
    static let brisbane: LocationID = "brisbane-02"

    // MARK: Mappings

    /// A US QuickBooks company: items per line kind, transaction sales tax, a class and a department per
    /// location, custom fields for RO and VIN.
    static let quickbooksUS = MappingConfiguration(
        lines: LineMappings(
            part: LineMapping(item: ERPReference("11", name: "Parts")),
            labor: LineMapping(item: ERPReference("12", name: "Labor")),
            fee: LineMapping(item: ERPReference("13", name: "Shop Fees")),
            sublet: LineMapping(item: ERPReference("14", name: "Sublet")),
            coreCharge: LineMapping(item: ERPReference("15", name: "Core Charges")),
            discount: LineMapping(account: ERPReference("86", name: "Discounts given"))),
        tax: TaxMapping(model: .transaction, transactionTaxCode: ERPReference("7", name: "CA Sacramento 8.75%")),
        locations: [
            "sacramento-01": LocationMapping(
                classRef: ERPReference("5000000000000021001", name: "Sacramento"),
                department: ERPReference("2", name: "Sacramento shop"))
        ],
        payments: PaymentMapping(
            depositAccount: ERPReference("35", name: "Checking"),
            methods: ["check": ERPReference("2", name: "Check"), "card": ERPReference("3", name: "Credit Card")]),
        customers: CustomerMatchingPolicy(mode: .referenceThenName, maxNameSuffix: 5),
        documentFields: DocumentFieldMapping(
            repairOrderNumber: CustomFieldReference(definitionID: "1", name: "RO Number"),
            vin: CustomFieldReference(definitionID: "2", name: "VIN")))

    /// An Australian QuickBooks company: per-line GST codes.
    static let quickbooksAU = MappingConfiguration(
        lines: LineMappings(
            part: LineMapping(item: ERPReference("21")), labor: LineMapping(item: ERPReference("22")),
            fee: LineMapping(item: ERPReference("23")), sublet: LineMapping(item: ERPReference("24")),
            coreCharge: LineMapping(item: ERPReference("25")), discount: LineMapping()),
        tax: TaxMapping(
            model: .line, codes: ["GST": ERPReference("10", name: "GST")], taxable: ERPReference("10", name: "GST"),
            nonTaxable: ERPReference("9", name: "GST free")),
        locations: ["brisbane-02": LocationMapping(classRef: ERPReference("300"), classPerLine: true)],
        payments: PaymentMapping(depositAccount: ERPReference("41")))

    /// A Xero organisation: accounts (and two items) per line kind, tax types by shop tax code, tracking per
    /// location.
    static let xero = MappingConfiguration(
        lines: LineMappings(
            part: LineMapping(item: ERPReference("PARTS"), account: ERPReference("200")),
            labor: LineMapping(item: ERPReference("LABOR"), account: ERPReference("201")),
            fee: LineMapping(account: ERPReference("202")), sublet: LineMapping(account: ERPReference("203")),
            coreCharge: LineMapping(account: ERPReference("204")), discount: LineMapping(account: ERPReference("205"))),
        tax: TaxMapping(
            model: .line,
            codes: ["PARTS": ERPReference("OUTPUT"), "LABOR": ERPReference("NONE"), "GST": ERPReference("OUTPUT")],
            taxable: ERPReference("OUTPUT"), nonTaxable: ERPReference("NONE")),
        locations: [
            "sacramento-01": LocationMapping(tracking: [TrackingAssignment(category: "Location", option: "Sacramento")]
            ),
            "brisbane-02": LocationMapping(tracking: [TrackingAssignment(category: "Location", option: "Brisbane")]),
        ],
        payments: PaymentMapping(depositAccount: ERPReference("090")),
        customers: CustomerMatchingPolicy(mode: .referenceOnly, maxNameSuffix: 4))

    // MARK: Connections

    static func context(
        _ erp: ERP, mapping: MappingConfiguration, baseURL: String? = nil, companyID: String? = nil
    ) -> ConnectionContext {
        let defaultBase = erp == .xero ? "http://127.0.0.1:8085/xero/api.xro/2.0" : "http://127.0.0.1:8084/qbo"
        let defaultCompany = erp == .xero ? "7a3f0c2e-1b4d-4e8f-9a6b-5c2d1e0f3a4b" : "9130357012345678"
        return ConnectionContext(
            tenantID: tenant, connectionID: connection,
            configuration: ConnectorConfiguration(
                baseURL: baseURL ?? defaultBase, companyID: companyID ?? defaultCompany),
            mapping: mapping, credentials: StaticAccessTokenProvider(AccessToken(token)))
    }

    static func quickbooks(_ transport: StubTransport, mapping: MappingConfiguration = quickbooksUS)
        -> QuickBooksOnlineConnector
    {
        QuickBooksOnlineConnector(context: context(.quickbooksOnline, mapping: mapping), transport: transport)
    }

    static func xero(_ transport: StubTransport, mapping: MappingConfiguration = xero) -> XeroConnector {
        XeroConnector(context: context(.xero, mapping: mapping), transport: transport)
    }

    static func scope(_ kind: DocumentKey.Kind, _ id: String, version: Int64 = 1) -> IdempotencyScope {
        IdempotencyScope(tenantID: tenant, connectionID: connection, document: DocumentKey(kind, id), version: version)
    }

    // MARK: Canonical documents built in Swift

    /// An Australian counter invoice with 10 % GST on every taxable line, a core credit (negative quantity)
    /// and a discount, no vehicle data beyond the VIN, and a customer whose name needs escaping.
    static func australianInvoice() -> Invoice {
        let customer = Customer(
            customerID: "C-88", name: "O'Brien \"Sparky\" Electrical: Fleet", email: "fleet@obrien.example",
            billingAddress: Address(
                line1: "12 Stanley St", city: "Brisbane", region: "QLD", postalCode: "4101", country: "AU"))
        let lines = [
            InvoiceLine(
                lineID: "1", description: "Starter motor, new", quantity: "1", unitPrice: "412.50", amount: "412.50",
                taxable: true, taxCode: "GST", detail: .part(partNumber: "SM-2231", manufacturer: "Bosch")),
            InvoiceLine(
                lineID: "2", description: "Starter core credit", quantity: "-1", unitPrice: "60.00", amount: "-60.00",
                taxable: true, taxCode: "GST", detail: .coreCharge(partNumber: "SM-2231-CORE")),
            InvoiceLine(
                lineID: "3", description: "Remove and refit starter", quantity: "1.25", unitPrice: "148.00",
                amount: "185.00", taxable: true, taxCode: "GST",
                detail: .labor(technicianID: "T2", technicianName: nil, laborCode: nil)),
            InvoiceLine(
                lineID: "4", description: "Workshop consumables", quantity: "1", unitPrice: "9.95", amount: "9.95",
                taxable: true, taxCode: "GST", detail: .fee(feeCode: "CONS")),
            InvoiceLine(
                lineID: "5", description: "Trade discount", quantity: "1", unitPrice: "-20.00", amount: "-20.00",
                taxable: true, taxCode: "GST", detail: .discount),
        ]
        let taxLines = [
            TaxLine(jurisdiction: "GST", taxCode: "GST", ratePercent: "10", taxableAmount: "527.45", amount: "52.75")
        ]
        return Invoice(
            invoiceID: "au-000451", invoiceNumber: "BNE-451", workOrderNumber: "WO-77", status: .open,
            issueDate: LocalDate(string: "2025-06-02")!, currency: .aud, customer: customer,
            vehicle: Vehicle(vin: "JTDKB20U093471234"), lines: lines, taxLines: taxLines,
            totals: InvoiceArithmetic.totals(lines: lines, taxLines: taxLines, payments: [], currency: .aud))
    }

    /// The example invoice's payment as a ``PaymentDocument`` against ERP invoice `invoiceID`.
    static func paymentDocument(invoiceID: String, customerID: String) throws -> PaymentDocument {
        let event = try Fixtures.event("payment-received-partial.json")
        guard case .paymentReceived(let reference, let payment) = event.payload else {
            throw FixtureError("not a payment event")
        }
        return PaymentDocument(
            payment: payment, currency: reference.currency, location: event.locationID,
            invoice: ERPReference(invoiceID), customer: ERPReference(customerID), invoiceNumber: reference.invoiceNumber
        )
    }
}
