import Domain
import Foundation

/// The books of one simulated Xero organisation (tenant).
struct XeroCompany {
    /// resource (`Contacts`, `Invoices`, `Payments`) → id → object.
    var records: [String: [String: [String: JSONValue]]] = [:]
    var order: [String: [String]] = [:]
    var updated: [String: Date] = [:]
    var nextInvoiceNumber = 1

    /// A new organisation: its default items and tax rates (reference data read by pulls), stamped now.
    init(now: Date = Date()) {
        let stamp = JSONValue.string(SimClock.xeroDate(now))
        let items: [(String, String, String, Decimal)] = [
            ("9a1c0e6e-1a5f-4c1e-9d5e-000000000001", "LABOR", "Labor (per hour)", 120),
            ("9a1c0e6e-1a5f-4c1e-9d5e-000000000002", "PARTS", "Parts", 0),
            ("9a1c0e6e-1a5f-4c1e-9d5e-000000000003", "SHOP-FEE", "Shop supplies fee", 15),
        ]
        for (id, code, name, price) in items {
            store(
                "Items", id: id,
                ["ItemID": .string(id), "Code": .string(code), "Name": .string(name), "Description": .string(name),
                 "IsSold": true, "IsPurchased": false, "IsTrackedAsInventory": false,
                 "SalesDetails": ["UnitPrice": .number(price), "AccountCode": "200", "TaxType": "OUTPUT"],
                 "UpdatedDateUTC": stamp], now: now)
        }
        let rates: [(String, String, Decimal)] = [
            ("OUTPUT", "Tax on Sales", Decimal(string: "8.25")!), ("EXEMPTOUTPUT", "Tax Exempt", 0),
            ("NONE", "No Tax", 0),
        ]
        for (type, name, rate) in rates {
            store(
                "TaxRates", id: type.lowercased(),
                ["Name": .string(name), "TaxType": .string(type), "ReportTaxType": "OUTPUT", "Status": "ACTIVE",
                 "CanApplyToRevenue": true, "DisplayTaxRate": .number(rate), "EffectiveRate": .number(rate),
                 "TaxComponents": [["Name": .string(name), "Rate": .number(rate), "IsCompound": false,
                                    "IsNonRecoverable": false]]], now: now)
        }
    }

    func all(_ resource: String) -> [[String: JSONValue]] {
        (order[resource] ?? []).compactMap { records[resource]?[$0] }
    }

    mutating func store(_ resource: String, id: String, _ object: [String: JSONValue], now: Date) {
        if records[resource]?[id] == nil { order[resource, default: []].append(id) }
        records[resource, default: [:]][id] = object
        updated[id] = now
    }
}

extension Simulator {
    private static let xeroResources = [
        "contacts": "Contacts", "invoices": "Invoices", "payments": "Payments", "items": "Items", "taxrates": "TaxRates",
    ]
    private static let xeroIDField = [
        "Contacts": "ContactID", "Invoices": "InvoiceID", "Payments": "PaymentID", "Items": "ItemID", "TaxRates": "TaxType",
    ]
    /// Reference data erp-sim serves read-only (`GET /Items`, `GET /TaxRates`).
    private static let xeroReadOnly: Set<String> = ["Items", "TaxRates"]
    private static let xeroEntity = ["Contacts": "Contact", "Invoices": "Invoice", "Payments": "Payment"]

    func xeroProblem(status: Int, title: String, detail: String, headers: [(String, String)] = []) -> SimResponse {
        .json(status, [
            "Type": .null, "Title": .string(title), "Status": .number(Decimal(status)), "Detail": .string(detail),
            "Instance": .string(UUID().uuidString.lowercased()), "Extensions": [:],
        ], headers: [("Xero-Correlation-Id", UUID().uuidString.lowercased())] + headers)
    }

    /// The 400 `ApiException` body: `ErrorNumber` 10, `ValidationException`, the elements with their errors.
    func xeroValidation(elements: [JSONValue]) -> SimResponse {
        .json(400, [
            "ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": .array(elements),
        ], headers: [("Xero-Correlation-Id", UUID().uuidString.lowercased())])
    }

    private func xeroEnvelope(_ resource: String, _ items: [JSONValue], now: Date, extra: [String: JSONValue] = [:]) -> SimResponse {
        var body: [String: JSONValue] = [
            "Id": .string(UUID().uuidString.lowercased()), "Status": "OK", "ProviderName": "Ledgerline erp-sim",
            "DateTimeUTC": .string(SimClock.xeroDate(now)), resource: .array(items),
        ]
        for (key, value) in extra { body[key] = value }
        return .json(200, .object(body), headers: [("Xero-Correlation-Id", UUID().uuidString.lowercased())])
    }

    /// `/api.xro/2.0/…` after authentication, tenant check, faults and throttling.
    func xeroAPI(_ request: SimRequest, company: SimCompany, rest: [String], now: Date) -> SimResponse {
        guard let resource = Self.xeroResources[rest[0].lowercased()], rest.count <= 2 else {
            return .text(404, "The resource you're looking for cannot be found")
        }
        guard (request.header("accept") ?? "").lowercased().contains("json") else {
            return xeroProblem(status: 406, title: "Not Acceptable",
                               detail: "Xero answers XML unless the request sends Accept: application/json; erp-sim answers JSON only")
        }
        let books = xero[company.id] ?? XeroCompany()
        if request.method == "GET" {
            if rest.count == 2 {
                let key = rest[1]
                let found = books.records[resource]?[key.lowercased()]
                    ?? (resource == "Invoices" ? books.all("Invoices").first { $0["InvoiceNumber"]?.string == key } : nil)
                guard let found else { return .text(404, "The resource you're looking for cannot be found") }
                return xeroEnvelope(resource, [.object(found)], now: now)
            }
            return xeroList(request, resource: resource, books: books, now: now)
        }
        guard request.method == "PUT" || request.method == "POST", !Self.xeroReadOnly.contains(resource) else {
            return .text(405, "Method Not Allowed")
        }
        guard (request.header("content-type") ?? "").lowercased().contains("json") else {
            return xeroProblem(status: 415, title: "Unsupported Media Type", detail: "Content-Type must be application/json")
        }
        let key = request.header("idempotency-key")
        if let key, key.count > 128 {
            return xeroValidation(elements: [["ValidationErrors": [["Message": "The Idempotency-Key header must be at most 128 characters."]]]])
        }
        let fingerprint = Array("\(request.method) \(request.path)?\(request.query["summarizeErrors"] ?? "")".utf8) + request.body
        switch replay(company, key: key, fingerprint: fingerprint) {
        case .hit(let cached): return cached
        case .conflict:
            return xeroValidation(elements: [["ValidationErrors": [["Message": "The Idempotency-Key was already used with a different request."]]]])
        case .miss: break
        }
        let response = xeroWrite(request, resource: resource, pathID: rest.count == 2 ? rest[1] : nil, company: company, key: key, now: now)
        if response.status < 500 { remember(company, key: key, fingerprint: fingerprint, response: response) }
        return response
    }

    // MARK: Reads

    private func xeroList(_ request: SimRequest, resource: String, books: XeroCompany, now: Date) -> SimResponse {
        var rows = books.all(resource)
        if resource == "Invoices" || resource == "Contacts" {
            rows = rows.filter { $0["Status"]?.string != "DELETED" && $0["ContactStatus"]?.string != "ARCHIVED" || request.query["includeArchived"] == "true" }
        }
        // Xero filters tax rates by no date (they carry none).
        if let since = request.header("if-modified-since"), let date = Self.parseModifiedSince(since),
            resource != "TaxRates"
        {
            let idField = Self.xeroIDField[resource]!
            rows = rows.filter { row in (row[idField]?.string).flatMap { books.updated[$0] }.map { $0 > date } ?? false }
        }
        func list(_ name: String) -> [String]? {
            request.query[name].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } }
        }
        if let ids = list("IDs") { rows = rows.filter { ids.contains(($0[Self.xeroIDField[resource]!]?.string ?? "").lowercased()) } }
        if let numbers = list("InvoiceNumbers") { rows = rows.filter { numbers.contains(($0["InvoiceNumber"]?.string ?? "").lowercased()) } }
        if let contacts = list("ContactIDs") { rows = rows.filter { contacts.contains(($0["Contact"]?["ContactID"]?.string ?? "").lowercased()) } }
        if let statuses = list("Statuses") { rows = rows.filter { statuses.contains(($0["Status"]?.string ?? "").lowercased()) } }
        if let term = request.query["searchTerm"]?.lowercased(), resource == "Contacts" {
            rows = rows.filter { row in ["Name", "FirstName", "LastName", "EmailAddress", "ContactNumber"].contains { (row[$0]?.string ?? "").lowercased().contains(term) } }
        }
        if let whereText = request.query["where"], !whereText.isEmpty {
            do {
                let conditions = try XeroWhere.parse(whereText)
                rows = rows.filter { row in conditions.allSatisfy { $0.matches(row) } }
            } catch {
                return xeroValidation(elements: [["ValidationErrors": [["Message": .string("erp-sim cannot evaluate this where clause: \(error.message)")]]]])
            }
        }
        var extra: [String: JSONValue] = [:]
        if let pageText = request.query["page"], let page = Int(pageText), page >= 1 {
            let size = min(max(Int(request.query["pageSize"] ?? "100") ?? 100, 1), 1000)
            let count = rows.count
            rows = Array(rows.dropFirst((page - 1) * size).prefix(size))
            extra["pagination"] = [
                "page": .number(Decimal(page)), "pageSize": .number(Decimal(size)),
                "pageCount": .number(Decimal((count + size - 1) / size)), "itemCount": .number(Decimal(count)),
            ]
        }
        return xeroEnvelope(resource, rows.map(JSONValue.object), now: now, extra: extra)
    }

    private static func parseModifiedSince(_ text: String) -> Date? {
        let iso = ISO8601DateFormatter()
        if let date = iso.date(from: text) { return date }
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = iso.date(from: text) { return date }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "EEE, dd MMM yyyy HH:mm:ss 'GMT'"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    // MARK: Writes

    private func xeroWrite(_ request: SimRequest, resource: String, pathID: String?, company: SimCompany, key: String?, now: Date) -> SimResponse {
        guard let body = JSONValue.parse(request.body) else {
            return xeroValidation(elements: [["ValidationErrors": [["Message": "The request body is not valid JSON."]]]])
        }
        let elements: [JSONValue] = body[resource]?.array ?? (body.object.map { [.object($0)] } ?? [])
        guard !elements.isEmpty else {
            return xeroValidation(elements: [["ValidationErrors": [["Message": .string("No \(resource) were supplied.")]]]])
        }
        let summarize = request.query["summarizeErrors"]?.lowercased() != "false"
        let unitDecimals = request.query["unitdp"] == "4" ? 4 : 2
        var books = xero[company.id] ?? XeroCompany()
        var pending: [(String, String?)] = []
        var answers: [JSONValue] = []
        var failed = false
        for element in elements {
            guard var fields = element.object else { failed = true; answers.append(element); continue }
            if let pathID { fields[Self.xeroIDField[resource]!] = .string(pathID) }
            var errors: [String] = []
            var created: (String, String?)?
            let result: [String: JSONValue]?
            switch resource {
            case "Contacts": result = xeroContact(fields, create: request.method == "PUT", books: &books, errors: &errors, created: &created, now: now)
            case "Invoices": result = xeroInvoice(fields, put: request.method == "PUT", unitDecimals: unitDecimals, books: &books, errors: &errors, created: &created, now: now)
            default: result = xeroPayment(fields, books: &books, errors: &errors, created: &created, now: now)
            }
            if let result, errors.isEmpty {
                var answer = result
                if !summarize { answer["StatusAttributeString"] = "OK" }
                answers.append(.object(answer))
                if let created { pending.append(created) }
            } else {
                failed = true
                var answer = fields
                answer["ValidationErrors"] = .array(errors.map { ["Message": .string($0)] })
                answer["HasErrors"] = true
                answer["StatusAttributeString"] = "ERROR"
                answers.append(.object(answer))
            }
        }
        if summarize && failed {
            return xeroValidation(elements: answers)
        }
        xero[company.id] = books
        for (id, number) in pending {
            record(company, entity: Self.xeroEntity[resource]!, id: id, number: number, key: key, now: now)
        }
        return xeroEnvelope(resource, answers, now: now)
    }

    private func xeroContact(_ fields: [String: JSONValue], create: Bool, books: inout XeroCompany, errors: inout [String],
                             created: inout (String, String?)?, now: Date) -> [String: JSONValue]?
    {
        var existingID = fields["ContactID"]?.string?.lowercased()
        let name = fields["Name"]?.string?.trimmingCharacters(in: .whitespaces)
        if let id = existingID, books.records["Contacts"]?[id] == nil {
            errors.append("The contact with ContactID \(id) could not be found.")
            return nil
        }
        if existingID == nil, !create, let name,
           let match = books.all("Contacts").first(where: { $0["Name"]?.string?.lowercased() == name.lowercased() && $0["ContactStatus"]?.string == "ACTIVE" })
        {
            existingID = match["ContactID"]?.string   // POST without an id updates the contact of that name.
        }
        var contact = existingID.flatMap { books.records["Contacts"]?[$0] } ?? [:]
        if existingID == nil {
            guard let name, !name.isEmpty else {
                errors.append("The contact name must be specified.")
                return nil
            }
            contact["ContactStatus"] = "ACTIVE"
        }
        for (field, value) in fields where field != "ContactID" { contact[field] = value }
        if let name = contact["Name"]?.string {
            if name.count > 255 { errors.append("The contact name must not exceed 255 characters.") }
            if books.all("Contacts").contains(where: {
                $0["ContactID"]?.string != existingID && $0["ContactStatus"]?.string == "ACTIVE" && $0["Name"]?.string?.lowercased() == name.lowercased()
            }) {
                errors.append("The contact name \(name) is already assigned to another contact. The contact name must be unique across all active contacts.")
            }
        }
        if let number = contact["ContactNumber"]?.string, number.count > 50 {
            errors.append("The Contact Number must not exceed 50 characters.")
        }
        guard errors.isEmpty else { return nil }
        let id = existingID ?? UUID().uuidString.lowercased()
        contact["ContactID"] = .string(id)
        contact["UpdatedDateUTC"] = .string(SimClock.xeroDate(now))
        contact["HasValidationErrors"] = false
        books.store("Contacts", id: id, contact, now: now)
        if existingID == nil { created = (id, contact["Name"]?.string) }
        return contact
    }

    private static func xeroDay(_ value: JSONValue?, default fallback: String) -> String? {
        guard let text = value?.string else { return fallback }
        if text.hasPrefix("/Date("), let millis = Int64(text.dropFirst(6).prefix { $0.isNumber || $0 == "-" }) {
            return SimClock.day(Date(timeIntervalSince1970: TimeInterval(millis) / 1000))
        }
        let day = String(text.prefix(10))
        guard day.count == 10, SimClock.parseDay(day) != nil else { return nil }
        return day
    }

    private func xeroInvoice(_ fields: [String: JSONValue], put: Bool, unitDecimals: Int, books: inout XeroCompany, errors: inout [String],
                             created: inout (String, String?)?, now: Date) -> [String: JSONValue]?
    {
        var existingID = fields["InvoiceID"]?.string?.lowercased()
        if let id = existingID, books.records["Invoices"]?[id] == nil {
            errors.append("The invoice with InvoiceID \(id) could not be found.")
            return nil
        }
        if existingID == nil, !put, let number = fields["InvoiceNumber"]?.string,
           let match = books.all("Invoices").first(where: { $0["InvoiceNumber"]?.string == number && $0["Status"]?.string != "DELETED" })
        {
            existingID = match["InvoiceID"]?.string   // POST with a known InvoiceNumber updates that invoice.
        }
        let previous = existingID.flatMap { books.records["Invoices"]?[$0] }
        var invoice = previous ?? [:]
        let oldStatus = previous?["Status"]?.string
        let newStatus = fields["Status"]?.string ?? oldStatus ?? "DRAFT"
        let paid = previous?["AmountPaid"]?.decimal ?? 0

        if let oldStatus {
            if oldStatus == "VOIDED" || oldStatus == "DELETED" {
                errors.append("Invoice not of valid status for modification")
                return nil
            }
            if paid > 0 {
                errors.append("This document cannot be edited as it has a payment or credit note allocated to it.")
                return nil
            }
            if newStatus == "VOIDED" && !["AUTHORISED", "SUBMITTED"].contains(oldStatus) {
                errors.append("Invoice not of valid status for modification")
                return nil
            }
            if newStatus == "DELETED" && !["DRAFT", "SUBMITTED"].contains(oldStatus) {
                errors.append("Invoice not of valid status for modification")
                return nil
            }
            if ["AUTHORISED", "SUBMITTED"].contains(oldStatus) && newStatus == "DRAFT" {
                errors.append("Invoice not of valid status for modification")
                return nil
            }
        } else if !["DRAFT", "SUBMITTED", "AUTHORISED"].contains(newStatus) {
            errors.append("Invoice not of valid status for creation")
            return nil
        }
        for (field, value) in fields where field != "InvoiceID" { invoice[field] = value }
        invoice["Status"] = .string(newStatus)

        guard let type = invoice["Type"]?.string, ["ACCREC", "ACCPAY"].contains(type) else {
            errors.append("Invoice Type must be specified (ACCREC or ACCPAY).")
            return nil
        }
        // Contact: by id, or by name (found or created, as Xero does).
        if let contactID = invoice["Contact"]?["ContactID"]?.string?.lowercased() {
            guard let contact = books.records["Contacts"]?[contactID] else {
                errors.append("The contact with ContactID \(contactID) could not be found.")
                return nil
            }
            invoice["Contact"] = ["ContactID": .string(contactID), "Name": contact["Name"] ?? .null]
        } else if let name = invoice["Contact"]?["Name"]?.string, !name.isEmpty {
            var ignored: (String, String?)?
            guard let contact = xeroContact(["Name": .string(name)], create: false, books: &books, errors: &errors, created: &ignored, now: now) else { return nil }
            invoice["Contact"] = ["ContactID": contact["ContactID"] ?? .null, "Name": contact["Name"] ?? .null]
        } else {
            errors.append("A Contact must be specified for this type of transaction")
            return nil
        }
        guard let date = Self.xeroDay(invoice["Date"], default: SimClock.day(now)) else { errors.append("Date is invalid."); return nil }
        guard let due = Self.xeroDay(invoice["DueDate"], default: date) else { errors.append("Due Date is invalid."); return nil }
        if invoice["DueDate"] == nil && newStatus != "DRAFT" { errors.append("Due Date is required.") }
        let amountTypes = invoice["LineAmountTypes"]?.string ?? "Exclusive"
        guard ["Exclusive", "Inclusive", "NoTax"].contains(amountTypes) else { errors.append("LineAmountTypes is invalid."); return nil }

        // Lines and totals.
        var subtotal = Decimal(0)
        var tax = Decimal(0)
        var lines: [JSONValue] = []
        let lineItems = invoice["LineItems"]?.array ?? []
        if lineItems.isEmpty && newStatus != "DRAFT" && newStatus != "DELETED" && newStatus != "VOIDED" {
            errors.append("Invoices must have at least one line item.")
        }
        for item in lineItems {
            guard var line = item.object else { errors.append("A line item is not an object."); continue }
            if (line["Description"]?.string ?? "").isEmpty && line["ItemCode"] == nil {
                errors.append("The description field is mandatory for each line item.")
            }
            let quantity = line["Quantity"]?.decimal ?? 1
            let unit = line["UnitAmount"]?.decimal.map { $0.rounded(unitDecimals) }
            var amount = line["LineAmount"]?.decimal?.rounded(2)
            if let unit {
                let discount = line["DiscountRate"]?.decimal ?? 0
                let expected = (quantity * unit * (100 - discount) / 100).rounded(2)
                if let given = amount, (given - expected).magnitude > Decimal(string: "0.01")! {
                    errors.append("The line amount \(given) does not equal Quantity x UnitAmount (less discount) = \(expected).")
                }
                amount = amount ?? expected
                line["UnitAmount"] = .number(unit)
            }
            let lineAmount = amount ?? 0
            let isPriced = lineAmount != 0
            if isPriced && ["AUTHORISED", "SUBMITTED"].contains(newStatus) && (line["AccountCode"]?.string ?? "").isEmpty && line["ItemCode"] == nil {
                errors.append("Account code must be specified for each line item with an amount.")
            }
            if let tracking = line["Tracking"]?.array, tracking.count > 2 {
                errors.append("A line item can have at most 2 tracking categories.")
            }
            let lineTax = amountTypes == "NoTax" ? 0 : (line["TaxAmount"]?.decimal ?? 0).rounded(2)
            line["Quantity"] = .number(quantity)
            line["LineAmount"] = .number(lineAmount)
            line["TaxAmount"] = .number(lineTax)
            if line["LineItemID"] == nil { line["LineItemID"] = .string(UUID().uuidString.lowercased()) }
            subtotal += lineAmount
            tax += lineTax
            lines.append(.object(line))
        }
        if amountTypes == "Inclusive" { subtotal -= tax }
        let total = subtotal + tax

        // Number: unique among this organisation's invoices of the same type.
        if invoice["InvoiceNumber"] == nil && type == "ACCREC" {
            invoice["InvoiceNumber"] = .string(String(format: "INV-%04d", books.nextInvoiceNumber))
            books.nextInvoiceNumber += 1
        }
        if let number = invoice["InvoiceNumber"]?.string {
            if number.count > 255 { errors.append("Invoice number must not exceed 255 characters.") }
            if books.all("Invoices").contains(where: {
                $0["InvoiceID"]?.string != existingID && $0["Type"]?.string == type && $0["Status"]?.string != "DELETED"
                    && $0["InvoiceNumber"]?.string == number
            }) {
                errors.append("Invoice # must be unique.")
            }
        }
        guard errors.isEmpty else { return nil }
        let id = existingID ?? UUID().uuidString.lowercased()
        invoice["InvoiceID"] = .string(id)
        invoice["LineItems"] = .array(lines)
        invoice["LineAmountTypes"] = .string(amountTypes)
        invoice["Date"] = .string(SimClock.xeroDate(SimClock.parseDay(date)!))
        invoice["DateString"] = .string("\(date)T00:00:00")
        invoice["DueDate"] = .string(SimClock.xeroDate(SimClock.parseDay(due)!))
        invoice["DueDateString"] = .string("\(due)T00:00:00")
        invoice["SubTotal"] = .number(subtotal)
        invoice["TotalTax"] = .number(tax)
        invoice["Total"] = .number(total)
        invoice["AmountPaid"] = .number(paid)
        invoice["AmountCredited"] = .number(0)
        invoice["AmountDue"] = .number(newStatus == "VOIDED" || newStatus == "DELETED" ? 0 : total - paid)
        if invoice["CurrencyCode"] == nil { invoice["CurrencyCode"] = "USD" }
        if invoice["Payments"] == nil { invoice["Payments"] = [] }
        invoice["UpdatedDateUTC"] = .string(SimClock.xeroDate(now))
        invoice["HasErrors"] = false
        books.store("Invoices", id: id, invoice, now: now)
        if previous == nil { created = (id, invoice["InvoiceNumber"]?.string) }
        return invoice
    }

    private func xeroPayment(_ fields: [String: JSONValue], books: inout XeroCompany, errors: inout [String],
                             created: inout (String, String?)?, now: Date) -> [String: JSONValue]?
    {
        let invoiceRef = fields["Invoice"]
        let invoiceID = invoiceRef?["InvoiceID"]?.string?.lowercased()
            ?? invoiceRef?["InvoiceNumber"]?.string.flatMap { number in books.all("Invoices").first { $0["InvoiceNumber"]?.string == number }?["InvoiceID"]?.string }
        guard let invoiceID, var invoice = books.records["Invoices"]?[invoiceID] else {
            errors.append("Invoice could not be found.")
            return nil
        }
        let account = fields["Account"]
        if account?["AccountID"]?.string == nil && account?["Code"]?.string == nil {
            errors.append("Account code or AccountID must be specified.")
        }
        guard let amount = fields["Amount"]?.decimal, amount > 0 else {
            errors.append("Payment amount must be greater than zero.")
            return nil
        }
        if invoice["Status"]?.string != "AUTHORISED" {
            errors.append("Payments can only be made against Authorised documents.")
        }
        let due = invoice["AmountDue"]?.decimal ?? 0
        if amount > due { errors.append("The payment amount (\(amount)) exceeds the amount outstanding on this document (\(due)).") }
        guard let day = Self.xeroDay(fields["Date"], default: SimClock.day(now)) else { errors.append("Date is invalid."); return nil }
        guard errors.isEmpty else { return nil }
        let id = UUID().uuidString.lowercased()
        var payment = fields
        payment["PaymentID"] = .string(id)
        payment["Date"] = .string(SimClock.xeroDate(SimClock.parseDay(day)!))
        payment["Amount"] = .number(amount)
        payment["Status"] = "AUTHORISED"
        payment["PaymentType"] = "ACCRECPAYMENT"
        payment["Invoice"] = [
            "InvoiceID": .string(invoiceID), "InvoiceNumber": invoice["InvoiceNumber"] ?? .null, "Type": invoice["Type"] ?? .null,
            "Contact": invoice["Contact"] ?? .null,
        ]
        payment["UpdatedDateUTC"] = .string(SimClock.xeroDate(now))
        payment["HasValidationErrors"] = false
        books.store("Payments", id: id, payment, now: now)
        let paid = (invoice["AmountPaid"]?.decimal ?? 0) + amount
        invoice["AmountPaid"] = .number(paid)
        invoice["AmountDue"] = .number(due - amount)
        if due - amount == 0 {
            invoice["Status"] = "PAID"
            invoice["FullyPaidOnDate"] = payment["Date"]
        }
        var payments = invoice["Payments"]?.array ?? []
        payments.append(["PaymentID": .string(id), "Date": payment["Date"]!, "Amount": .number(amount), "Reference": fields["Reference"] ?? ""])
        invoice["Payments"] = .array(payments)
        invoice["UpdatedDateUTC"] = .string(SimClock.xeroDate(now))
        books.store("Invoices", id: invoiceID, invoice, now: now)
        created = (id, fields["Reference"]?.string)
        return payment
    }
}

/// Xero `where` filters (subset): clauses joined by `AND` / `&&`, each `Field == "value"`,
/// `Field != "value"`, `Field == Guid("…")`, `Field == 12.5`, `Field == true`, `Field.Contains("x")`,
/// `Field.StartsWith("x")`. Comparisons ignore case; fields may be dotted (`Contact.ContactID`).
struct XeroWhere {
    struct ParseError: Error { var message: String }

    var field: String
    var op: String
    var value: String

    func matches(_ row: [String: JSONValue]) -> Bool {
        var current: JSONValue? = .object(row)
        for part in field.split(separator: ".") { current = current?.object?.first { $0.key.lowercased() == part.lowercased() }?.value }
        let actual: String? = switch current {
        case .string(let text)?: text
        case .number(let number)?: number.description
        case .bool(let flag)?: flag ? "true" : "false"
        default: nil
        }
        let a = (actual ?? "").lowercased(), b = value.lowercased()
        switch op {
        case "==": return actual != nil && (a == b || (Decimal(string: a) != nil && Decimal(string: a) == Decimal(string: b)))
        case "!=": return a != b
        case "Contains": return a.contains(b)
        case "StartsWith": return a.hasPrefix(b)
        case "EndsWith": return a.hasSuffix(b)
        default: return false
        }
    }

    static func parse(_ text: String) throws(ParseError) -> [XeroWhere] {
        var clauses: [XeroWhere] = []
        var remaining = Substring(text)
        while true {
            remaining = remaining.drop { $0.isWhitespace }
            let field = remaining.prefix { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" }
            guard !field.isEmpty else { throw ParseError(message: "expected a field name") }
            remaining = remaining.dropFirst(field.count).drop { $0.isWhitespace }
            var name = String(field)
            var op: String
            if remaining.hasPrefix("==") || remaining.hasPrefix("!=") {
                op = String(remaining.prefix(2))
                remaining = remaining.dropFirst(2).drop { $0.isWhitespace }
            } else if remaining.hasPrefix("("), let dot = name.lastIndex(of: "."),
                      ["Contains", "StartsWith", "EndsWith"].contains(String(name[name.index(after: dot)...]))
            {
                op = String(name[name.index(after: dot)...])
                name = String(name[..<dot])
                remaining = remaining.dropFirst()
            } else {
                throw ParseError(message: "expected == or != after \(name)")
            }
            var value: String
            if remaining.hasPrefix("Guid(") { remaining = remaining.dropFirst(5) }
            if remaining.hasPrefix("\"") {
                remaining = remaining.dropFirst()
                value = ""
                var closed = false
                while let character = remaining.first {
                    remaining = remaining.dropFirst()
                    if character == "\\", let next = remaining.first { value.append(next); remaining = remaining.dropFirst(); continue }
                    if character == "\"" { closed = true; break }
                    value.append(character)
                }
                guard closed else { throw ParseError(message: "unterminated string") }
            } else {
                let literal = remaining.prefix { !$0.isWhitespace && $0 != ")" }
                guard !literal.isEmpty else { throw ParseError(message: "expected a value") }
                value = String(literal)
                remaining = remaining.dropFirst(literal.count)
            }
            remaining = remaining.drop { $0.isWhitespace }
            while remaining.hasPrefix(")") { remaining = remaining.dropFirst().drop { $0.isWhitespace } }
            clauses.append(XeroWhere(field: name, op: op, value: value))
            if remaining.isEmpty { return clauses }
            if remaining.hasPrefix("&&") { remaining = remaining.dropFirst(2); continue }
            if remaining.uppercased().hasPrefix("AND ") { remaining = remaining.dropFirst(4); continue }
            throw ParseError(message: "only AND-joined clauses are supported")
        }
    }
}
