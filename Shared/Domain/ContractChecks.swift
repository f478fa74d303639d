import Foundation

/// Collects failures for one document, up to a cap (internal; confined to one call, never shared).
final class FailureSink {
    private(set) var failures: [ValidationFailure] = []
    private(set) var omitted = 0
    let cap: Int

    init(cap: Int) { self.cap = max(cap, 1) }

    var isEmpty: Bool { failures.isEmpty && omitted == 0 }

    func add(_ code: ReasonCode, _ path: JSONPath, _ message: String) {
        add(ValidationFailure(code: code, path: path.description, message: message))
    }

    func add(_ failure: ValidationFailure) {
        if failures.count < cap {
            failures.append(failure)
        } else {
            omitted += 1
        }
    }

    /// The failures, with a final `limits.too_many_failures` entry when some were left out.
    func finish() -> [ValidationFailure] {
        guard omitted > 0 else { return failures }
        return failures + [
            ValidationFailure(
                code: .tooManyFailures, path: "",
                message: "\(omitted) more failure\(omitted == 1 ? " was" : "s were") found but not listed.")
        ]
    }
}

/// The contract's value checks, shared by the decoder (on each object as soon as it is mapped) and by
/// ``InvoiceEventValidator`` (on typed values) so both report exactly the same failures (internal).
struct ContractChecks {
    let sink: FailureSink
    let limits: ValidationLimits

    // MARK: Field-level

    func text(_ value: String, _ rule: ContractShape.TextRule, _ path: JSONPath) {
        let scalars = value.unicodeScalars
        guard !scalars.isEmpty else {
            sink.add(.emptyString, path, "\(path) must not be empty; omit the field instead.")
            return
        }
        let length = scalars.count
        if length > rule.maxLength {
            sink.add(
                .stringTooLong, path,
                "\(path) is \(length) characters long; the maximum is \(rule.maxLength).")
        }
        switch rule.charset {
        case .visibleASCII:
            if !scalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) {
                sink.add(
                    .invalidFormat, path,
                    "\(path) may contain only printable ASCII characters without spaces.")
            }
        case .slug:
            if !ContractChecks.isSlug(scalars) {
                sink.add(
                    .invalidFormat, path,
                    "\(path) may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit."
                )
            }
        case .singleLine:
            if scalars.contains(where: ContractChecks.isControl) {
                sink.add(.invalidCharacters, path, "\(path) contains control characters or line breaks.")
            }
        case .multiline:
            if scalars.contains(where: { ContractChecks.isControl($0) && !["\t", "\n", "\r"].contains($0) }) {
                sink.add(.invalidCharacters, path, "\(path) contains control characters.")
            }
        case .email:
            if scalars.contains(where: ContractChecks.isControl) {
                sink.add(.invalidCharacters, path, "\(path) contains control characters.")
            } else if !ContractChecks.isEmail(value) {
                sink.add(.invalidFormat, path, "\(path) is not an e-mail address of the form name@domain.tld.")
            }
        case .countryCode:
            if !(scalars.count == 2 && scalars.allSatisfy({ (0x41...0x5A).contains($0.value) })) {
                sink.add(
                    .invalidFormat, path,
                    "\(path) must be an ISO 3166-1 alpha-2 country code in upper case, such as US or AU.")
            }
        }
    }

    func integer(_ value: Int64, _ range: ClosedRange<Int64>, _ path: JSONPath) {
        if !range.contains(value) {
            sink.add(
                .outOfRange, path,
                "\(path) is \(value); it must be between \(range.lowerBound) and \(range.upperBound).")
        }
    }

    func decimal(
        _ value: some DecimalStringValue, _ kind: ContractShape.DecimalKind, _ path: JSONPath, currency: CurrencyCode?
    ) {
        if value.integerDigits > kind.maxIntegerDigits {
            sink.add(
                .moneyOutOfRange, path,
                "\(path) has \(value.integerDigits) digits before the decimal point; the maximum is \(kind.maxIntegerDigits)."
            )
        }
        if value.writtenScale > kind.maxFractionDigits {
            sink.add(
                .tooManyDecimals, path,
                "\(path) is written with \(value.writtenScale) decimal places; the maximum is \(kind.maxFractionDigits)."
            )
        } else if kind == .amount, let currency, value.significantFractionDigits > currency.minorUnits {
            sink.add(
                .tooManyDecimals, path,
                "\(path) is \(value); \(currency) amounts have at most \(currency.minorUnits) decimal place\(currency.minorUnits == 1 ? "" : "s")."
            )
        }
        if kind == .percentage, value.value < 0 || value.value > 100 {
            sink.add(.taxRateOutOfRange, path, "\(path) is \(value) %; a tax rate must be between 0 and 100.")
        }
    }

    // MARK: Object-level

    func customer(_ customer: Customer, _ path: JSONPath) {
        if customer.taxExempt, customer.taxExemptReason == nil {
            sink.add(
                .missingField, path.appending("tax_exempt_reason"),
                "\(path.appending("tax_exempt_reason")) is required when tax_exempt is true.")
        }
    }

    func vehicle(_ vehicle: Vehicle, _ path: JSONPath) {
        guard let vin = vehicle.vin else { return }
        let vinPath = path.appending("vin")
        let scalars = vin.unicodeScalars
        let alphanumeric = scalars.allSatisfy { (0x30...0x39).contains($0.value) || (0x41...0x5A).contains($0.value) }
        if let year = vehicle.year, year < 1981 {
            if !(5...17).contains(scalars.count) || !alphanumeric {
                sink.add(
                    .invalidVIN, vinPath,
                    "\(vinPath) must be 5 to 17 upper-case letters and digits for a vehicle built before 1981.")
            }
        } else if scalars.count != 17 || !alphanumeric || scalars.contains(where: { "IOQ".unicodeScalars.contains($0) })
        {
            sink.add(
                .invalidVIN, vinPath,
                "\(vinPath) must be 17 upper-case letters and digits without I, O or Q.")
        }
    }

    func line(_ line: InvoiceLine, _ path: JSONPath, currency: CurrencyCode?) {
        if line.kind == .discount {
            if line.unitPrice.value > 0 {
                sink.add(
                    .discountNotNegative, path.appending("unit_price"),
                    "\(path.appending("unit_price")) is \(line.unitPrice); a discount line's unit price must be zero or negative."
                )
            }
            if line.quantity.value <= 0 {
                sink.add(
                    .discountNotNegative, path.appending("quantity"),
                    "\(path.appending("quantity")) is \(line.quantity); a discount line's quantity must be positive.")
            }
        } else if line.unitPrice.isNegative {
            sink.add(
                .negativeUnitPrice, path.appending("unit_price"),
                "\(path.appending("unit_price")) is \(line.unitPrice); only discount lines may have a negative unit price (use a negative quantity for returns and credits)."
            )
        }
        guard let currency else { return }
        let expected = InvoiceArithmetic.lineAmount(
            quantity: line.quantity, unitPrice: line.unitPrice, currency: currency)
        if line.amount != expected {
            sink.add(
                .lineAmountMismatch, path.appending("amount"),
                "\(path.appending("amount")) is \(line.amount) but quantity \(line.quantity) × unit price \(line.unitPrice) = \(expected) \(currency) (rounded half away from zero)."
            )
        }
    }

    func payment(_ payment: Payment, _ path: JSONPath) {
        if payment.amount.value <= 0 {
            sink.add(
                .paymentNotPositive, path.appending("amount"),
                "\(path.appending("amount")) is \(payment.amount); a payment must be greater than zero.")
        }
    }

    /// Invoice-level checks that need no arithmetic: dates, list sizes, duplicate ids.
    func invoiceOwn(_ invoice: Invoice, _ path: JSONPath) {
        if let due = invoice.dueDate, due < invoice.issueDate {
            sink.add(
                .dueBeforeIssue, path.appending("due_date"),
                "\(path.appending("due_date")) \(due) is before the issue date \(invoice.issueDate).")
        }
        listSize(invoice.lines.count, .lines, path.appending("lines"))
        listSize(invoice.taxLines.count, .taxLines, path.appending("tax_lines"))
        listSize(invoice.payments.count, .payments, path.appending("payments"))
        duplicates(invoice.lines.map(\.lineID), path.appending("lines"), key: "line_id")
        duplicates(invoice.payments.map(\.paymentID), path.appending("payments"), key: "payment_id")
    }

    /// Reports an empty `lines` or a list over its limit. Returns `false` when over the limit.
    @discardableResult
    func listSize(_ count: Int, _ kind: ContractShape.ArrayKind, _ path: JSONPath) -> Bool {
        if kind == .lines, count == 0 {
            sink.add(.emptyArray, path, "\(path) must contain at least one line.")
        }
        let (limit, code, noun): (Int, ReasonCode, String) =
            switch kind {
            case .lines: (limits.maxLinesPerInvoice, .tooManyLines, "lines")
            case .taxLines: (limits.maxTaxLinesPerInvoice, .tooManyItems, "tax lines")
            case .payments: (limits.maxPaymentsPerInvoice, .tooManyItems, "payments")
            }
        if count > limit {
            sink.add(code, path, "\(path) has \(count) \(noun); the maximum is \(limit).")
            return false
        }
        return true
    }

    private func duplicates(_ ids: [String?], _ path: JSONPath, key: String) {
        var seen: [String: Int] = [:]
        for (index, id) in ids.enumerated() {
            guard let id else { continue }
            if let first = seen[id] {
                let itemPath = path.appending(index: index).appending(key)
                sink.add(.duplicateID, itemPath, "\(itemPath) \"\(id)\" is also used by \(path)[\(first)].")
            } else {
                seen[id] = index
            }
        }
    }

    /// The arithmetic and consistency rules across lines, tax lines, payments and totals.
    func invoiceCross(_ invoice: Invoice, _ path: JSONPath) {
        let currency = invoice.currency
        let totals = invoice.totals
        let totalsPath = path.appending("totals")
        for (index, taxLine) in invoice.taxLines.enumerated() {
            let taxPath = path.appending("tax_lines").appending(index: index)
            let covered = InvoiceArithmetic.linesCovered(by: taxLine, in: invoice.lines)
            let base = covered.map(\.amount).sum()
            if taxLine.taxableAmount != base {
                let scope = taxLine.taxCode.map { "taxable lines with tax_code \($0)" } ?? "all taxable lines"
                sink.add(
                    .taxableBaseMismatch, taxPath.appending("taxable_amount"),
                    "\(taxPath.appending("taxable_amount")) is \(taxLine.taxableAmount) but the \(scope) add up to \(base)."
                )
            }
            let expected = InvoiceArithmetic.taxAmount(
                taxableAmount: taxLine.taxableAmount, ratePercent: taxLine.ratePercent, currency: currency)
            let tolerance = InvoiceArithmetic.taxTolerance(coveredLines: covered.count, currency: currency)
            if (taxLine.amount - expected).value.magnitude > tolerance.value {
                sink.add(
                    .taxLineMismatch, taxPath.appending("amount"),
                    "\(taxPath.appending("amount")) is \(taxLine.amount) but \(taxLine.taxableAmount) × \(taxLine.ratePercent) % = \(expected) \(currency) (tolerance \(tolerance))."
                )
            }
            if invoice.customer.taxExempt, taxLine.amount.value != 0 {
                sink.add(
                    .exemptCustomerTaxed, taxPath.appending("amount"),
                    "\(taxPath.appending("amount")) charges \(taxLine.amount) tax but the customer is tax exempt.")
            }
        }
        let subtotal = invoice.lines.map(\.amount).sum()
        if totals.subtotal != subtotal {
            sink.add(
                .subtotalMismatch, totalsPath.appending("subtotal"),
                "\(totalsPath.appending("subtotal")) is \(totals.subtotal) but the line amounts add up to \(subtotal).")
        }
        if let discountTotal = totals.discountTotal {
            let discounts = invoice.lines.filter { $0.kind == .discount }.map(\.amount).sum()
            if discountTotal != discounts {
                sink.add(
                    .discountTotalMismatch, totalsPath.appending("discount_total"),
                    "\(totalsPath.appending("discount_total")) is \(discountTotal) but the discount lines add up to \(discounts)."
                )
            }
        }
        let taxTotal = invoice.taxLines.map(\.amount).sum()
        if totals.taxTotal != taxTotal {
            sink.add(
                .taxTotalMismatch, totalsPath.appending("tax_total"),
                "\(totalsPath.appending("tax_total")) is \(totals.taxTotal) but the tax lines add up to \(taxTotal).")
        }
        let total = totals.subtotal + totals.taxTotal
        if totals.total != total {
            sink.add(
                .totalMismatch, totalsPath.appending("total"),
                "\(totalsPath.appending("total")) is \(totals.total) but subtotal \(totals.subtotal) + tax total \(totals.taxTotal) = \(total)."
            )
        }
        let paid = invoice.payments.map(\.amount).sum()
        if totals.amountPaid != paid {
            sink.add(
                .amountPaidMismatch, totalsPath.appending("amount_paid"),
                "\(totalsPath.appending("amount_paid")) is \(totals.amountPaid) but the payments add up to \(paid).")
        }
        let balance = totals.total - totals.amountPaid
        if totals.balanceDue != balance {
            sink.add(
                .balanceMismatch, totalsPath.appending("balance_due"),
                "\(totalsPath.appending("balance_due")) is \(totals.balanceDue) but total \(totals.total) − amount paid \(totals.amountPaid) = \(balance)."
            )
        }
        if totals.amountPaid.value > 0, totals.amountPaid > totals.total {
            sink.add(
                .paymentExceedsBalance, totalsPath.appending("amount_paid"),
                "\(totalsPath.appending("amount_paid")) \(totals.amountPaid) is more than the invoice total \(totals.total)."
            )
        }
        switch invoice.status {
        case .paid where totals.balanceDue.value != 0:
            sink.add(
                .statusInconsistent, path.appending("status"),
                "\(path.appending("status")) is paid but the balance due is \(totals.balanceDue).")
        case .partiallyPaid where totals.amountPaid.value == 0 || totals.balanceDue.value == 0:
            sink.add(
                .statusInconsistent, path.appending("status"),
                "\(path.appending("status")) is partially_paid but amount paid is \(totals.amountPaid) and balance due is \(totals.balanceDue)."
            )
        default:
            break
        }
    }

    /// Checks that need the whole event.
    func event(_ event: InvoiceEvent) {
        if let invoice = event.invoice, invoice.status == .voided {
            let path = JSONPath.root.appending("invoice").appending("status")
            sink.add(
                .statusInvalidForEvent, path,
                "\(path) is voided, which only an invoice.voided event may set; send invoice.voided instead of \(event.eventType.rawValue)."
            )
        }
    }

    // MARK: Character classes

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    static func isSlug(_ scalars: String.UnicodeScalarView) -> Bool {
        func isAlphanumeric(_ s: Unicode.Scalar) -> Bool {
            (0x30...0x39).contains(s.value) || (0x41...0x5A).contains(s.value) || (0x61...0x7A).contains(s.value)
        }
        guard let first = scalars.first, isAlphanumeric(first) else { return false }
        return scalars.allSatisfy { isAlphanumeric($0) || $0 == "." || $0 == "_" || $0 == "-" }
    }

    /// `[^@ ]+@[^@ ]+` where the domain has a dot with text on both sides (control characters are rejected
    /// separately).
    static func isEmail(_ value: String) -> Bool {
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !value.contains(" ") else { return false }
        let domain = parts[1]
        guard domain.count >= 3 else { return false }
        return domain.dropFirst().dropLast().contains(".")
    }
}
