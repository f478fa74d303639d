public import Domain
import Foundation

/// Texts every connector writes the same way: the document numbers and the vehicle of an invoice.
public enum DocumentText {
    /// `RO RO-88213 | WO WO-5520 | Job J-7731 | PO PO-2025-0311`, or `nil` when the invoice has none.
    public static func documentNumbers(_ invoice: Invoice) -> String? {
        var numbers: [String] = []
        if let value = invoice.repairOrderNumber { numbers.append("RO \(value)") }
        if let value = invoice.workOrderNumber { numbers.append("WO \(value)") }
        if let value = invoice.jobNumber { numbers.append("Job \(value)") }
        if let value = invoice.purchaseOrderNumber { numbers.append("PO \(value)") }
        return numbers.isEmpty ? nil : numbers.joined(separator: " | ")
    }

    /// `Vehicle 2021 Ford F-150 | VIN 1FTFW1E50MFA12345 | Plate 8ABC123 | Odometer 48213 mi`, or `nil` when
    /// the vehicle has no data.
    public static func vehicle(_ vehicle: Vehicle) -> String? {
        var parts: [String] = []
        let model = [vehicle.year.map(String.init), vehicle.make, vehicle.model].compactMap { $0 }.joined(
            separator: " ")
        if !model.isEmpty { parts.append("Vehicle \(model)") }
        if let vin = vehicle.vin { parts.append("VIN \(vin)") }
        if let plate = vehicle.licensePlate { parts.append("Plate \(plate)") }
        if let odometer = vehicle.odometer { parts.append("Odometer \(odometer.reading) \(odometer.unit.rawValue)") }
        return parts.isEmpty ? nil : parts.joined(separator: " | ")
    }

    /// The work reference an ERP's single reference field gets: the repair-order number, else the work-order
    /// number, else the job number.
    public static func workReference(_ invoice: Invoice) -> String? {
        invoice.repairOrderNumber ?? invoice.workOrderNumber ?? invoice.jobNumber
    }
}

/// Spreads an invoice's tax lines over its lines, so ERPs that take a tax amount per line (Xero
/// `LineItems[].TaxAmount`) end with exactly the shop's tax total.
public enum TaxAllocation {
    /// The tax amount of each line, in line order. Each tax line's amount is shared among the lines it covers
    /// (``Domain/InvoiceArithmetic/linesCovered(by:in:)``) in proportion to their amounts, rounded half away
    /// from zero to the currency; the rounding difference goes, one minor unit at a time, to the covered lines
    /// with the largest amounts (first in line order on ties). The shares of each tax line sum to its amount
    /// exactly. A tax line that covers no line is put on the first line.
    public static func perLine(_ invoice: Invoice) -> [Money] {
        let currency = invoice.currency
        var shares = [Money](repeating: Money(value: 0, writtenScale: currency.minorUnits), count: invoice.lines.count)
        guard !shares.isEmpty else { return [] }
        for taxLine in invoice.taxLines where taxLine.amount.value != 0 {
            let covered = invoice.lines.indices.filter {
                let line = invoice.lines[$0]
                return line.taxable && (taxLine.taxCode == nil || line.taxCode == taxLine.taxCode)
            }
            let base = covered.map { invoice.lines[$0].amount.value }.reduce(0, +)
            guard !covered.isEmpty, base != 0 else {
                shares[0] = shares[0] + taxLine.amount
                continue
            }
            var allocated: [Int: Money] = [:]
            for index in covered {
                allocated[index] = Money.rounding(
                    taxLine.amount.value * invoice.lines[index].amount.value / base, to: currency)
            }
            var difference = taxLine.amount.value - allocated.values.map(\.value).reduce(0, +)
            let unit = currency.minorUnit.value
            let order = covered.sorted {
                let (a, b) = (invoice.lines[$0].amount.value.magnitude, invoice.lines[$1].amount.value.magnitude)
                return a != b ? a > b : $0 < $1
            }
            var position = 0
            while difference != 0 {
                let step = difference > 0 ? unit : -unit
                let index = order[position % order.count]
                allocated[index] = Money(value: allocated[index]!.value + step, writtenScale: currency.minorUnits)
                difference -= step
                position += 1
            }
            for index in covered { shares[index] = shares[index] + allocated[index]! }
        }
        return shares.map { Money(value: $0.value, writtenScale: currency.minorUnits) }
    }
}
