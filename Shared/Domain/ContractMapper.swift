import Foundation

/// Maps a parsed JSON tree to the model types, reporting every structural failure with its path (internal).
///
/// Structural failures (wrong type, missing field, malformed decimal/date, unknown enum value or currency)
/// make the enclosing object unmappable. When `checks` is set (the ``InvoiceEventDecoder`` path) each field
/// and each mapped object is also value-checked at once, so value problems in one part are reported even
/// when another part is structurally broken; cross-object arithmetic runs when the whole invoice mapped.
final class ContractMapper {
    let sink: FailureSink
    let checks: ContractChecks?
    let limits: ValidationLimits

    init(sink: FailureSink, limits: ValidationLimits, runChecks: Bool) {
        self.sink = sink
        self.limits = limits
        self.checks = runChecks ? ContractChecks(sink: sink, limits: limits) : nil
    }

    // MARK: Event

    func event(_ json: JSONValue) -> InvoiceEvent? {
        let path = JSONPath.root
        guard let r = reader(json, path, ContractShape.event) else { return nil }
        // The version decides which contract applies: another version stops here. A missing or mistyped
        // version is reported and the rest is checked against v1.
        var versionText = InvoiceEvent.currentSchemaVersion
        if let version = r.required("schema_version") {
            if case .string(let text) = version {
                guard text == InvoiceEvent.currentSchemaVersion else {
                    sink.add(
                        .unsupportedVersion, path.appending("schema_version"),
                        "schema_version \"\(text.prefix(20))\" is not supported; this service accepts \"\(InvoiceEvent.currentSchemaVersion)\"."
                    )
                    return nil
                }
                versionText = text
            } else {
                r.wrongType("schema_version", version, expected: "the string \"1\"")
            }
        }
        r.reportUnknownKeys()
        var eventType: InvoiceEvent.EventType?
        if let value = r.required("event_type") {
            if case .string(let text) = value {
                eventType = InvoiceEvent.EventType(rawValue: text)
                if eventType == nil {
                    let known = InvoiceEvent.EventType.allCases.map(\.rawValue).joined(separator: ", ")
                    sink.add(
                        .unknownEventType, path.appending("event_type"),
                        "event_type \"\(text)\" is not one of: \(known).")
                    r.ok = false
                }
            } else {
                r.wrongType("event_type", value, expected: "a string")
            }
        }
        let eventID = r.text("event_id")
        let tenantID = r.text("tenant_id")
        let locationID = r.text("location_id")
        let sourceSystem = r.text("source_system")
        let occurredAt = r.timestamp("occurred_at")
        let idempotencyKey = r.text("idempotency_key")
        let invoiceVersion = r.integer("invoice_version")

        var payload: InvoiceEvent.Payload?
        if let eventType {
            let needed = ContractShape.payloadKeys[eventType] ?? []
            for key in ContractShape.allPayloadKeys where !needed.contains(key) && r.isPresent(key) {
                sink.add(
                    .fieldNotAllowed, path.appending(key),
                    "\(key) is not allowed in a \(eventType.rawValue) event (it needs \(needed.joined(separator: " and ")))."
                )
            }
            let because = "for event type \(eventType.rawValue)"
            switch eventType {
            case .invoiceCreated, .invoiceUpdated:
                if let invoice = r.object("invoice", requiredBecause: because, { self.invoice($0, at: $1) }) {
                    payload = eventType == .invoiceCreated ? .invoiceCreated(invoice) : .invoiceUpdated(invoice)
                }
            case .paymentReceived:
                let reference = r.object("invoice_ref", requiredBecause: because) { self.invoiceReference($0, at: $1) }
                let currency = reference?.currency ?? r.peekCurrency(inside: "invoice_ref")
                let payment = r.object("payment", requiredBecause: because) {
                    self.payment($0, at: $1, currency: currency)
                }
                if let reference, let payment { payload = .paymentReceived(reference, payment) }
            case .invoiceVoided:
                let reference = r.object("invoice_ref", requiredBecause: because) { self.invoiceReference($0, at: $1) }
                let details = r.object("void", requiredBecause: because) { self.voidDetails($0, at: $1) }
                if let reference, let details { payload = .invoiceVoided(reference, details) }
            }
        }
        guard r.ok, let eventID, let tenantID, let locationID, let sourceSystem, let occurredAt, let idempotencyKey,
            let invoiceVersion, let payload
        else { return nil }
        let event = InvoiceEvent(
            schemaVersion: versionText, eventID: eventID, tenantID: TenantID(tenantID),
            locationID: LocationID(locationID), sourceSystem: sourceSystem, occurredAt: occurredAt,
            idempotencyKey: idempotencyKey, invoiceVersion: invoiceVersion, payload: payload)
        checks?.event(event)
        return event
    }

    func invoiceReference(_ json: JSONValue, at path: JSONPath) -> InvoiceReference? {
        guard let r = reader(json, path, ContractShape.invoiceReference) else { return nil }
        r.reportUnknownKeys()
        let invoiceID = r.text("invoice_id")
        let invoiceNumber = r.text("invoice_number")
        let currency = r.currency("currency")
        guard r.ok, let invoiceID, let invoiceNumber, let currency else { return nil }
        return InvoiceReference(invoiceID: invoiceID, invoiceNumber: invoiceNumber, currency: currency)
    }

    func voidDetails(_ json: JSONValue, at path: JSONPath) -> VoidDetails? {
        guard let r = reader(json, path, ContractShape.voidDetails) else { return nil }
        r.reportUnknownKeys()
        let reason = r.text("reason")
        guard r.ok, let reason else { return nil }
        return VoidDetails(reason: reason)
    }

    // MARK: Invoice

    func invoice(_ json: JSONValue, at path: JSONPath) -> Invoice? {
        guard let r = reader(json, path, ContractShape.invoice) else { return nil }
        r.reportUnknownKeys()
        let invoiceID = r.text("invoice_id")
        let invoiceNumber = r.text("invoice_number")
        let jobNumber = r.text("job_number")
        let workOrderNumber = r.text("work_order_number")
        let repairOrderNumber = r.text("repair_order_number")
        let purchaseOrderNumber = r.text("purchase_order_number")
        let status = r.enumeration("status", InvoiceStatus.self)
        let issueDate = r.date("issue_date")
        let dueDate = r.date("due_date")
        let paymentTerms = r.text("payment_terms")
        let currency = r.currency("currency")
        let customer = r.object("customer") { self.customer($0, at: $1) }
        let vehicle = r.object("vehicle") { self.vehicle($0, at: $1) }
        let lines = r.array("lines", .lines) { self.line($0, at: $1, currency: currency) }
        let taxLines = r.array("tax_lines", .taxLines) { self.taxLine($0, at: $1, currency: currency) }
        let totals = r.object("totals") { self.totals($0, at: $1, currency: currency) }
        let payments = r.array("payments", .payments) { self.payment($0, at: $1, currency: currency) }
        let notes = r.text("notes")
        guard r.ok, let invoiceID, let invoiceNumber, let status, let issueDate, let currency, let customer,
            let lines, let totals
        else { return nil }
        let invoice = Invoice(
            invoiceID: invoiceID, invoiceNumber: invoiceNumber, jobNumber: jobNumber, workOrderNumber: workOrderNumber,
            repairOrderNumber: repairOrderNumber, purchaseOrderNumber: purchaseOrderNumber, status: status,
            issueDate: issueDate, dueDate: dueDate, paymentTerms: paymentTerms, currency: currency, customer: customer,
            vehicle: vehicle, lines: lines, taxLines: taxLines ?? [], totals: totals, payments: payments ?? [],
            notes: notes)
        checks?.invoiceOwn(invoice, path)
        checks?.invoiceCross(invoice, path)
        return invoice
    }

    func customer(_ json: JSONValue, at path: JSONPath) -> Customer? {
        guard let r = reader(json, path, ContractShape.customer) else { return nil }
        r.reportUnknownKeys()
        let customerID = r.text("customer_id")
        let name = r.text("name")
        let companyName = r.text("company_name")
        let email = r.text("email")
        let phone = r.text("phone")
        let address = r.object("billing_address") { self.address($0, at: $1) }
        let taxExempt = r.bool("tax_exempt")
        let taxExemptReason = r.text("tax_exempt_reason")
        guard r.ok, let customerID, let name else { return nil }
        let customer = Customer(
            customerID: customerID, name: name, companyName: companyName, email: email, phone: phone,
            billingAddress: address, taxExempt: taxExempt ?? false, taxExemptReason: taxExemptReason)
        checks?.customer(customer, path)
        return customer
    }

    func address(_ json: JSONValue, at path: JSONPath) -> Address? {
        guard let r = reader(json, path, ContractShape.address) else { return nil }
        r.reportUnknownKeys()
        let line1 = r.text("line1")
        let line2 = r.text("line2")
        let city = r.text("city")
        let region = r.text("region")
        let postalCode = r.text("postal_code")
        let country = r.text("country")
        guard r.ok, let line1, let city, let country else { return nil }
        return Address(line1: line1, line2: line2, city: city, region: region, postalCode: postalCode, country: country)
    }

    func vehicle(_ json: JSONValue, at path: JSONPath) -> Vehicle? {
        guard let r = reader(json, path, ContractShape.vehicle) else { return nil }
        r.reportUnknownKeys()
        let vin = r.plainString("vin")
        let year = r.integer("year")
        let make = r.text("make")
        let model = r.text("model")
        let licensePlate = r.text("license_plate")
        let odometer = r.object("odometer") { self.odometer($0, at: $1) }
        guard r.ok else { return nil }
        let vehicle = Vehicle(
            vin: vin, year: year.map(Int.init), make: make, model: model, licensePlate: licensePlate, odometer: odometer
        )
        checks?.vehicle(vehicle, path)
        return vehicle
    }

    func odometer(_ json: JSONValue, at path: JSONPath) -> Odometer? {
        guard let r = reader(json, path, ContractShape.odometer) else { return nil }
        r.reportUnknownKeys()
        let reading = r.integer("reading")
        let unit = r.enumeration("unit", Odometer.Unit.self)
        guard r.ok, let reading, let unit else { return nil }
        return Odometer(reading: Int(reading), unit: unit)
    }

    func line(_ json: JSONValue, at path: JSONPath, currency: CurrencyCode?) -> InvoiceLine? {
        guard let r = reader(json, path, ContractShape.line) else { return nil }
        r.reportUnknownKeys()
        let lineID = r.text("line_id")
        let kind = r.enumeration("kind", InvoiceLine.Kind.self)
        let description = r.text("description")
        let quantity = r.decimal("quantity", Quantity.self, currency: currency)
        let unitPrice = r.decimal("unit_price", Money.self, currency: currency)
        let amount = r.decimal("amount", Money.self, currency: currency)
        let taxable = r.bool("taxable")
        let taxCode = r.text("tax_code")
        var detail: InvoiceLine.Detail?
        if let kind, let fields = ContractShape.lineKindFields[kind] {
            for key in ContractShape.kindSpecificKeys where r.isPresent(key) {
                if !fields.required.contains(key) && !fields.optional.contains(key) {
                    sink.add(
                        .fieldNotAllowed, path.appending(key),
                        "\(path.appending(key)) is not allowed on a \(kind.rawValue) line.")
                }
            }
            let because = "for \(kind.rawValue) lines"
            switch kind {
            case .part:
                let partNumber = r.text("part_number", requiredBecause: because)
                let manufacturer = r.text("manufacturer")
                if let partNumber { detail = .part(partNumber: partNumber, manufacturer: manufacturer) }
            case .labor:
                detail = .labor(
                    technicianID: r.text("technician_id"), technicianName: r.text("technician_name"),
                    laborCode: r.text("labor_code"))
            case .fee:
                detail = .fee(feeCode: r.text("fee_code"))
            case .sublet:
                let vendorName = r.text("vendor_name", requiredBecause: because)
                let vendorInvoiceNumber = r.text("vendor_invoice_number")
                if let vendorName { detail = .sublet(vendorName: vendorName, vendorInvoiceNumber: vendorInvoiceNumber) }
            case .discount:
                detail = .discount
            case .coreCharge:
                detail = .coreCharge(partNumber: r.text("part_number"))
            }
        }
        guard r.ok, let description, let quantity, let unitPrice, let amount, let taxable, let detail else {
            return nil
        }
        let line = InvoiceLine(
            lineID: lineID, description: description, quantity: quantity, unitPrice: unitPrice, amount: amount,
            taxable: taxable, taxCode: taxCode, detail: detail)
        checks?.line(line, path, currency: currency)
        return line
    }

    func taxLine(_ json: JSONValue, at path: JSONPath, currency: CurrencyCode?) -> TaxLine? {
        guard let r = reader(json, path, ContractShape.taxLine) else { return nil }
        r.reportUnknownKeys()
        let jurisdiction = r.text("jurisdiction")
        let taxCode = r.text("tax_code")
        let rate = r.decimal("rate_percent", Percentage.self, currency: currency)
        let taxableAmount = r.decimal("taxable_amount", Money.self, currency: currency)
        let amount = r.decimal("amount", Money.self, currency: currency)
        guard r.ok, let jurisdiction, let rate, let taxableAmount, let amount else { return nil }
        return TaxLine(
            jurisdiction: jurisdiction, taxCode: taxCode, ratePercent: rate, taxableAmount: taxableAmount,
            amount: amount)
    }

    func totals(_ json: JSONValue, at path: JSONPath, currency: CurrencyCode?) -> InvoiceTotals? {
        guard let r = reader(json, path, ContractShape.totals) else { return nil }
        r.reportUnknownKeys()
        let subtotal = r.decimal("subtotal", Money.self, currency: currency)
        let discountTotal = r.decimal("discount_total", Money.self, currency: currency)
        let taxTotal = r.decimal("tax_total", Money.self, currency: currency)
        let total = r.decimal("total", Money.self, currency: currency)
        let amountPaid = r.decimal("amount_paid", Money.self, currency: currency)
        let balanceDue = r.decimal("balance_due", Money.self, currency: currency)
        guard r.ok, let subtotal, let taxTotal, let total, let amountPaid, let balanceDue else { return nil }
        return InvoiceTotals(
            subtotal: subtotal, discountTotal: discountTotal, taxTotal: taxTotal, total: total, amountPaid: amountPaid,
            balanceDue: balanceDue)
    }

    func payment(_ json: JSONValue, at path: JSONPath, currency: CurrencyCode?) -> Payment? {
        guard let r = reader(json, path, ContractShape.payment) else { return nil }
        r.reportUnknownKeys()
        let paymentID = r.text("payment_id")
        let amount = r.decimal("amount", Money.self, currency: currency)
        let method = r.enumeration("method", Payment.Method.self)
        let paymentDate = r.date("payment_date")
        let reference = r.text("reference")
        guard r.ok, let paymentID, let amount, let method, let paymentDate else { return nil }
        let payment = Payment(
            paymentID: paymentID, amount: amount, method: method, paymentDate: paymentDate, reference: reference)
        checks?.payment(payment, path)
        return payment
    }

    // MARK: Reading fields

    private func reader(_ json: JSONValue, _ path: JSONPath, _ shape: ContractShape.Object) -> ObjectReader? {
        guard case .object(let object) = json else {
            sink.add(
                .wrongType, path,
                "\(path.description.isEmpty ? "The body" : path.description) must be a JSON object, not \(json.typeName)."
            )
            return nil
        }
        return ObjectReader(object: object, path: path, shape: shape, mapper: self)
    }

    /// Reads one object's fields; `ok` turns false when a field is structurally unusable.
    final class ObjectReader {
        let object: JSONObject
        let path: JSONPath
        let shape: ContractShape.Object
        let mapper: ContractMapper
        var ok = true
        var sink: FailureSink { mapper.sink }
        var checks: ContractChecks? { mapper.checks }

        init(object: JSONObject, path: JSONPath, shape: ContractShape.Object, mapper: ContractMapper) {
            self.object = object
            self.path = path
            self.shape = shape
            self.mapper = mapper
        }

        func reportUnknownKeys() {
            for key in object.keys where !shape.has(key) {
                sink.add(
                    .unknownField, path.appending(key),
                    "\(path.appending(key)) is not a field of \(shape.name) in contract v1.")
            }
        }

        /// The value, treating `null` as absent.
        func value(_ key: String) -> JSONValue? {
            guard let value = object[key], value != .null else { return nil }
            return value
        }

        func isPresent(_ key: String) -> Bool { value(key) != nil }

        /// The value of a field that must be present; reports `schema.missing_field` otherwise.
        func required(_ key: String, because: String? = nil) -> JSONValue? {
            if let value = value(key) { return value }
            let fieldPath = path.appending(key)
            let suffix = because.map { " \($0)" } ?? ""
            let what = object[key] == .null ? "is null" : "is missing"
            sink.add(.missingField, fieldPath, "\(fieldPath) \(what); it is required\(suffix).")
            ok = false
            return nil
        }

        private func lookup(_ key: String, requiredBecause: String? = nil) -> JSONValue? {
            if shape[key].required || requiredBecause != nil { return required(key, because: requiredBecause) }
            return value(key)
        }

        func wrongType(_ key: String, _ value: JSONValue, expected: String) {
            let fieldPath = path.appending(key)
            sink.add(.wrongType, fieldPath, "\(fieldPath) must be \(expected), not \(value.typeName).")
            ok = false
        }

        func plainString(_ key: String, requiredBecause: String? = nil) -> String? {
            guard let value = lookup(key, requiredBecause: requiredBecause) else { return nil }
            guard case .string(let text) = value else {
                wrongType(key, value, expected: "a string")
                return nil
            }
            return text
        }

        func text(_ key: String, requiredBecause: String? = nil) -> String? {
            guard let text = plainString(key, requiredBecause: requiredBecause) else { return nil }
            checks?.text(text, shape.rule(key), path.appending(key))
            return text
        }

        func bool(_ key: String) -> Bool? {
            guard let value = lookup(key) else { return nil }
            guard case .bool(let flag) = value else {
                wrongType(key, value, expected: "true or false")
                return nil
            }
            return flag
        }

        func integer(_ key: String) -> Int64? {
            guard let value = lookup(key) else { return nil }
            guard case .integer(let range) = shape[key].type else { preconditionFailure("\(key) is not an integer") }
            guard case .number(let text) = value, !text.contains(where: { ".eE".contains($0) }) else {
                wrongType(key, value, expected: "an integer (no fraction or exponent)")
                return nil
            }
            guard let number = Int64(text) else {
                let fieldPath = path.appending(key)
                sink.add(
                    .outOfRange, fieldPath,
                    "\(fieldPath) is \(text); it must be between \(range.lowerBound) and \(range.upperBound).")
                ok = false
                return nil
            }
            checks?.integer(number, range, path.appending(key))
            return number
        }

        func decimal<Value: DecimalStringValue>(_ key: String, _ type: Value.Type, currency: CurrencyCode?) -> Value? {
            guard let value = lookup(key) else { return nil }
            guard case .decimal(let kind) = shape[key].type else { preconditionFailure("\(key) is not a decimal") }
            let fieldPath = path.appending(key)
            switch value {
            case .string(let text):
                guard let parsed = DecimalText.parse(text) else {
                    sink.add(
                        .notADecimalString, fieldPath,
                        "\(fieldPath) is \"\(text.prefix(40))\", which is not a plain decimal such as \"12.50\" (digits, an optional leading '-', an optional '.' and digits; no exponent, spaces or '+')."
                    )
                    ok = false
                    return nil
                }
                guard let exact = parsed.value else {
                    if parsed.integerDigits > kind.maxIntegerDigits {
                        sink.add(
                            .moneyOutOfRange, fieldPath,
                            "\(fieldPath) has \(parsed.integerDigits) digits before the decimal point; the maximum is \(kind.maxIntegerDigits)."
                        )
                    } else {
                        sink.add(
                            .tooManyDecimals, fieldPath,
                            "\(fieldPath) is written with \(parsed.fractionDigits) decimal places; the maximum is \(kind.maxFractionDigits)."
                        )
                    }
                    ok = false
                    return nil
                }
                let result = Value(value: exact, writtenScale: parsed.fractionDigits)
                checks?.decimal(result, kind, fieldPath, currency: currency)
                return result
            case .number(let text):
                sink.add(
                    .floatNotAllowed, fieldPath,
                    "\(fieldPath) is the JSON number \(text.prefix(40)); decimal fields must be JSON strings such as \"\(text.prefix(40))\" so that no precision is lost."
                )
                ok = false
                return nil
            default:
                wrongType(key, value, expected: "a decimal string such as \"12.50\"")
                return nil
            }
        }

        func currency(_ key: String) -> CurrencyCode? {
            guard let value = lookup(key) else { return nil }
            guard case .string(let text) = value else {
                wrongType(key, value, expected: "a currency code string such as \"USD\"")
                return nil
            }
            guard let currency = CurrencyCode(text) else {
                let fieldPath = path.appending(key)
                let hint = CurrencyCode(text.uppercased()) != nil ? " (codes are upper case)" : ""
                sink.add(
                    .unknownCurrency, fieldPath,
                    "\(fieldPath) \"\(text.prefix(20))\" is not a known ISO 4217 currency code\(hint).")
                ok = false
                return nil
            }
            return currency
        }

        /// The currency inside a sibling object, when it is readable (lets `payment` be checked against
        /// `invoice_ref.currency` even if `invoice_ref` has other problems).
        func peekCurrency(inside key: String) -> CurrencyCode? {
            guard case .object(let inner)? = value(key), case .string(let text)? = inner["currency"] else { return nil }
            return CurrencyCode(text)
        }

        func date(_ key: String) -> LocalDate? {
            guard let value = lookup(key) else { return nil }
            guard case .string(let text) = value else {
                wrongType(key, value, expected: "a date string YYYY-MM-DD")
                return nil
            }
            guard let date = LocalDate(string: text) else {
                let fieldPath = path.appending(key)
                sink.add(
                    .invalidFormat, fieldPath,
                    "\(fieldPath) \"\(text.prefix(40))\" is not a valid calendar date of the form YYYY-MM-DD.")
                ok = false
                return nil
            }
            return date
        }

        func timestamp(_ key: String) -> Timestamp? {
            guard let value = lookup(key) else { return nil }
            guard case .string(let text) = value else {
                wrongType(key, value, expected: "an RFC 3339 timestamp string")
                return nil
            }
            guard let timestamp = Timestamp(string: text) else {
                let fieldPath = path.appending(key)
                sink.add(
                    .invalidFormat, fieldPath,
                    "\(fieldPath) \"\(text.prefix(40))\" is not an RFC 3339 timestamp with offset, such as 2025-03-01T14:05:09-05:00."
                )
                ok = false
                return nil
            }
            return timestamp
        }

        func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) -> E?
        where E.RawValue == String {
            guard let value = lookup(key) else { return nil }
            guard case .string(let text) = value else {
                wrongType(key, value, expected: "a string")
                return nil
            }
            guard let result = E(rawValue: text) else {
                let fieldPath = path.appending(key)
                let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
                sink.add(
                    .invalidEnumValue, fieldPath,
                    "\(fieldPath) \"\(text.prefix(40))\" is not one of: \(allowed).")
                ok = false
                return nil
            }
            return result
        }

        func object<T>(_ key: String, requiredBecause: String? = nil, _ map: (JSONValue, JSONPath) -> T?) -> T? {
            guard let value = lookup(key, requiredBecause: requiredBecause) else { return nil }
            guard let result = map(value, path.appending(key)) else {
                ok = false
                return nil
            }
            return result
        }

        /// Maps every element (to report all failures); `nil` if the list is unusable or any element is.
        func array<T>(_ key: String, _ kind: ContractShape.ArrayKind, _ map: (JSONValue, JSONPath) -> T?) -> [T]? {
            guard let value = lookup(key) else { return nil }
            let fieldPath = path.appending(key)
            guard case .array(let items) = value else {
                wrongType(key, value, expected: "an array")
                return nil
            }
            let limitChecks = ContractChecks(sink: sink, limits: mapper.limits)
            let limit: Int =
                switch kind {
                case .lines: mapper.limits.maxLinesPerInvoice
                case .taxLines: mapper.limits.maxTaxLinesPerInvoice
                case .payments: mapper.limits.maxPaymentsPerInvoice
                }
            if items.count > limit {
                // Over the limit: say so once and do not map thousands of items.
                limitChecks.listSize(items.count, kind, fieldPath)
                ok = false
                return nil
            }
            var results: [T] = []
            var allMapped = true
            for (index, item) in items.enumerated() {
                if let result = map(item, fieldPath.appending(index: index)) {
                    results.append(result)
                } else {
                    allMapped = false
                }
            }
            guard allMapped else {
                ok = false
                return nil
            }
            return results
        }
    }
}

/// Bridges `Decodable` to the mapper, so `JSONDecoder` and ``InvoiceEventDecoder`` share one definition of the
/// wire form (internal).
enum ContractCodable {
    static func decode<T>(from decoder: any Decoder, _ map: (ContractMapper, JSONValue) -> T?) throws -> T {
        let json = try JSONValue(from: decoder)
        let sink = FailureSink(cap: ValidationLimits.default.maxReportedFailures)
        let mapper = ContractMapper(sink: sink, limits: .default, runChecks: false)
        if let value = map(mapper, json), sink.isEmpty { return value }
        throw DecodingError.dataCorrupted(
            DecodingError.Context(
                codingPath: decoder.codingPath,
                debugDescription: ValidationError(failures: sink.finish()).debugDescription))
    }
}
