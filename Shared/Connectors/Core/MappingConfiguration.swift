public import Domain

/// A reference to an object that already exists in the ERP: an item, account, tax code, class, department…
///
/// ``id`` is whatever the ERP's API takes: QuickBooks Online ids (`"11"`), Xero codes (`"200"`, `"OUTPUT"`).
public struct ERPReference: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The ERP's id or code.
    public var id: String
    /// The display name, when known (QuickBooks sends it as `name`; purely informative).
    public var name: String?

    /// Creates a reference.
    public init(_ id: String, name: String? = nil) {
        self.id = id
        self.name = name
    }

    /// `11 (Parts)` or `11`.
    public var description: String { name.map { "\(id) (\($0))" } ?? id }
}

/// Per-connection mapping of canonical invoice data to the ERP's own items, accounts, tax codes and
/// dimensions, set with `syncctl` and stored with the connection (JSON, snake_case keys).
///
/// ``validate(_:location:)`` checks it against what a connector needs and names every missing entry by its
/// path (`lines.labor.item`, `payments.deposit_account`, `locations.sacramento-01.tracking`), so an operator
/// sees exactly what to add.
public struct MappingConfiguration: Sendable, Hashable, Codable {
    /// Item and account per line kind.
    public var lines: LineMappings
    /// Tax codes.
    public var tax: TaxMapping
    /// Class / department / tracking and tax overrides per shop location (key: location id).
    public var locations: [String: LocationMapping]
    /// Where payments are deposited, and payment methods.
    public var payments: PaymentMapping
    /// How shop customers are matched to ERP customers.
    public var customers: CustomerMatchingPolicy
    /// Optional ERP custom fields for the repair-order number, VIN and odometer.
    public var documentFields: DocumentFieldMapping

    /// Creates a mapping.
    public init(
        lines: LineMappings = LineMappings(), tax: TaxMapping = TaxMapping(),
        locations: [String: LocationMapping] = [:],
        payments: PaymentMapping = PaymentMapping(), customers: CustomerMatchingPolicy = CustomerMatchingPolicy(),
        documentFields: DocumentFieldMapping = DocumentFieldMapping()
    ) {
        self.lines = lines
        self.tax = tax
        self.locations = locations
        self.payments = payments
        self.customers = customers
        self.documentFields = documentFields
    }

    enum CodingKeys: String, CodingKey {
        case lines, tax, locations, payments, customers, documentFields = "document_fields"
    }

    /// The mapping of `location`, if any.
    public func location(_ location: LocationID) -> LocationMapping? { locations[location.rawValue] }

    /// The ERP tax code for a line under the ``TaxModel/line`` model: the shop tax code's mapping, else the
    /// taxable / non-taxable default.
    public func lineTaxCode(for line: InvoiceLine) -> ERPReference? {
        if let code = line.taxCode, let mapped = tax.codes[code] { return mapped }
        return line.taxable ? tax.taxable : tax.nonTaxable
    }

    /// The transaction-level tax code for `location` (its override, else the connection's).
    public func transactionTaxCode(for location: LocationID) -> ERPReference? {
        self.location(location)?.transactionTaxCode ?? tax.transactionTaxCode
    }

    /// Checks the mapping against a connector's needs.
    /// - Parameters:
    ///   - requirements: what the connector needs (``ERPConnector/mappingRequirements``).
    ///   - location: when given, also checks that this location is mapped as required.
    /// - Returns: every problem found, in a stable order; empty when the mapping is complete.
    public func validate(_ requirements: MappingRequirements, location: LocationID? = nil) -> [MappingIssue] {
        var issues: [MappingIssue] = []
        for kind in InvoiceLine.Kind.allCases {
            let entry = lines[kind]
            let path = "lines.\(kind.rawValue)"
            if requirements.lineItem.contains(kind), entry.item == nil {
                issues.append(MappingIssue(path: "\(path).item", problem: "no ERP item for \(kind.rawValue) lines"))
            }
            if requirements.lineAccount.contains(kind), entry.account == nil {
                issues.append(
                    MappingIssue(path: "\(path).account", problem: "no income account for \(kind.rawValue) lines"))
            }
        }
        if !requirements.taxModels.contains(tax.model) {
            let allowed = requirements.taxModels.map(\.rawValue).sorted().joined(separator: " or ")
            issues.append(MappingIssue(path: "tax.model", problem: "this ERP supports the \(allowed) tax model"))
        }
        switch tax.model {
        case .transaction:
            let anyLocationCode = locations.values.contains { $0.transactionTaxCode != nil }
            if tax.transactionTaxCode == nil && !anyLocationCode {
                issues.append(MappingIssue(path: "tax.transaction_tax_code", problem: "no sales tax code for invoices"))
            }
        case .line:
            if tax.taxable == nil && tax.codes.isEmpty {
                issues.append(MappingIssue(path: "tax.taxable", problem: "no tax code for taxable lines"))
            }
            if tax.nonTaxable == nil {
                issues.append(MappingIssue(path: "tax.non_taxable", problem: "no tax code for non-taxable lines"))
            }
        }
        if requirements.paymentDepositAccount && payments.depositAccount == nil {
            issues.append(MappingIssue(path: "payments.deposit_account", problem: "no payment deposit account"))
        }
        if customers.maxNameSuffix < 2 {
            issues.append(MappingIssue(path: "customers.max_name_suffix", problem: "must be at least 2"))
        }
        for (key, entry) in locations.sorted(by: { $0.key < $1.key }) {
            let path = "locations.\(key)"
            if entry.classRef != nil, !requirements.locationDimensions.contains(.class) {
                issues.append(MappingIssue(path: "\(path).class", problem: "this ERP has no classes"))
            }
            if entry.department != nil, !requirements.locationDimensions.contains(.department) {
                issues.append(MappingIssue(path: "\(path).department", problem: "this ERP has no departments"))
            }
            if !entry.tracking.isEmpty, !requirements.locationDimensions.contains(.tracking) {
                issues.append(MappingIssue(path: "\(path).tracking", problem: "this ERP has no tracking categories"))
            }
            if let limit = requirements.maxTrackingCategories, entry.tracking.count > limit {
                issues.append(MappingIssue(path: "\(path).tracking", problem: "at most \(limit) tracking categories"))
            }
        }
        if let location, !locations.isEmpty, locations[location.rawValue] == nil {
            issues.append(
                MappingIssue(
                    path: "locations.\(location.rawValue)",
                    problem: "the location has no class, department or tracking mapping"))
        }
        return issues
    }
}

/// One problem found by ``MappingConfiguration/validate(_:location:)``.
public struct MappingIssue: Sendable, Hashable, CustomStringConvertible {
    /// The mapping entry, e.g. `lines.labor.item`.
    public var path: String
    /// What is wrong, e.g. `no ERP item for labor lines`.
    public var problem: String

    /// Creates an issue.
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    /// `lines.labor.item: no ERP item for labor lines`
    public var description: String { "\(path): \(problem)" }
}

/// What a connector needs from a ``MappingConfiguration``.
public struct MappingRequirements: Sendable, Hashable {
    /// A location dimension an ERP can record.
    public enum LocationDimension: String, Sendable, Hashable {
        /// QuickBooks Online classes.
        case `class`
        /// QuickBooks Online departments (locations).
        case department
        /// Xero tracking categories.
        case tracking
    }

    /// Line kinds that need an ERP item.
    public var lineItem: Set<InvoiceLine.Kind>
    /// Line kinds that need an income account.
    public var lineAccount: Set<InvoiceLine.Kind>
    /// Whether payments need a deposit account.
    public var paymentDepositAccount: Bool
    /// The tax models the ERP supports.
    public var taxModels: Set<TaxModel>
    /// The location dimensions the ERP supports.
    public var locationDimensions: Set<LocationDimension>
    /// The most tracking categories per document, if limited.
    public var maxTrackingCategories: Int?

    /// Creates requirements.
    public init(
        lineItem: Set<InvoiceLine.Kind>, lineAccount: Set<InvoiceLine.Kind>, paymentDepositAccount: Bool,
        taxModels: Set<TaxModel>, locationDimensions: Set<LocationDimension>, maxTrackingCategories: Int?
    ) {
        self.lineItem = lineItem
        self.lineAccount = lineAccount
        self.paymentDepositAccount = paymentDepositAccount
        self.taxModels = taxModels
        self.locationDimensions = locationDimensions
        self.maxTrackingCategories = maxTrackingCategories
    }
}

/// The ERP item and income account for one line kind.
public struct LineMapping: Sendable, Hashable, Codable {
    /// The ERP item (QuickBooks `ItemRef`; Xero `ItemCode`, optional there).
    public var item: ERPReference?
    /// The income account (Xero `AccountCode`; QuickBooks discount account for discount lines).
    public var account: ERPReference?

    /// Creates an entry.
    public init(item: ERPReference? = nil, account: ERPReference? = nil) {
        self.item = item
        self.account = account
    }
}

/// ``LineMapping`` for each kind of invoice line (parts vs labor vs fees vs sublets vs core charges vs
/// discounts).
public struct LineMappings: Sendable, Hashable, Codable {
    /// Parts.
    public var part: LineMapping
    /// Labor.
    public var labor: LineMapping
    /// Fees (shop supplies, diagnostics, disposal…).
    public var fee: LineMapping
    /// Sublet work.
    public var sublet: LineMapping
    /// Core charges and core credits.
    public var coreCharge: LineMapping
    /// Discounts.
    public var discount: LineMapping

    /// Creates the mappings.
    public init(
        part: LineMapping = LineMapping(), labor: LineMapping = LineMapping(), fee: LineMapping = LineMapping(),
        sublet: LineMapping = LineMapping(), coreCharge: LineMapping = LineMapping(),
        discount: LineMapping = LineMapping()
    ) {
        self.part = part
        self.labor = labor
        self.fee = fee
        self.sublet = sublet
        self.coreCharge = coreCharge
        self.discount = discount
    }

    enum CodingKeys: String, CodingKey {
        case part, labor, fee, sublet, coreCharge = "core_charge", discount
    }

    /// The mapping of a line kind.
    public subscript(kind: InvoiceLine.Kind) -> LineMapping {
        get {
            switch kind {
            case .part: part
            case .labor: labor
            case .fee: fee
            case .sublet: sublet
            case .coreCharge: coreCharge
            case .discount: discount
            }
        }
        set {
            switch kind {
            case .part: part = newValue
            case .labor: labor = newValue
            case .fee: fee = newValue
            case .sublet: sublet = newValue
            case .coreCharge: coreCharge = newValue
            case .discount: discount = newValue
            }
        }
    }
}

/// How taxes are expressed in the ERP.
public enum TaxModel: String, Sendable, Hashable, Codable, CaseIterable {
    /// US sales tax: one tax code (or group) for the whole invoice, lines flagged taxable or not, and the
    /// total tax stated explicitly (QuickBooks Online US `TxnTaxDetail`).
    case transaction
    /// VAT/GST style: each line carries its own tax code (QuickBooks Online outside the US, Xero).
    case line
}

/// Tax code mapping.
public struct TaxMapping: Sendable, Hashable, Codable {
    /// The tax model of the ERP company.
    public var model: TaxModel
    /// ``TaxModel/transaction``: the tax code or group for invoices (QuickBooks `TxnTaxCodeRef`), unless the
    /// location overrides it.
    public var transactionTaxCode: ERPReference?
    /// ``TaxModel/line``: shop tax code (`tax_code` of lines) → ERP tax code (QuickBooks `TaxCodeRef` id,
    /// Xero `TaxType`).
    public var codes: [String: ERPReference]
    /// ``TaxModel/line``: the tax code for taxable lines without a mapped shop tax code.
    public var taxable: ERPReference?
    /// ``TaxModel/line``: the tax code for non-taxable lines (e.g. Xero `NONE`, `EXEMPTOUTPUT`).
    public var nonTaxable: ERPReference?

    /// Creates a tax mapping.
    public init(
        model: TaxModel = .line, transactionTaxCode: ERPReference? = nil, codes: [String: ERPReference] = [:],
        taxable: ERPReference? = nil, nonTaxable: ERPReference? = nil
    ) {
        self.model = model
        self.transactionTaxCode = transactionTaxCode
        self.codes = codes
        self.taxable = taxable
        self.nonTaxable = nonTaxable
    }

    enum CodingKeys: String, CodingKey {
        case model, transactionTaxCode = "transaction_tax_code", codes, taxable, nonTaxable = "non_taxable"
    }
}

/// One Xero-style tracking assignment: a category and the option to record.
public struct TrackingAssignment: Sendable, Hashable, Codable {
    /// The tracking category name, e.g. `Location`.
    public var category: String
    /// The option, e.g. `Sacramento`.
    public var option: String

    /// Creates an assignment.
    public init(category: String, option: String) {
        self.category = category
        self.option = option
    }
}

/// How one shop location is recorded in the ERP.
public struct LocationMapping: Sendable, Hashable, Codable {
    /// QuickBooks Online class.
    public var classRef: ERPReference?
    /// Whether the class goes on every line (QuickBooks "one class per line" preference) instead of the
    /// transaction.
    public var classPerLine: Bool
    /// QuickBooks Online department (called "location" in its UI).
    public var department: ERPReference?
    /// Xero tracking categories (at most two).
    public var tracking: [TrackingAssignment]
    /// A transaction tax code for this location (US sales tax differs per shop address).
    public var transactionTaxCode: ERPReference?

    /// Creates a location mapping.
    public init(
        classRef: ERPReference? = nil, classPerLine: Bool = false, department: ERPReference? = nil,
        tracking: [TrackingAssignment] = [], transactionTaxCode: ERPReference? = nil
    ) {
        self.classRef = classRef
        self.classPerLine = classPerLine
        self.department = department
        self.tracking = tracking
        self.transactionTaxCode = transactionTaxCode
    }

    enum CodingKeys: String, CodingKey {
        case classRef = "class", classPerLine = "class_per_line", department, tracking
        case transactionTaxCode = "transaction_tax_code"
    }

    /// Decodes, with `class_per_line` and `tracking` optional.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        classRef = try container.decodeIfPresent(ERPReference.self, forKey: .classRef)
        classPerLine = try container.decodeIfPresent(Bool.self, forKey: .classPerLine) ?? false
        department = try container.decodeIfPresent(ERPReference.self, forKey: .department)
        tracking = try container.decodeIfPresent([TrackingAssignment].self, forKey: .tracking) ?? []
        transactionTaxCode = try container.decodeIfPresent(ERPReference.self, forKey: .transactionTaxCode)
    }
}

/// Payment mapping.
public struct PaymentMapping: Sendable, Hashable, Codable {
    /// The account payments are deposited to (seed 001's "payment deposit account"): QuickBooks
    /// `DepositToAccountRef` id, Xero account code.
    public var depositAccount: ERPReference?
    /// Payment method (``Payment/Method`` raw value, e.g. `card`) → ERP payment method.
    public var methods: [String: ERPReference]

    /// Creates a payment mapping.
    public init(depositAccount: ERPReference? = nil, methods: [String: ERPReference] = [:]) {
        self.depositAccount = depositAccount
        self.methods = methods
    }

    enum CodingKeys: String, CodingKey {
        case depositAccount = "deposit_account", methods
    }
}

/// How a shop customer is matched to an ERP customer, and what happens when its name is taken.
///
/// Suffix policy (ERPs with unique display names): when the name is taken by a customer that is not ours,
/// try `Name (2)`, `Name (3)`, … up to `Name (maxNameSuffix)`, each with its own idempotency key variant;
/// the name used is recorded in the sync log. If all are taken, the customer is parked with
/// `erp.duplicate`.
public struct CustomerMatchingPolicy: Sendable, Hashable, Codable {
    /// The matching rule.
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable {
        /// Find our customer by our reference; else adopt an existing ERP customer with the same display
        /// name (shops that already keep their customers in the ERP); else create.
        case referenceThenName = "reference_then_name"
        /// Find our customer by our reference; else create (suffixing the name on a clash). Never adopts a
        /// customer Ledgerline did not create.
        case referenceOnly = "reference_only"
    }

    /// The matching rule.
    public var mode: Mode
    /// The highest suffix tried, e.g. 20 → `Name (2)` … `Name (20)`.
    public var maxNameSuffix: Int

    /// Creates a policy.
    public init(mode: Mode = .referenceThenName, maxNameSuffix: Int = 20) {
        self.mode = mode
        self.maxNameSuffix = maxNameSuffix
    }

    enum CodingKeys: String, CodingKey {
        case mode, maxNameSuffix = "max_name_suffix"
    }

    /// The display name to try at `attempt` (1 = the name itself, 2 = `Name (2)`, …).
    public static func candidateName(_ base: String, attempt: Int) -> String {
        attempt <= 1 ? base : "\(base) (\(attempt))"
    }
}

/// A custom field defined in the ERP company (QuickBooks Online sales-form custom fields).
public struct CustomFieldReference: Sendable, Hashable, Codable {
    /// The field's definition id, e.g. `"1"`.
    public var definitionID: String
    /// The field's name as defined in the ERP, e.g. `RO Number`.
    public var name: String

    /// Creates a reference.
    public init(definitionID: String, name: String) {
        self.definitionID = definitionID
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case definitionID = "definition_id", name
    }
}

/// Where the repair-order number, VIN and odometer go when the ERP has custom fields for them. Anything not
/// mapped here is written to the connector's memo field instead (QuickBooks `PrivateNote`).
public struct DocumentFieldMapping: Sendable, Hashable, Codable {
    /// The custom field for the repair-order number.
    public var repairOrderNumber: CustomFieldReference?
    /// The custom field for the VIN.
    public var vin: CustomFieldReference?
    /// The custom field for the odometer reading.
    public var odometer: CustomFieldReference?

    /// Creates the mapping.
    public init(
        repairOrderNumber: CustomFieldReference? = nil, vin: CustomFieldReference? = nil,
        odometer: CustomFieldReference? = nil
    ) {
        self.repairOrderNumber = repairOrderNumber
        self.vin = vin
        self.odometer = odometer
    }

    enum CodingKeys: String, CodingKey {
        case repairOrderNumber = "repair_order_number", vin, odometer
    }
}

// MARK: - Lenient decoding: absent entries take their defaults (operators write only what they map)

extension MappingConfiguration {
    /// Decodes a stored mapping; absent sections take their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            lines: try container.decodeIfPresent(LineMappings.self, forKey: .lines) ?? LineMappings(),
            tax: try container.decodeIfPresent(TaxMapping.self, forKey: .tax) ?? TaxMapping(),
            locations: try container.decodeIfPresent([String: LocationMapping].self, forKey: .locations) ?? [:],
            payments: try container.decodeIfPresent(PaymentMapping.self, forKey: .payments) ?? PaymentMapping(),
            customers: try container.decodeIfPresent(CustomerMatchingPolicy.self, forKey: .customers)
                ?? CustomerMatchingPolicy(),
            documentFields: try container.decodeIfPresent(DocumentFieldMapping.self, forKey: .documentFields)
                ?? DocumentFieldMapping())
    }
}

extension LineMappings {
    /// Decodes; absent kinds are unmapped.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func entry(_ key: CodingKeys) throws -> LineMapping {
            try container.decodeIfPresent(LineMapping.self, forKey: key) ?? LineMapping()
        }
        self.init(
            part: try entry(.part), labor: try entry(.labor), fee: try entry(.fee), sublet: try entry(.sublet),
            coreCharge: try entry(.coreCharge), discount: try entry(.discount))
    }
}

extension TaxMapping {
    /// Decodes; `model` defaults to `line`, `codes` to empty.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            model: try container.decodeIfPresent(TaxModel.self, forKey: .model) ?? .line,
            transactionTaxCode: try container.decodeIfPresent(ERPReference.self, forKey: .transactionTaxCode),
            codes: try container.decodeIfPresent([String: ERPReference].self, forKey: .codes) ?? [:],
            taxable: try container.decodeIfPresent(ERPReference.self, forKey: .taxable),
            nonTaxable: try container.decodeIfPresent(ERPReference.self, forKey: .nonTaxable))
    }
}

extension PaymentMapping {
    /// Decodes; `methods` defaults to empty.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            depositAccount: try container.decodeIfPresent(ERPReference.self, forKey: .depositAccount),
            methods: try container.decodeIfPresent([String: ERPReference].self, forKey: .methods) ?? [:])
    }
}

extension CustomerMatchingPolicy {
    /// Decodes; defaults `reference_then_name` and 20.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            mode: try container.decodeIfPresent(Mode.self, forKey: .mode) ?? .referenceThenName,
            maxNameSuffix: try container.decodeIfPresent(Int.self, forKey: .maxNameSuffix) ?? 20)
    }
}
