/// The field tables of contract v1: every object's keys, their types, whether they are required, and the
/// per-field text rules (internal).
///
/// The mapper reads with these tables (so unknown keys and text lengths come from one place), the typed
/// validator checks with them, and a test compares them with `docs/event-contract/invoice-event.v1.schema.json`
/// (property names, `required`, `maxLength`, patterns, enums). Change both together.
enum ContractShape {
    /// How free text and identifiers may look.
    enum Charset: String, Sendable, CaseIterable {
        /// Printable ASCII without spaces: `!` … `~` (ids, keys, codes).
        case visibleASCII
        /// `[A-Za-z0-9][A-Za-z0-9._-]*` (tenant, location, source system).
        case slug
        /// Any text without control characters (names, numbers, single-line text).
        case singleLine
        /// Any text without control characters other than tab, line feed and carriage return.
        case multiline
        /// `local@domain.tld` without spaces or control characters.
        case email
        /// Two upper-case letters (ISO 3166-1 alpha-2).
        case countryCode
    }

    struct TextRule: Sendable, Equatable {
        var maxLength: Int
        var charset: Charset
    }

    /// The decimal fields' digit limits. Integer digits never count leading zeros (the grammar has none).
    enum DecimalKind: String, Sendable, CaseIterable {
        case amount, unitPrice, quantity, percentage

        var maxIntegerDigits: Int {
            switch self {
            case .amount, .unitPrice: 15
            case .quantity: 9
            case .percentage: 3
            }
        }

        var maxFractionDigits: Int {
            switch self {
            case .amount: 3  // the most minor units of any known currency; the invoice currency narrows it
            case .unitPrice, .percentage: 6
            case .quantity: 4
            }
        }
    }

    enum ArrayKind: Sendable {
        case lines, taxLines, payments
    }

    enum FieldType: Sendable, Equatable {
        case text(TextRule)
        case decimal(DecimalKind)
        case currency
        case date
        case timestamp
        case bool
        case integer(ClosedRange<Int64>)
        case enumeration([String])
        case object(String)
        case array(element: String, kind: ArrayKind)
        case schemaVersion
        case eventType
        case vin
    }

    struct Field: Sendable {
        var key: String
        var type: FieldType
        var required: Bool
    }

    struct Object: Sendable {
        /// The object's name under `$defs` in the JSON Schema.
        var name: String
        var fields: [Field]

        var keys: [String] { fields.map(\.key) }

        subscript(key: String) -> Field {
            guard let field = fields.first(where: { $0.key == key }) else {
                preconditionFailure("\(name) has no field \(key)")
            }
            return field
        }

        func has(_ key: String) -> Bool { fields.contains { $0.key == key } }

        /// The text rule of a text field.
        func rule(_ key: String) -> TextRule {
            guard case .text(let rule) = self[key].type else { preconditionFailure("\(name).\(key) is not text") }
            return rule
        }
    }

    private static func text(_ key: String, _ max: Int, _ charset: Charset, required: Bool = false) -> Field {
        Field(key: key, type: .text(TextRule(maxLength: max, charset: charset)), required: required)
    }

    private static func money(_ key: String, required: Bool = true) -> Field {
        Field(key: key, type: .decimal(.amount), required: required)
    }

    /// 2^53 − 1: the largest integer every JSON producer (including JavaScript) writes exactly.
    static let maxSafeInteger: Int64 = 9_007_199_254_740_991

    static let event = Object(
        name: "InvoiceEvent",
        fields: [
            Field(key: "schema_version", type: .schemaVersion, required: true),
            text("event_id", 128, .visibleASCII, required: true),
            Field(key: "event_type", type: .eventType, required: true),
            text("tenant_id", 64, .slug, required: true),
            text("location_id", 64, .slug, required: true),
            text("source_system", 64, .slug, required: true),
            Field(key: "occurred_at", type: .timestamp, required: true),
            text("idempotency_key", 255, .visibleASCII, required: true),
            Field(key: "invoice_version", type: .integer(1...maxSafeInteger), required: true),
            Field(key: "invoice", type: .object("Invoice"), required: false),
            Field(key: "invoice_ref", type: .object("InvoiceReference"), required: false),
            Field(key: "payment", type: .object("Payment"), required: false),
            Field(key: "void", type: .object("VoidDetails"), required: false),
        ])

    /// Which payload keys each event type requires; the other payload keys are not allowed.
    static let payloadKeys: [InvoiceEvent.EventType: [String]] = [
        .invoiceCreated: ["invoice"],
        .invoiceUpdated: ["invoice"],
        .paymentReceived: ["invoice_ref", "payment"],
        .invoiceVoided: ["invoice_ref", "void"],
    ]

    static let allPayloadKeys = ["invoice", "invoice_ref", "payment", "void"]

    static let invoiceReference = Object(
        name: "InvoiceReference",
        fields: [
            text("invoice_id", 128, .visibleASCII, required: true),
            text("invoice_number", 64, .singleLine, required: true),
            Field(key: "currency", type: .currency, required: true),
        ])

    static let voidDetails = Object(name: "VoidDetails", fields: [text("reason", 500, .multiline, required: true)])

    static let invoice = Object(
        name: "Invoice",
        fields: [
            text("invoice_id", 128, .visibleASCII, required: true),
            text("invoice_number", 64, .singleLine, required: true),
            text("job_number", 64, .singleLine),
            text("work_order_number", 64, .singleLine),
            text("repair_order_number", 64, .singleLine),
            text("purchase_order_number", 64, .singleLine),
            Field(key: "status", type: .enumeration(InvoiceStatus.allCases.map(\.rawValue)), required: true),
            Field(key: "issue_date", type: .date, required: true),
            Field(key: "due_date", type: .date, required: false),
            text("payment_terms", 100, .singleLine),
            Field(key: "currency", type: .currency, required: true),
            Field(key: "customer", type: .object("Customer"), required: true),
            Field(key: "vehicle", type: .object("Vehicle"), required: false),
            Field(key: "lines", type: .array(element: "InvoiceLine", kind: .lines), required: true),
            Field(key: "tax_lines", type: .array(element: "TaxLine", kind: .taxLines), required: false),
            Field(key: "totals", type: .object("InvoiceTotals"), required: true),
            Field(key: "payments", type: .array(element: "Payment", kind: .payments), required: false),
            text("notes", 4000, .multiline),
        ])

    static let customer = Object(
        name: "Customer",
        fields: [
            text("customer_id", 128, .visibleASCII, required: true),
            text("name", 200, .singleLine, required: true),
            text("company_name", 200, .singleLine),
            text("email", 254, .email),
            text("phone", 32, .singleLine),
            Field(key: "billing_address", type: .object("Address"), required: false),
            Field(key: "tax_exempt", type: .bool, required: false),
            text("tax_exempt_reason", 200, .singleLine),
        ])

    static let address = Object(
        name: "Address",
        fields: [
            text("line1", 200, .singleLine, required: true),
            text("line2", 200, .singleLine),
            text("city", 100, .singleLine, required: true),
            text("region", 100, .singleLine),
            text("postal_code", 20, .singleLine),
            text("country", 2, .countryCode, required: true),
        ])

    static let vehicle = Object(
        name: "Vehicle",
        fields: [
            Field(key: "vin", type: .vin, required: false),
            Field(key: "year", type: .integer(1886...2100), required: false),
            text("make", 50, .singleLine),
            text("model", 50, .singleLine),
            text("license_plate", 16, .singleLine),
            Field(key: "odometer", type: .object("Odometer"), required: false),
        ])

    static let odometer = Object(
        name: "Odometer",
        fields: [
            Field(key: "reading", type: .integer(0...9_999_999), required: true),
            Field(key: "unit", type: .enumeration(Odometer.Unit.allCases.map(\.rawValue)), required: true),
        ])

    static let line = Object(
        name: "InvoiceLine",
        fields: [
            text("line_id", 64, .visibleASCII),
            Field(key: "kind", type: .enumeration(InvoiceLine.Kind.allCases.map(\.rawValue)), required: true),
            text("description", 1000, .multiline, required: true),
            Field(key: "quantity", type: .decimal(.quantity), required: true),
            Field(key: "unit_price", type: .decimal(.unitPrice), required: true),
            money("amount"),
            Field(key: "taxable", type: .bool, required: true),
            text("tax_code", 32, .visibleASCII),
            // kind-specific (see lineKindFields)
            text("part_number", 64, .singleLine),
            text("manufacturer", 100, .singleLine),
            text("technician_id", 64, .visibleASCII),
            text("technician_name", 100, .singleLine),
            text("labor_code", 32, .singleLine),
            text("fee_code", 32, .singleLine),
            text("vendor_name", 200, .singleLine),
            text("vendor_invoice_number", 64, .singleLine),
        ])

    /// Kind-specific line fields: which each kind requires and which it allows. A kind-specific field that
    /// its kind does not list is `schema.field_not_allowed`.
    static let lineKindFields: [InvoiceLine.Kind: (required: [String], optional: [String])] = [
        .part: (["part_number"], ["manufacturer"]),
        .labor: ([], ["technician_id", "technician_name", "labor_code"]),
        .fee: ([], ["fee_code"]),
        .sublet: (["vendor_name"], ["vendor_invoice_number"]),
        .discount: ([], []),
        .coreCharge: ([], ["part_number"]),
    ]

    static let kindSpecificKeys = [
        "part_number", "manufacturer", "technician_id", "technician_name", "labor_code", "fee_code", "vendor_name",
        "vendor_invoice_number",
    ]

    static let taxLine = Object(
        name: "TaxLine",
        fields: [
            text("jurisdiction", 100, .singleLine, required: true),
            text("tax_code", 32, .visibleASCII),
            Field(key: "rate_percent", type: .decimal(.percentage), required: true),
            money("taxable_amount"),
            money("amount"),
        ])

    static let totals = Object(
        name: "InvoiceTotals",
        fields: [
            money("subtotal"), money("discount_total", required: false), money("tax_total"), money("total"),
            money("amount_paid"), money("balance_due"),
        ])

    static let payment = Object(
        name: "Payment",
        fields: [
            text("payment_id", 128, .visibleASCII, required: true),
            money("amount"),
            Field(key: "method", type: .enumeration(Payment.Method.allCases.map(\.rawValue)), required: true),
            Field(key: "payment_date", type: .date, required: true),
            text("reference", 100, .singleLine),
        ])

    /// Every object of the contract, keyed by its `$defs` name.
    static let all: [String: Object] = Dictionary(
        uniqueKeysWithValues: [
            event, invoiceReference, voidDetails, invoice, customer, address, vehicle, odometer, line, taxLine, totals,
            payment,
        ].map { ($0.name, $0) })
}
