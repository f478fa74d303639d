import Domain
import Foundation

/// `POST /_sim/seed` (control API): fills a company's books with generated customers and invoices in one call,
/// for initial-sync tests and benchmarks. Not part of any ERP contract.
///
/// Body: `{"company": "<id>" | "<erp>:<id>", "customers": n, "invoices": m, "paid_every": k (default 4),
/// "voided_every": v (default 0: none), "inactive_every": i (default 0: none)}`. Invoices go round-robin over the
/// new customers; every k-th is fully paid (QuickBooks `Balance` 0, Xero `PAID`), every v-th voided. Answers
/// `{"customers": n, "invoices": m}` with the totals now in the books.
extension Simulator {
    func seed(_ body: JSONValue, company: SimCompany, now: Date) -> SimResponse {
        let customers = max(0, body["customers"]?.decimal.map { NSDecimalNumber(decimal: $0).intValue } ?? 0)
        let invoices = max(0, body["invoices"]?.decimal.map { NSDecimalNumber(decimal: $0).intValue } ?? 0)
        func every(_ key: String, _ fallback: Int) -> Int {
            body[key]?.decimal.map { NSDecimalNumber(decimal: $0).intValue } ?? fallback
        }
        let paidEvery = every("paid_every", 4)
        let voidedEvery = every("voided_every", 0)
        let inactiveEvery = every("inactive_every", 0)
        func isEvery(_ n: Int, _ k: Int) -> Bool { k > 0 && n % k == 0 }
        let day = SimClock.day(now)
        switch company.erp {
        case .quickbooksOnline:
            var books = quickBooks[company.id] ?? QuickBooksCompany()
            let stamp = JSONValue.string(SimClock.iso8601(now))
            var customerIDs: [(String, String)] = []
            let base = books.all("Customer").count
            for index in 1...max(customers, 1) where customers > 0 {
                let id = books.newID()
                let name = "Seed Customer \(base + index)"
                books.store(
                    "Customer",
                    [
                        "Id": .string(id), "SyncToken": "0", "domain": "QBO", "DisplayName": .string(name),
                        "Active": .bool(!isEvery(index, inactiveEvery)), "Balance": .number(0),
                        "MetaData": ["CreateTime": stamp, "LastUpdatedTime": stamp],
                    ])
                customerIDs.append((id, name))
            }
            if customerIDs.isEmpty {
                customerIDs = books.all("Customer").compactMap { row in
                    row["Id"]?.string.map { ($0, row["DisplayName"]?.string ?? "") }
                }
            }
            for index in 1...max(invoices, 1) where invoices > 0 && !customerIDs.isEmpty {
                let id = books.newID()
                let (customerID, customerName) = customerIDs[(index - 1) % customerIDs.count]
                let amount = Decimal(100 + index % 50)
                let voided = isEvery(index, voidedEvery)
                let paid = !voided && isEvery(index, paidEvery)
                let number = "S\(books.nextDocNumber)"
                books.nextDocNumber += 1
                books.store(
                    "Invoice",
                    [
                        "Id": .string(id), "SyncToken": "0", "domain": "QBO", "DocNumber": .string(number),
                        "TxnDate": .string(day), "CustomerRef": ["value": .string(customerID), "name": .string(customerName)],
                        "Line": [
                            [
                                "Id": "1", "LineNum": 1, "Amount": .number(amount), "DetailType": "SalesItemLineDetail",
                                "SalesItemLineDetail": ["ItemRef": ["value": "1"], "Qty": 1, "UnitPrice": .number(amount)],
                            ]
                        ],
                        "TotalAmt": .number(voided ? 0 : amount), "Balance": .number(paid || voided ? 0 : amount),
                        "PrivateNote": voided ? "Voided" : .null,
                        "MetaData": ["CreateTime": stamp, "LastUpdatedTime": stamp],
                    ])
                if voided { books.voided.insert(id) }
                if paid { books.applied[id] = amount }
            }
            quickBooks[company.id] = books
            return .json(
                200,
                [
                    "customers": .number(Decimal(books.all("Customer").count)),
                    "invoices": .number(Decimal(books.all("Invoice").count)),
                ])
        case .xero:
            var books = xero[company.id] ?? XeroCompany()
            let stamp = JSONValue.string(SimClock.xeroDate(now))
            var contacts: [(String, String)] = []
            let base = books.all("Contacts").count
            for index in 1...max(customers, 1) where customers > 0 {
                let id = UUID().uuidString.lowercased()
                let name = "Seed Customer \(base + index)"
                books.store(
                    "Contacts", id: id,
                    [
                        "ContactID": .string(id), "Name": .string(name),
                        "ContactStatus": .string(isEvery(index, inactiveEvery) ? "ARCHIVED" : "ACTIVE"),
                        "IsCustomer": true, "UpdatedDateUTC": stamp,
                    ], now: now)
                contacts.append((id, name))
            }
            if contacts.isEmpty {
                contacts = books.all("Contacts").compactMap { row in
                    row["ContactID"]?.string.map { ($0, row["Name"]?.string ?? "") }
                }
            }
            for index in 1...max(invoices, 1) where invoices > 0 && !contacts.isEmpty {
                let id = UUID().uuidString.lowercased()
                let (contactID, contactName) = contacts[(index - 1) % contacts.count]
                let amount = Decimal(100 + index % 50)
                let voided = isEvery(index, voidedEvery)
                let paid = !voided && isEvery(index, paidEvery)
                let number = "INV-S\(books.nextInvoiceNumber)"
                books.nextInvoiceNumber += 1
                books.store(
                    "Invoices", id: id,
                    [
                        "InvoiceID": .string(id), "Type": "ACCREC", "InvoiceNumber": .string(number),
                        "Contact": ["ContactID": .string(contactID), "Name": .string(contactName)],
                        "Status": .string(voided ? "VOIDED" : (paid ? "PAID" : "AUTHORISED")),
                        "Date": .string(day), "DueDate": .string(day), "LineAmountTypes": "Exclusive",
                        "LineItems": [
                            [
                                "Description": "Seeded work", "Quantity": 1, "UnitAmount": .number(amount),
                                "LineAmount": .number(amount), "AccountCode": "200",
                            ]
                        ],
                        "SubTotal": .number(amount), "TotalTax": 0, "Total": .number(amount),
                        "AmountDue": .number(paid || voided ? 0 : amount), "AmountPaid": .number(paid ? amount : 0),
                        "CurrencyCode": "USD", "UpdatedDateUTC": stamp,
                    ], now: now)
            }
            xero[company.id] = books
            return .json(
                200,
                [
                    "customers": .number(Decimal(books.all("Contacts").count)),
                    "invoices": .number(Decimal(books.all("Invoices").count)),
                ])
        }
    }
}
