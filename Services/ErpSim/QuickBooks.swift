import Domain
import Foundation

/// The books of one simulated QuickBooks Online company (realm).
struct QuickBooksCompany {
    var nextID = 1
    var nextDocNumber = 1001
    /// entity (`Customer`, `Invoice`, `Payment`) → Id → object.
    var entities: [String: [String: [String: JSONValue]]] = [:]
    /// Ids in creation order per entity (queries answer in this order).
    var order: [String: [String]] = [:]
    /// Invoice Id → amount applied by payments.
    var applied: [String: Decimal] = [:]
    var voided: Set<String> = []
    /// entity → Id → (deletion time, last `MetaData`): what Change Data Capture reports as `Deleted`.
    var deleted: [String: [String: (at: Date, meta: JSONValue?)]] = [:]

    /// A new company: its default items and tax rates (reference data read by pulls, Ids of their own), stamped now.
    init(now: Date = Date()) {
        let stamp = JSONValue.string(SimClock.iso8601(now))
        let meta: JSONValue = ["CreateTime": stamp, "LastUpdatedTime": stamp]
        let items: [(String, String, String, String, Decimal)] = [
            ("1", "Labor", "LABOR", "Service", 120), ("2", "Parts", "PARTS", "NonInventory", 0),
            ("3", "Shop supplies fee", "SHOP-FEE", "Service", 15),
        ]
        for (id, name, sku, type, price) in items {
            store(
                "Item",
                ["Id": .string(id), "SyncToken": "0", "Name": .string(name), "Sku": .string(sku), "Active": true,
                 "Type": .string(type), "UnitPrice": .number(price), "Taxable": true,
                 "IncomeAccountRef": ["value": "79", "name": "Sales of Product Income"], "domain": "QBO",
                 "sparse": false, "MetaData": meta])
        }
        let rates: [(String, String, Decimal)] = [
            ("1", "California State", Decimal(string: "7.25")!), ("2", "Alameda County", Decimal(string: "1.00")!),
        ]
        for (id, name, rate) in rates {
            store(
                "TaxRate",
                ["Id": .string(id), "SyncToken": "0", "Name": .string(name), "Description": .string(name),
                 "Active": true, "RateValue": .number(rate), "AgencyRef": ["value": "1"], "SpecialTaxType": "NONE",
                 "DisplayType": "ReadOnly", "domain": "QBO", "sparse": false, "MetaData": meta])
        }
    }

    mutating func newID() -> String {
        defer { nextID += 1 }
        return "\(nextID)"
    }

    func all(_ entity: String) -> [[String: JSONValue]] {
        (order[entity] ?? []).compactMap { entities[entity]?[$0] }
    }

    mutating func store(_ entity: String, _ object: [String: JSONValue]) {
        let id = object["Id"]?.string ?? ""
        if entities[entity]?[id] == nil { order[entity, default: []].append(id) }
        entities[entity, default: [:]][id] = object
    }

    mutating func remove(_ entity: String, id: String) {
        entities[entity]?[id] = nil
        order[entity]?.removeAll { $0 == id }
    }
}

/// A QuickBooks fault: HTTP status, fault type and `Error[]` entries (Message, Detail, code, element).
struct QuickBooksFault: Error {
    struct Entry: Sendable {
        var message: String
        var detail: String
        var code: String
        var element: String?
    }

    var status = 400
    var type = "ValidationFault"
    var errors: [Entry]

    init(status: Int = 400, type: String = "ValidationFault", _ message: String, _ detail: String, code: String, element: String? = nil) {
        self.status = status
        self.type = type
        self.errors = [Entry(message: message, detail: detail, code: code, element: element)]
    }

    var faultJSON: JSONValue {
        .object([
            "Error": .array(errors.map { entry in
                var fields: [String: JSONValue] = [
                    "Message": .string(entry.message), "Detail": .string(entry.detail), "code": .string(entry.code),
                ]
                fields["element"] = .string(entry.element ?? "")
                return .object(fields)
            }),
            "type": .string(type),
        ])
    }

    static func required(_ element: String) -> QuickBooksFault {
        QuickBooksFault("Required param missing, need to supply the required value for the API",
                        "Required parameter \(element) is missing in the request", code: "2020", element: element)
    }

    static func notFound(_ entity: String, _ id: String) -> QuickBooksFault {
        QuickBooksFault("Object Not Found",
                        "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees. (\(entity) Id=\(id))",
                        code: "610", element: "")
    }

    static func invalidReference(_ element: String, _ id: String) -> QuickBooksFault {
        QuickBooksFault("Invalid Reference Id", "Invalid Reference Id : \(element) Id=\(id) does not exist", code: "2500", element: element)
    }

    static func business(_ detail: String) -> QuickBooksFault {
        QuickBooksFault("A business validation error has occurred while processing your request",
                        "Business Validation Error: \(detail)", code: "6000", element: "")
    }
}

extension Simulator {
    func quickBooksFault(status: Int, type: String, errors: [(String, String, String, String?)], now: Date,
                         headers: [(String, String)] = []) -> SimResponse
    {
        var fault = QuickBooksFault(status: status, type: type, "", "", code: "")
        fault.errors = errors.map { QuickBooksFault.Entry(message: $0.0, detail: $0.1, code: $0.2, element: $0.3) }
        return quickBooksFaultResponse(fault, now: now, headers: headers)
    }

    func quickBooksFaultResponse(_ fault: QuickBooksFault, now: Date, headers: [(String, String)] = []) -> SimResponse {
        .json(fault.status, ["Fault": fault.faultJSON, "time": .string(SimClock.iso8601(now))],
              headers: [("intuit_tid", randomToken("1-", bytes: 12))] + headers)
    }

    private static let quickBooksEntities = ["customer": "Customer", "invoice": "Invoice", "payment": "Payment"]
    /// What queries and CDC read: the written entities and the reference data (`Item`, `TaxRate`, read-only here).
    private static let quickBooksReadable = quickBooksEntities.merging(["item": "Item", "taxrate": "TaxRate"]) { a, _ in a }

    /// `/v3/company/{realmId}/…` after authentication, faults and throttling.
    func quickBooksAPI(_ request: SimRequest, company: SimCompany, rest: [String], now: Date) -> SimResponse {
        var response = quickBooksRoute(request, company: company, rest: rest, now: now)
        response.headers.append(("intuit_tid", randomToken("1-", bytes: 12)))
        if let minor = request.query["minorversion"] { response.headers.append(("X-Erp-Sim-Minorversion", minor)) }
        return response
    }

    private func quickBooksRoute(_ request: SimRequest, company: SimCompany, rest: [String], now: Date) -> SimResponse {
        if configuration.requireMinorVersion {
            guard let text = request.query["minorversion"], let minor = Int(text), minor >= 1 else {
                return quickBooksFaultResponse(
                    QuickBooksFault("Invalid minorversion", "erp-sim requires minorversion (send minorversion=75; Intuit treats 1-74 as 75)",
                                    code: "2010", element: "minorversion"), now: now)
            }
        }
        guard (request.header("accept") ?? "").lowercased().contains("json") else {
            return quickBooksFaultResponse(
                QuickBooksFault("Unsupported Accept header", "QuickBooks answers XML unless the request sends Accept: application/json; erp-sim answers JSON only",
                                code: "2010", element: "Accept"), now: now)
        }
        let resource = rest[0].lowercased()
        if resource == "query" {
            let text = request.method == "GET" ? request.query["query"] : request.bodyText
            guard let text, !text.isEmpty else { return quickBooksFaultResponse(.required("query"), now: now) }
            do {
                let result = try quickBooksQuery(text, company: company)
                return .json(200, ["QueryResponse": result, "time": .string(SimClock.iso8601(now))])
            } catch {
                return quickBooksFaultResponse(error, now: now)
            }
        }
        if resource == "cdc" {
            guard request.method == "GET" else { return .text(405, "Method Not Allowed") }
            do throws(QuickBooksFault) {
                let result = try quickBooksChangeDataCapture(request, company: company, now: now)
                return .json(200, ["CDCResponse": result, "time": .string(SimClock.iso8601(now))])
            } catch {
                return quickBooksFaultResponse(error, now: now)
            }
        }
        if resource == "batch" {
            guard request.method == "POST" else { return .text(405, "Method Not Allowed") }
            return quickBooksWithRequestID(request, company: company, now: now) { simulator in
                simulator.quickBooksBatch(request, company: company, now: now)
            }
        }
        guard let entity = Self.quickBooksEntities[resource] else {
            return quickBooksFaultResponse(QuickBooksFault("Unsupported Operation", "Operation \(rest.joined(separator: "/")) is not supported by erp-sim", code: "4001"), now: now)
        }
        if request.method == "GET" {
            guard rest.count == 2 else { return .text(405, "Method Not Allowed") }
            guard let object = quickBooks[company.id]?.entities[entity]?[rest[1]] else {
                return quickBooksFaultResponse(.notFound(entity, rest[1]), now: now)
            }
            return .json(200, [entity: .object(object), "time": .string(SimClock.iso8601(now))])
        }
        guard request.method == "POST", rest.count == 1 else { return .text(405, "Method Not Allowed") }
        guard (request.header("content-type") ?? "").lowercased().contains("json") else {
            return quickBooksFaultResponse(
                QuickBooksFault("Unsupported Media Type", "Content-Type must be application/json", code: "2010", element: "Content-Type"), now: now)
        }
        return quickBooksWithRequestID(request, company: company, now: now) { simulator in
            guard case .object(let body)? = JSONValue.parse(request.body) else {
                return simulator.quickBooksFaultResponse(
                    QuickBooksFault("Request has invalid or unsupported property", "The request body is not a JSON object", code: "2010"), now: now)
            }
            do throws(QuickBooksFault) {
                let object = try simulator.quickBooksWrite(entity: entity, operation: request.query["operation"], body: body,
                                                           company: company, key: request.query["requestid"], now: now)
                return .json(200, [entity: .object(object), "time": .string(SimClock.iso8601(now))])
            } catch {
                return simulator.quickBooksFaultResponse(error, now: now)
            }
        }
    }

    /// `requestid`: the same id answers with the first answer and writes nothing again.
    private func quickBooksWithRequestID(_ request: SimRequest, company: SimCompany, now: Date,
                                         _ body: (isolated Simulator) -> SimResponse) -> SimResponse
    {
        let key = request.query["requestid"]
        let fingerprint = Array("\(request.path)?\(request.query["operation"] ?? "")".utf8) + request.body
        switch replay(company, key: key, fingerprint: fingerprint) {
        case .hit(let cached), .conflict(let cached): return cached
        case .miss: break
        }
        let response = body(self)
        // Faults that come from the request itself are answered again for the same id, as are successes.
        if response.status < 500 { remember(company, key: key, fingerprint: fingerprint, response: response) }
        return response
    }

    // MARK: Change Data Capture

    /// `GET /cdc?entities=Invoice,Payment&changedSince=<ISO>`: per entity the objects changed since then, and the
    /// deleted ones as `{"Id", "status": "Deleted", "domain", "MetaData"}`; `changedSince` at most 30 days back.
    func quickBooksChangeDataCapture(_ request: SimRequest, company: SimCompany, now: Date) throws(QuickBooksFault)
        -> JSONValue
    {
        guard let names = request.query["entities"], !names.isEmpty else { throw .required("entities") }
        guard let text = request.query["changedSince"], !text.isEmpty else { throw .required("changedSince") }
        guard let since = QuickBooksQuery.parseInstant(text) else {
            throw QuickBooksFault("Invalid Date", "changedSince \(text) is not an ISO 8601 date-time", code: "2010",
                                  element: "changedSince")
        }
        guard now.timeIntervalSince(since) <= 30 * 86_400 else {
            throw QuickBooksFault("Invalid Request", "changedSince must be within the last 30 days", code: "2010",
                                  element: "changedSince")
        }
        let books = quickBooks[company.id] ?? QuickBooksCompany()
        var responses: [JSONValue] = []
        for raw in names.split(separator: ",") {
            let name = raw.trimmingCharacters(in: .whitespaces)
            guard let entity = Self.quickBooksReadable[name.lowercased()] else {
                throw QuickBooksFault("Unsupported Operation", "CDC does not support entity \(name)", code: "4001")
            }
            var rows: [JSONValue] = books.all(entity).filter { row in
                guard let updated = QuickBooksQuery.value(row, "MetaData.LastUpdatedTime").flatMap(QuickBooksQuery.parseInstant) else {
                    return false
                }
                return updated >= since
            }.map { JSONValue.object($0) }
            for (id, deletion) in (books.deleted[entity] ?? [:]).sorted(by: { $0.value.at < $1.value.at })
            where deletion.at >= since {
                var meta = deletion.meta?.object ?? [:]
                meta["LastUpdatedTime"] = .string(SimClock.iso8601(deletion.at))
                rows.append(["Id": .string(id), "status": "Deleted", "domain": "QBO", "MetaData": .object(meta)])
            }
            responses.append(
                [entity: .array(rows), "startPosition": .number(1), "maxResults": .number(Decimal(rows.count)),
                 "totalCount": .number(Decimal(rows.count))])
        }
        return .array([["QueryResponse": .array(responses)]])
    }

    // MARK: Writes

    func quickBooksWrite(entity: String, operation: String?, body: [String: JSONValue], company: SimCompany, key: String?,
                         now: Date) throws(QuickBooksFault) -> [String: JSONValue]
    {
        var books = quickBooks[company.id] ?? QuickBooksCompany()
        let stamp = JSONValue.string(SimClock.iso8601(now))

        switch operation?.lowercased() {
        case "void", "delete":
            guard entity == "Invoice" || entity == "Payment" else {
                throw QuickBooksFault("Unsupported Operation", "Operation \(operation!) is not supported for \(entity)", code: "4001")
            }
            guard let id = body["Id"]?.string else { throw .required("Id") }
            guard var existing = books.entities[entity]?[id] else { throw .notFound(entity, id) }
            try Self.checkSyncToken(body, existing)
            if operation?.lowercased() == "delete" {
                if entity == "Invoice", (books.applied[id] ?? 0) > 0 {
                    throw .business("This invoice has payments applied; remove them before deleting it.")
                }
                books.remove(entity, id: id)
                books.deleted[entity, default: [:]][id] = (now, existing["MetaData"])
                quickBooks[company.id] = books
                return ["Id": .string(id), "status": "Deleted", "domain": "QBO"]
            }
            books.voided.insert(id)
            let note = existing["PrivateNote"]?.string
            existing["PrivateNote"] = .string(note.map { "Voided - \($0)" } ?? "Voided")
            existing["TotalAmt"] = .number(0)
            existing["Balance"] = .number(0)
            Self.bump(&existing, stamp)
            books.store(entity, existing)
            quickBooks[company.id] = books
            return existing
        case nil, "create", "update":
            break
        default:
            throw QuickBooksFault("Unsupported Operation", "Operation \(operation!) is not supported", code: "4001")
        }

        if let id = body["Id"]?.string {
            // Update: full, or sparse with "sparse": true.
            guard var existing = books.entities[entity]?[id] else { throw .notFound(entity, id) }
            try Self.checkSyncToken(body, existing)
            if entity == "Payment" { throw .business("erp-sim does not update payments") }
            let keep = ["Id", "MetaData", "domain", "TotalAmt", "Balance", "Active"]
            if body["sparse"]?.bool == true {
                for (field, value) in body where !keep.contains(field) { existing[field] = value }
            } else {
                var replaced = body
                for field in keep { replaced[field] = existing[field] }
                existing = replaced
            }
            existing["sparse"] = false
            switch entity {
            case "Customer": try Self.validateCustomer(&existing, books: books, selfID: id)
            default: try Self.computeInvoice(&existing, books: books, selfID: id, now: now)
            }
            Self.bump(&existing, stamp)
            books.store(entity, existing)
            quickBooks[company.id] = books
            return existing
        }

        var object = body
        object["sparse"] = nil
        let id = "\(books.nextID)"
        books.nextID += 1
        object["Id"] = .string(id)
        object["SyncToken"] = "0"
        object["domain"] = "QBO"
        object["sparse"] = false
        object["MetaData"] = ["CreateTime": stamp, "LastUpdatedTime": stamp]
        var number: String?
        switch entity {
        case "Customer":
            try Self.validateCustomer(&object, books: books, selfID: nil)
            object["Active"] = true
            object["Balance"] = .number(0)
            object["BalanceWithJobs"] = .number(0)
            number = object["DisplayName"]?.string
        case "Invoice":
            if object["DocNumber"] == nil {
                object["DocNumber"] = .string("\(books.nextDocNumber)")
                books.nextDocNumber += 1
            }
            try Self.computeInvoice(&object, books: books, selfID: nil, now: now)
            number = object["DocNumber"]?.string
        default:
            try Self.applyPayment(&object, books: &books, now: now, stamp: stamp)
            number = object["PaymentRefNum"]?.string
        }
        books.store(entity, object)
        quickBooks[company.id] = books
        record(company, entity: entity, id: id, number: number, key: key, now: now)
        return object
    }

    private static func bump(_ object: inout [String: JSONValue], _ stamp: JSONValue) {
        let token = Int(object["SyncToken"]?.string ?? "0") ?? 0
        object["SyncToken"] = .string("\(token + 1)")
        var meta = object["MetaData"]?.object ?? [:]
        meta["LastUpdatedTime"] = stamp
        object["MetaData"] = .object(meta)
    }

    private static func checkSyncToken(_ body: [String: JSONValue], _ existing: [String: JSONValue]) throws(QuickBooksFault) {
        guard let token = body["SyncToken"]?.string else { throw .required("SyncToken") }
        guard token == existing["SyncToken"]?.string else {
            throw QuickBooksFault("Stale Object Error",
                                  "Stale Object Error : You and erp-sim were working on this at the same time. erp-sim finished before you did, so your work was not saved.",
                                  code: "5010", element: "")
        }
    }

    private static func validateCustomer(_ object: inout [String: JSONValue], books: QuickBooksCompany, selfID: String?) throws(QuickBooksFault) {
        var name = object["DisplayName"]?.string
        if name == nil || name!.isEmpty {
            let parts = ["Title", "GivenName", "MiddleName", "FamilyName", "Suffix"].compactMap { object[$0]?.string }.filter { !$0.isEmpty }
            name = parts.isEmpty ? object["CompanyName"]?.string : parts.joined(separator: " ")
        }
        guard let displayName = name?.trimmingCharacters(in: .whitespaces), !displayName.isEmpty else { throw .required("DisplayName") }
        guard displayName.count <= 500 else {
            throw QuickBooksFault("String length is either shorter or longer than supported by specification",
                                  "String length specified does not match the supported length. Min:0 Max:500 supplied length:\(displayName.count)",
                                  code: "2050", element: "DisplayName")
        }
        guard !displayName.contains(":") else {
            throw QuickBooksFault("Invalid character", "DisplayName cannot contain a colon (:)", code: "2040", element: "DisplayName")
        }
        if let clash = books.all("Customer").first(where: {
            $0["Id"]?.string != selfID && $0["Active"]?.bool != false
                && $0["DisplayName"]?.string?.lowercased() == displayName.lowercased()
        }) {
            throw QuickBooksFault("Duplicate Name Exists Error",
                                  "The name supplied already exists. : Id=\(clash["Id"]?.string ?? "")", code: "6240", element: "")
        }
        object["DisplayName"] = .string(displayName)
        object["FullyQualifiedName"] = .string(displayName)
        if object["PrintOnCheckName"] == nil { object["PrintOnCheckName"] = .string(displayName) }
    }

    /// Validates an invoice and computes its lines, `TotalAmt` (lines − discounts + `TxnTaxDetail.TotalTax`) and `Balance`.
    private static func computeInvoice(_ object: inout [String: JSONValue], books: QuickBooksCompany, selfID: String?, now: Date) throws(QuickBooksFault) {
        guard let customerID = object["CustomerRef"]?["value"]?.string else { throw .required("CustomerRef") }
        guard books.entities["Customer"]?[customerID] != nil else { throw .invalidReference("CustomerRef", customerID) }
        guard let lines = object["Line"]?.array, !lines.isEmpty else { throw .required("Line") }
        if let number = object["DocNumber"]?.string {
            guard number.count <= 21 else {
                throw QuickBooksFault("String length is either shorter or longer than supported by specification",
                                      "String length specified does not match the supported length. Min:0 Max:21 supplied length:\(number.count)",
                                      code: "2050", element: "DocNumber")
            }
            if let clash = books.all("Invoice").first(where: { $0["Id"]?.string != selfID && $0["DocNumber"]?.string == number }) {
                throw QuickBooksFault("Duplicate Document Number Error",
                                      "Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=\(number) is assigned to TxnType=Invoice with TxnId=\(clash["Id"]?.string ?? "")",
                                      code: "6140", element: "")
            }
        }
        var subtotal = Decimal(0)
        var discount = Decimal(0)
        var output: [JSONValue] = []
        var discountLines: [(Int, [String: JSONValue])] = []
        for line in lines {
            guard var fields = line.object else { throw .required("Line") }
            guard let detailType = fields["DetailType"]?.string else { throw .required("Line.DetailType") }
            switch detailType {
            case "SalesItemLineDetail", "GroupLineDetail":
                guard let amount = fields["Amount"]?.decimal else { throw .required("Line.Amount") }
                let detail = fields["SalesItemLineDetail"]
                if let quantity = detail?["Qty"]?.decimal, let price = detail?["UnitPrice"]?.decimal {
                    let product = (quantity * price).rounded(2)
                    if (product - amount.rounded(2)).magnitude > Decimal(string: "0.005")! {
                        throw QuickBooksFault("Amount is not equal to UnitPrice * Qty",
                                              "Amount is not equal to UnitPrice * Qty. Supplied value:\(amount)", code: "6070", element: "")
                    }
                }
                fields["Amount"] = .number(amount.rounded(2))
                subtotal += amount.rounded(2)
            case "DiscountLineDetail":
                discountLines.append((output.count, fields))
            case "DescriptionOnly":
                fields["Amount"] = .number(0)
            case "SubTotalLineDetail":
                continue
            default:
                throw QuickBooksFault("Request has invalid or unsupported property", "Property Name:\(detailType) specified is unsupported or invalid",
                                      code: "2010", element: "Line.DetailType")
            }
            output.append(.object(fields))
        }
        // Discounts apply to the subtotal; QuickBooks shows their Amount as a positive number.
        for (index, var fields) in discountLines {
            let detail = fields["DiscountLineDetail"]
            var amount = fields["Amount"]?.decimal?.magnitude ?? 0
            if detail?["PercentBased"]?.bool == true, let percent = detail?["DiscountPercent"]?.decimal {
                amount = (subtotal * percent / 100).rounded(2)
            }
            fields["Amount"] = .number(amount.rounded(2))
            discount += amount.rounded(2)
            output[index] = .object(fields)
        }
        for index in output.indices {
            guard var fields = output[index].object else { continue }
            fields["Id"] = .string("\(index + 1)")
            fields["LineNum"] = .number(Decimal(index + 1))
            output[index] = .object(fields)
        }
        output.append(["Amount": .number(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": [:]])
        object["Line"] = .array(output)
        var taxDetail = object["TxnTaxDetail"]?.object ?? [:]
        let tax = (taxDetail["TotalTax"]?.decimal ?? 0).rounded(2)
        taxDetail["TotalTax"] = .number(tax)
        object["TxnTaxDetail"] = .object(taxDetail)
        let inclusive = object["GlobalTaxCalculation"]?.string == "TaxInclusive"
        let id = selfID ?? object["Id"]?.string ?? ""
        let total = books.voided.contains(id) ? 0 : (inclusive ? subtotal - discount : subtotal - discount + tax)
        object["TotalAmt"] = .number(total)
        object["Balance"] = .number(books.voided.contains(id) ? 0 : total - (books.applied[id] ?? 0))
        if object["TxnDate"] == nil { object["TxnDate"] = .string(SimClock.day(now)) }
        if object["DueDate"] == nil { object["DueDate"] = object["TxnDate"] }
    }

    private static func applyPayment(_ object: inout [String: JSONValue], books: inout QuickBooksCompany, now: Date, stamp: JSONValue) throws(QuickBooksFault) {
        guard let customerID = object["CustomerRef"]?["value"]?.string else { throw .required("CustomerRef") }
        guard books.entities["Customer"]?[customerID] != nil else { throw .invalidReference("CustomerRef", customerID) }
        guard let total = object["TotalAmt"]?.decimal else { throw .required("TotalAmt") }
        var appliedTotal = Decimal(0)
        var applications: [(String, Decimal)] = []
        for line in object["Line"]?.array ?? [] {
            guard let amount = line["Amount"]?.decimal else { throw .required("Line.Amount") }
            for linked in line["LinkedTxn"]?.array ?? [] {
                guard let txnID = linked["TxnId"]?.string else { throw .required("LinkedTxn.TxnId") }
                guard linked["TxnType"]?.string == "Invoice" else { throw .business("erp-sim applies payments to invoices only") }
                guard let invoice = books.entities["Invoice"]?[txnID] else { throw .invalidReference("LinkedTxn", txnID) }
                guard invoice["CustomerRef"]?["value"]?.string == customerID else {
                    throw .business("The invoice \(txnID) belongs to another customer.")
                }
                let balance = invoice["Balance"]?.decimal ?? 0
                guard amount <= balance else {
                    throw .business("The payment amount \(amount) exceeds the open balance \(balance) of invoice \(txnID).")
                }
                applications.append((txnID, amount))
            }
            appliedTotal += amount
        }
        guard appliedTotal <= total else { throw .business("The amounts applied exceed the payment total.") }
        let paymentID = object["Id"]?.string ?? ""
        for (invoiceID, amount) in applications {
            guard var invoice = books.entities["Invoice"]?[invoiceID] else { continue }
            books.applied[invoiceID, default: 0] += amount
            invoice["Balance"] = .number((invoice["Balance"]?.decimal ?? 0) - amount)
            var linked = invoice["LinkedTxn"]?.array ?? []
            linked.append(["TxnId": .string(paymentID), "TxnType": "Payment"])
            invoice["LinkedTxn"] = .array(linked)
            bump(&invoice, stamp)
            books.store("Invoice", invoice)
        }
        object["TotalAmt"] = .number(total)
        object["UnappliedAmt"] = .number(total - appliedTotal)
        if object["TxnDate"] == nil { object["TxnDate"] = .string(SimClock.day(now)) }
    }

    // MARK: Batch

    func quickBooksBatch(_ request: SimRequest, company: SimCompany, now: Date) -> SimResponse {
        guard let items = JSONValue.parse(request.body)?["BatchItemRequest"]?.array else {
            return quickBooksFaultResponse(.required("BatchItemRequest"), now: now)
        }
        guard items.count <= 30 else {
            return quickBooksFaultResponse(.business("A batch may carry at most 30 items; this one has \(items.count)."), now: now)
        }
        var answers: [JSONValue] = []
        for item in items {
            let bID = item["bId"]?.string ?? ""
            var answer: [String: JSONValue] = ["bId": .string(bID)]
            do throws(QuickBooksFault) {
                if let query = item["Query"]?.string {
                    answer["QueryResponse"] = try quickBooksQuery(query, company: company)
                } else {
                    guard let (entity, body) = Self.quickBooksEntities.values.compactMap({ name in item[name]?.object.map { (name, $0) } }).first else {
                        throw QuickBooksFault.required("Invoice")
                    }
                    let operation = item["operation"]?.string ?? "create"
                    answer[entity] = .object(try quickBooksWrite(
                        entity: entity, operation: operation == "create" || operation == "update" ? nil : operation, body: body,
                        company: company, key: request.query["requestid"].map { "\($0)#\(bID)" }, now: now))
                }
            } catch {
                answer["Fault"] = error.faultJSON
            }
            answers.append(.object(answer))
        }
        return .json(200, ["BatchItemResponse": .array(answers), "time": .string(SimClock.iso8601(now))])
    }

    // MARK: Query language (subset)

    /// `SELECT * | COUNT(*) FROM Customer|Invoice|Payment [WHERE f op v [AND …]] [ORDERBY f [ASC|DESC]]
    /// [STARTPOSITION n] [MAXRESULTS m]`, with `op` one of `=`, `!=`, `<`, `<=`, `>`, `>=`, `IN (…)`, `LIKE`.
    func quickBooksQuery(_ text: String, company: SimCompany) throws(QuickBooksFault) -> JSONValue {
        let parser = QuickBooksQuery(text)
        let query: QuickBooksQuery.Parsed
        do { query = try parser.parse() } catch {
            throw QuickBooksFault("Error parsing query", "QueryParserError: \(error.message)", code: "4000")
        }
        guard let entity = Self.quickBooksReadable[query.entity.lowercased()] else {
            throw QuickBooksFault("Error parsing query", "QueryParserError: erp-sim does not query \(query.entity)", code: "4000")
        }
        let books = quickBooks[company.id] ?? QuickBooksCompany()
        var rows = books.all(entity).filter { row in query.conditions.allSatisfy { $0.matches(row) } }
        if let order = query.orderBy {
            // Sort keys computed once per row (timestamps parsed once), stable for equal keys.
            let keyed = rows.enumerated().map { (offset, row) -> (Int, [String: JSONValue], String?, Double?) in
                let value = QuickBooksQuery.value(row, order.field)
                return (offset, row, value, value.flatMap(QuickBooksQuery.fastInstant))
            }
            rows = keyed.sorted { a, b in
                let result: Int
                if let x = a.3, let y = b.3 {
                    result = x < y ? -1 : (x == y ? 0 : 1)
                } else {
                    result = QuickBooksQuery.compare(a.2, b.2)
                }
                if result == 0 { return a.0 < b.0 }
                return order.descending ? result > 0 : result < 0
            }.map(\.1)
        }
        if query.count { return ["totalCount": .number(Decimal(rows.count))] }
        let start = max(query.startPosition, 1)
        let page = Array(rows.dropFirst(start - 1).prefix(min(query.maxResults, 1000)))
        guard !page.isEmpty else { return .object([:]) }
        return [entity: .array(page.map(JSONValue.object)), "startPosition": .number(Decimal(start)), "maxResults": .number(Decimal(page.count))]
    }
}

/// A small parser for QuickBooks' SQL-like query language.
struct QuickBooksQuery {
    struct ParseError: Error { var message: String }

    enum Token: Equatable {
        case word(String)
        case string(String)
        case symbol(String)
    }

    struct Condition {
        var field: String
        var op: String
        var values: [String]

        func matches(_ row: [String: JSONValue]) -> Bool {
            let actual = QuickBooksQuery.value(row, field)
            switch op {
            case "=": return values.contains { QuickBooksQuery.compare(actual, $0) == 0 }
            case "IN": return values.contains { QuickBooksQuery.compare(actual, $0) == 0 }
            case "!=": return QuickBooksQuery.compare(actual, values[0]) != 0
            case "<": return QuickBooksQuery.compare(actual, values[0]) < 0
            case "<=": return QuickBooksQuery.compare(actual, values[0]) <= 0
            case ">": return QuickBooksQuery.compare(actual, values[0]) > 0
            case ">=": return QuickBooksQuery.compare(actual, values[0]) >= 0
            case "LIKE":
                guard let actual else { return false }
                let pattern = values[0].lowercased()
                let text = actual.lowercased()
                let core = pattern.trimmingCharacters(in: CharacterSet(charactersIn: "%"))
                switch (pattern.hasPrefix("%"), pattern.hasSuffix("%")) {
                case (true, true): return text.contains(core)
                case (true, false): return text.hasSuffix(core)
                case (false, true): return text.hasPrefix(core)
                case (false, false): return text == core
                }
            default: return false
            }
        }
    }

    struct Parsed {
        var count = false
        var entity = ""
        var conditions: [Condition] = []
        var orderBy: (field: String, descending: Bool)?
        var startPosition = 1
        var maxResults = 100
    }

    let text: String
    init(_ text: String) { self.text = text }

    /// The value of a dotted field; a reference object yields its `value`.
    static func value(_ row: [String: JSONValue], _ field: String) -> String? {
        var current: JSONValue? = .object(row)
        for part in field.split(separator: ".") {
            guard let object = current?.object else { return nil }
            current = object.first { $0.key.lowercased() == part.lowercased() }?.value
        }
        switch current {
        case .string(let text)?: return text
        case .number(let number)?: return number.description
        case .bool(let flag)?: return flag ? "true" : "false"
        case .object(let fields)?: return fields["value"]?.string
        default: return nil
        }
    }

    /// Numbers compare as numbers, other text case-insensitively; a missing value sorts first.
    static func compare(_ actual: String?, _ expected: String?) -> Int {
        guard let actual else { return expected == nil ? 0 : -1 }
        guard let expected else { return 1 }
        if let a = Decimal(string: actual), let b = Decimal(string: expected),
           actual.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }), expected.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" })
        {
            return a < b ? -1 : (a == b ? 0 : 1)
        }
        // Timestamps compare as instants (`2026-01-15T10:00:00-08:00` vs `…Z`).
        if actual.count >= 19, expected.count >= 19, let a = parseInstant(actual), let b = parseInstant(expected) {
            return a < b ? -1 : (a == b ? 0 : 1)
        }
        let a = actual.lowercased(), b = expected.lowercased()
        return a < b ? -1 : (a == b ? 0 : 1)
    }

    static func parseInstant(_ text: String) -> Date? {
        if let seconds = fastInstant(text) { return Date(timeIntervalSince1970: seconds) }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` without a formatter (queries compare thousands of timestamps).
    static func fastInstant(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84 || bytes[10] == 116, bytes[13] == 58,
            bytes[16] == 58
        else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for index in from..<(from + count) {
                let byte = bytes[index]
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if bytes[index] == 46 {
            var scale = 0.1
            index += 1
            while index < bytes.count, bytes[index] >= 48 && bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        guard index < bytes.count else { return nil }
        var offset = 0
        if bytes[index] == 90 || bytes[index] == 122 {
            guard index + 1 == bytes.count else { return nil }
        } else if bytes[index] == 43 || bytes[index] == 45, index + 6 == bytes.count, bytes[index + 3] == 58,
            let oh = number(index + 1, 2), let om = number(index + 4, 2)
        {
            offset = (oh * 3600 + om * 60) * (bytes[index] == 43 ? 1 : -1)
        } else {
            return nil
        }
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
    }

    func tokens() throws(ParseError) -> [Token] {
        var result: [Token] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace { index += 1; continue }
            if character == "'" {
                var value = ""
                index += 1
                var closed = false
                while index < characters.count {
                    let c = characters[index]
                    if c == "\\", index + 1 < characters.count { value.append(characters[index + 1]); index += 2; continue }
                    if c == "'" { closed = true; index += 1; break }
                    value.append(c)
                    index += 1
                }
                guard closed else { throw ParseError(message: "unterminated string literal") }
                result.append(.string(value))
                continue
            }
            if "(),".contains(character) { result.append(.symbol(String(character))); index += 1; continue }
            if "=<>!".contains(character) {
                var op = String(character)
                if index + 1 < characters.count, characters[index + 1] == "=" || (character == "<" && characters[index + 1] == ">") {
                    op.append(characters[index + 1])
                    index += 1
                }
                result.append(.symbol(op == "<>" ? "!=" : op))
                index += 1
                continue
            }
            var word = ""
            while index < characters.count, !characters[index].isWhitespace, !"(),=<>!'".contains(characters[index]) {
                word.append(characters[index])
                index += 1
            }
            guard !word.isEmpty else { throw ParseError(message: "unexpected character \(character)") }
            result.append(.word(word))
        }
        return result
    }

    func parse() throws(ParseError) -> Parsed {
        var tokens = try tokens()[...]
        var parsed = Parsed()
        func keyword(_ expected: String) -> Bool {
            if case .word(let word)? = tokens.first, word.uppercased() == expected { tokens.removeFirst(); return true }
            return false
        }
        func word() throws(ParseError) -> String {
            guard case .word(let word)? = tokens.first else { throw ParseError(message: "expected a name") }
            tokens.removeFirst()
            return word
        }
        func literal() throws(ParseError) -> String {
            switch tokens.first {
            case .string(let value)?: tokens.removeFirst(); return value
            case .word(let value)?: tokens.removeFirst(); return value
            default: throw ParseError(message: "expected a value")
            }
        }
        guard keyword("SELECT") else { throw ParseError(message: "expected SELECT") }
        if case .word(let first)? = tokens.first, first.uppercased() == "COUNT" {
            tokens.removeFirst()
            guard tokens.first == .symbol("("), tokens.dropFirst().first == .word("*"), tokens.dropFirst(2).first == .symbol(")") else {
                throw ParseError(message: "expected COUNT(*)")
            }
            tokens.removeFirst(3)
            parsed.count = true
        } else {
            // Field lists are accepted; whole objects are returned.
            repeat { _ = try word() } while tokens.first == .symbol(",") && tokens.removeFirst() == .symbol(",")
        }
        guard keyword("FROM") else { throw ParseError(message: "expected FROM") }
        parsed.entity = try word()
        if keyword("WHERE") {
            repeat {
                let field = try word()
                if keyword("IN") {
                    guard tokens.first == .symbol("(") else { throw ParseError(message: "expected ( after IN") }
                    tokens.removeFirst()
                    var values: [String] = []
                    repeat { values.append(try literal()) } while tokens.first == .symbol(",") && tokens.removeFirst() == .symbol(",")
                    guard tokens.first == .symbol(")") else { throw ParseError(message: "expected )") }
                    tokens.removeFirst()
                    parsed.conditions.append(Condition(field: field, op: "IN", values: values))
                } else if keyword("LIKE") {
                    parsed.conditions.append(Condition(field: field, op: "LIKE", values: [try literal()]))
                } else {
                    guard case .symbol(let op)? = tokens.first, ["=", "!=", "<", "<=", ">", ">="].contains(op) else {
                        throw ParseError(message: "expected an operator after \(field)")
                    }
                    tokens.removeFirst()
                    parsed.conditions.append(Condition(field: field, op: op, values: [try literal()]))
                }
            } while keyword("AND")
        }
        if keyword("ORDERBY") || (keyword("ORDER") && keyword("BY")) {
            let field = try word()
            let descending = keyword("DESC")
            if !descending { _ = keyword("ASC") }
            parsed.orderBy = (field, descending)
        }
        if keyword("STARTPOSITION") { parsed.startPosition = Int(try literal()) ?? 1 }
        if keyword("MAXRESULTS") { parsed.maxResults = Int(try literal()) ?? 100 }
        guard tokens.isEmpty else { throw ParseError(message: "unexpected text after the query") }
        return parsed
    }
}
