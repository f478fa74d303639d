import Foundation

/// Invoice events as a shop's software sends them (contract v1), with exact decimal strings.
///
/// Every invoice has a taxable part (120.00) and a labor line (135.00); sales tax is 8.75 % (USD) or GST
/// 10 % (AUD) of the part, so the totals are 265.50 USD or 267.00 AUD.
enum ShopEvents {
    static func invoiceID(_ tenant: Tenant, _ number: Int) -> String { "\(tenant.id)-inv-\(number)" }
    static func invoiceNumber(_ tenant: Tenant, _ number: Int) -> String { "E2E-\(tenant.id.suffix(8))-\(number)" }

    static func total(_ tenant: Tenant) -> String { tenant.currency == "AUD" ? "267.00" : "265.50" }

    /// `invoice.created` (version 1), or `invoice.updated` for a later version with one more labor line.
    static func invoice(_ tenant: Tenant, _ number: Int, version: Int = 1, customer: Int = 1) -> [String: Any] {
        let aud = tenant.currency == "AUD"
        var lines: [[String: Any]] = [
            [
                "line_id": "L1", "kind": "part", "description": "Starter motor", "quantity": "1", "unit_price": "120.00",
                "amount": "120.00", "taxable": true, "tax_code": aud ? "GST" : "SALES", "part_number": "STR-3380",
            ],
            [
                "line_id": "L2", "kind": "labor", "description": "Replace starter", "quantity": "1", "unit_price": "135.00",
                "amount": "135.00", "taxable": false,
            ],
        ]
        var subtotal = 255
        if version > 1 {
            lines.append([
                "line_id": "L3", "kind": "labor", "description": "Additional diagnosis", "quantity": "0.5",
                "unit_price": "100.00", "amount": "50.00", "taxable": false,
            ])
            subtotal += 50
        }
        let tax = aud ? "12.00" : "10.50"
        let total = (Decimal(subtotal) + Decimal(string: tax)!).formatted2
        return event(
            tenant, type: version == 1 ? "invoice.created" : "invoice.updated", invoice: number, version: version,
            key: "v\(version)",
            payload: [
                "invoice": [
                    "invoice_id": invoiceID(tenant, number), "invoice_number": invoiceNumber(tenant, number),
                    "repair_order_number": "RO-\(number)", "status": "open", "issue_date": "2026-11-20",
                    "currency": tenant.currency,
                    "customer": [
                        "customer_id": "C-\(customer)", "name": "Customer \(customer) of \(tenant.id)", "tax_exempt": false,
                    ],
                    "lines": lines,
                    "tax_lines": [
                        [
                            "jurisdiction": aud ? "GST" : "Sales tax", "tax_code": aud ? "GST" : "SALES",
                            "rate_percent": aud ? "10" : "8.75", "taxable_amount": "120.00", "amount": tax,
                        ]
                    ],
                    "totals": [
                        "subtotal": Decimal(subtotal).formatted2, "tax_total": tax, "total": total, "amount_paid": "0.00",
                        "balance_due": total,
                    ],
                ]
            ])
    }

    /// `payment.received` for the whole total of a version-1 invoice.
    static func payment(_ tenant: Tenant, _ number: Int, version: Int = 2) -> [String: Any] {
        event(
            tenant, type: "payment.received", invoice: number, version: version, key: "pay",
            payload: [
                "invoice_ref": [
                    "invoice_id": invoiceID(tenant, number), "invoice_number": invoiceNumber(tenant, number),
                    "currency": tenant.currency,
                ],
                "payment": [
                    "payment_id": "\(invoiceID(tenant, number))-pay", "amount": total(tenant), "method": "card",
                    "payment_date": "2026-11-20",
                ],
            ])
    }

    private static func event(
        _ tenant: Tenant, type: String, invoice number: Int, version: Int, key: String, payload: [String: Any]
    ) -> [String: Any] {
        var event: [String: Any] = [
            "schema_version": "1", "event_id": UUID().uuidString.lowercased(), "event_type": type, "tenant_id": tenant.id,
            "location_id": tenant.location, "source_system": "e2e-shop", "occurred_at": "2026-11-20T17:00:00Z",
            "idempotency_key": "e2e-shop:\(invoiceID(tenant, number)):\(key)", "invoice_version": version,
        ]
        event.merge(payload) { $1 }
        return event
    }
}

extension Decimal {
    /// Two decimals, e.g. `265.50`.
    var formatted2: String {
        var value = self
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 2, .plain)
        let text = "\(rounded)"
        guard let dot = text.firstIndex(of: ".") else { return text + ".00" }
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        return decimals == 1 ? text + "0" : text
    }
}
