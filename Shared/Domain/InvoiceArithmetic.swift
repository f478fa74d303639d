import Foundation

/// The contract's arithmetic rules as functions, for producers that build invoices, for the validator, and
/// for connectors that must reproduce a shop's numbers in an ERP.
///
/// Rounding rule (one rule everywhere): round to the currency's minor units, **half away from zero**
/// (`2.345 → 2.35`, `−2.345 → −2.35`). All arithmetic is exact `Decimal` arithmetic before that single
/// rounding. See `docs/event-contract/README.md` for the full rules and the tolerances.
public enum InvoiceArithmetic {
    /// A line's amount: `quantity × unit price`, rounded to the currency.
    /// - Parameters:
    ///   - quantity: units or hours.
    ///   - unitPrice: price per unit or hourly rate.
    ///   - currency: the invoice currency.
    public static func lineAmount(quantity: Quantity, unitPrice: Money, currency: CurrencyCode) -> Money {
        Money.rounding(quantity.value * unitPrice.value, to: currency)
    }

    /// The lines a tax line applies to: the taxable lines, restricted to the tax line's `tax_code` when it
    /// has one.
    /// - Parameters:
    ///   - taxLine: the tax line.
    ///   - lines: the invoice's lines.
    public static func linesCovered(by taxLine: TaxLine, in lines: [InvoiceLine]) -> [InvoiceLine] {
        lines.filter { $0.taxable && (taxLine.taxCode == nil || $0.taxCode == taxLine.taxCode) }
    }

    /// The taxable amount of a tax line: the sum of the amounts of ``linesCovered(by:in:)``.
    /// - Parameters:
    ///   - taxLine: the tax line.
    ///   - lines: the invoice's lines.
    public static func taxableAmount(for taxLine: TaxLine, in lines: [InvoiceLine]) -> Money {
        linesCovered(by: taxLine, in: lines).map(\.amount).sum()
    }

    /// A tax line's amount: `taxable amount × rate / 100`, rounded to the currency.
    /// - Parameters:
    ///   - taxableAmount: the amount taxed.
    ///   - ratePercent: the rate in percent.
    ///   - currency: the invoice currency.
    public static func taxAmount(taxableAmount: Money, ratePercent: Percentage, currency: CurrencyCode) -> Money {
        Money.rounding(taxableAmount.value * ratePercent.value / 100, to: currency)
    }

    /// How far a stated tax amount may be from ``taxAmount(taxableAmount:ratePercent:currency:)``:
    /// `max(1, ⌈n / 2⌉)` minor units, where `n` is the number of lines the tax covers. A shop that rounds
    /// the tax of each line separately differs from rounding the sum by at most half a minor unit per line.
    /// - Parameters:
    ///   - coveredLines: the number of lines the tax line covers.
    ///   - currency: the invoice currency.
    public static func taxTolerance(coveredLines: Int, currency: CurrencyCode) -> Money {
        let units = max(1, (coveredLines + 1) / 2)
        return Money(value: Decimal(units) * currency.minorUnit.value, writtenScale: currency.minorUnits)
    }

    /// The totals an invoice's lines, tax lines and payments imply (what ``InvoiceTotals`` must say).
    ///
    /// `subtotal` = Σ line amounts; `discountTotal` = Σ discount-line amounts (≤ 0); `taxTotal` = Σ tax-line
    /// amounts; `total` = subtotal + tax total; `amountPaid` = Σ payments; `balanceDue` = total − amount paid.
    /// - Parameters:
    ///   - lines: the lines (amounts as stated).
    ///   - taxLines: the tax lines (amounts as stated).
    ///   - payments: the payments.
    ///   - currency: the invoice currency (sets the printed scale).
    public static func totals(
        lines: [InvoiceLine], taxLines: [TaxLine], payments: [Payment], currency: CurrencyCode
    ) -> InvoiceTotals {
        func scaled(_ money: Money) -> Money { Money(value: money.value, writtenScale: currency.minorUnits) }
        let subtotal = scaled(lines.map(\.amount).sum())
        let discount = scaled(lines.filter { $0.kind == .discount }.map(\.amount).sum())
        let tax = scaled(taxLines.map(\.amount).sum())
        let paid = scaled(payments.map(\.amount).sum())
        let total = subtotal + tax
        return InvoiceTotals(
            subtotal: subtotal, discountTotal: discount, taxTotal: tax, total: total, amountPaid: paid,
            balanceDue: total - paid)
    }
}
