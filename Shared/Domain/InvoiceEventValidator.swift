/// Checks typed events and invoices against every rule of contract v1 that a value can break: text lengths
/// and formats, decimal digits and the currency's minor units, ranges, VIN, dates, list sizes, duplicate ids,
/// line/tax/total arithmetic and status consistency.
///
/// ``InvoiceEventDecoder`` runs the same checks while decoding, so a decoded event needs no second pass. Use
/// the validator for events built in Swift (demo data, simulators, tests) or read back from storage.
///
/// ```swift
/// let failures = InvoiceEventValidator().validate(event)
/// if !failures.isEmpty { /* reject with failures */ }
/// ```
public struct InvoiceEventValidator: Sendable {
    /// The limits applied (list sizes, number of failures reported).
    public var limits: ValidationLimits

    /// Creates a validator.
    /// - Parameter limits: the limits; defaults to ``ValidationLimits/default``.
    public init(limits: ValidationLimits = .default) { self.limits = limits }

    /// Checks an event.
    /// - Parameter event: the event.
    /// - Returns: every failure (empty when the event is valid), paths as on the wire.
    public func validate(_ event: InvoiceEvent) -> [ValidationFailure] {
        let sink = FailureSink(cap: limits.maxReportedFailures)
        Walker(checks: ContractChecks(sink: sink, limits: limits)).event(event)
        return sink.finish()
    }

    /// Checks an invoice on its own (paths start at `invoice`).
    /// - Parameter invoice: the invoice.
    /// - Returns: every failure (empty when the invoice is valid).
    public func validate(_ invoice: Invoice) -> [ValidationFailure] {
        let sink = FailureSink(cap: limits.maxReportedFailures)
        Walker(checks: ContractChecks(sink: sink, limits: limits)).invoice(invoice, JSONPath.root.appending("invoice"))
        return sink.finish()
    }

    /// Walks typed values in wire order, applying the field rules of ``ContractShape`` and the object checks.
    private struct Walker {
        let checks: ContractChecks
        var sink: FailureSink { checks.sink }

        private func text(_ value: String?, _ shape: ContractShape.Object, _ key: String, _ path: JSONPath) {
            guard let value else { return }
            checks.text(value, shape.rule(key), path.appending(key))
        }

        private func decimal(
            _ value: (some DecimalStringValue)?, _ shape: ContractShape.Object, _ key: String, _ path: JSONPath,
            _ currency: CurrencyCode?
        ) {
            guard let value, case .decimal(let kind) = shape[key].type else { return }
            checks.decimal(value, kind, path.appending(key), currency: currency)
        }

        private func integer(_ value: Int64?, _ shape: ContractShape.Object, _ key: String, _ path: JSONPath) {
            guard let value, case .integer(let range) = shape[key].type else { return }
            checks.integer(value, range, path.appending(key))
        }

        func event(_ event: InvoiceEvent) {
            let shape = ContractShape.event
            let root = JSONPath.root
            if event.schemaVersion != InvoiceEvent.currentSchemaVersion {
                sink.add(
                    .unsupportedVersion, root.appending("schema_version"),
                    "schema_version \"\(event.schemaVersion)\" is not supported; this service accepts \"\(InvoiceEvent.currentSchemaVersion)\"."
                )
            }
            text(event.eventID, shape, "event_id", root)
            text(event.tenantID.rawValue, shape, "tenant_id", root)
            text(event.locationID.rawValue, shape, "location_id", root)
            text(event.sourceSystem, shape, "source_system", root)
            text(event.idempotencyKey, shape, "idempotency_key", root)
            integer(event.invoiceVersion, shape, "invoice_version", root)
            switch event.payload {
            case .invoiceCreated(let invoice), .invoiceUpdated(let invoice):
                self.invoice(invoice, root.appending("invoice"))
            case .paymentReceived(let reference, let payment):
                self.reference(reference, root.appending("invoice_ref"))
                self.payment(payment, root.appending("payment"), reference.currency)
            case .invoiceVoided(let reference, let details):
                self.reference(reference, root.appending("invoice_ref"))
                text(details.reason, ContractShape.voidDetails, "reason", root.appending("void"))
            }
            checks.event(event)
        }

        func reference(_ reference: InvoiceReference, _ path: JSONPath) {
            let shape = ContractShape.invoiceReference
            text(reference.invoiceID, shape, "invoice_id", path)
            text(reference.invoiceNumber, shape, "invoice_number", path)
        }

        func invoice(_ invoice: Invoice, _ path: JSONPath) {
            let shape = ContractShape.invoice
            let currency = invoice.currency
            text(invoice.invoiceID, shape, "invoice_id", path)
            text(invoice.invoiceNumber, shape, "invoice_number", path)
            text(invoice.jobNumber, shape, "job_number", path)
            text(invoice.workOrderNumber, shape, "work_order_number", path)
            text(invoice.repairOrderNumber, shape, "repair_order_number", path)
            text(invoice.purchaseOrderNumber, shape, "purchase_order_number", path)
            text(invoice.paymentTerms, shape, "payment_terms", path)
            customer(invoice.customer, path.appending("customer"))
            if let vehicle = invoice.vehicle { self.vehicle(vehicle, path.appending("vehicle")) }
            for (index, line) in invoice.lines.enumerated() {
                self.line(line, path.appending("lines").appending(index: index), currency)
            }
            for (index, taxLine) in invoice.taxLines.enumerated() {
                self.taxLine(taxLine, path.appending("tax_lines").appending(index: index), currency)
            }
            totals(invoice.totals, path.appending("totals"), currency)
            for (index, payment) in invoice.payments.enumerated() {
                self.payment(payment, path.appending("payments").appending(index: index), currency)
            }
            text(invoice.notes, shape, "notes", path)
            checks.invoiceOwn(invoice, path)
            checks.invoiceCross(invoice, path)
        }

        func customer(_ customer: Customer, _ path: JSONPath) {
            let shape = ContractShape.customer
            text(customer.customerID, shape, "customer_id", path)
            text(customer.name, shape, "name", path)
            text(customer.companyName, shape, "company_name", path)
            text(customer.email, shape, "email", path)
            text(customer.phone, shape, "phone", path)
            if let address = customer.billingAddress {
                let addressShape = ContractShape.address
                let addressPath = path.appending("billing_address")
                text(address.line1, addressShape, "line1", addressPath)
                text(address.line2, addressShape, "line2", addressPath)
                text(address.city, addressShape, "city", addressPath)
                text(address.region, addressShape, "region", addressPath)
                text(address.postalCode, addressShape, "postal_code", addressPath)
                text(address.country, addressShape, "country", addressPath)
            }
            text(customer.taxExemptReason, shape, "tax_exempt_reason", path)
            checks.customer(customer, path)
        }

        func vehicle(_ vehicle: Vehicle, _ path: JSONPath) {
            let shape = ContractShape.vehicle
            integer(vehicle.year.map(Int64.init), shape, "year", path)
            text(vehicle.make, shape, "make", path)
            text(vehicle.model, shape, "model", path)
            text(vehicle.licensePlate, shape, "license_plate", path)
            if let odometer = vehicle.odometer {
                integer(Int64(odometer.reading), ContractShape.odometer, "reading", path.appending("odometer"))
            }
            checks.vehicle(vehicle, path)
        }

        func line(_ line: InvoiceLine, _ path: JSONPath, _ currency: CurrencyCode) {
            let shape = ContractShape.line
            text(line.lineID, shape, "line_id", path)
            text(line.description, shape, "description", path)
            decimal(line.quantity, shape, "quantity", path, currency)
            decimal(line.unitPrice, shape, "unit_price", path, currency)
            decimal(line.amount, shape, "amount", path, currency)
            text(line.taxCode, shape, "tax_code", path)
            switch line.detail {
            case .part(let partNumber, let manufacturer):
                text(partNumber, shape, "part_number", path)
                text(manufacturer, shape, "manufacturer", path)
            case .labor(let technicianID, let technicianName, let laborCode):
                text(technicianID, shape, "technician_id", path)
                text(technicianName, shape, "technician_name", path)
                text(laborCode, shape, "labor_code", path)
            case .fee(let feeCode):
                text(feeCode, shape, "fee_code", path)
            case .sublet(let vendorName, let vendorInvoiceNumber):
                text(vendorName, shape, "vendor_name", path)
                text(vendorInvoiceNumber, shape, "vendor_invoice_number", path)
            case .discount:
                break
            case .coreCharge(let partNumber):
                text(partNumber, shape, "part_number", path)
            }
            checks.line(line, path, currency: currency)
        }

        func taxLine(_ taxLine: TaxLine, _ path: JSONPath, _ currency: CurrencyCode) {
            let shape = ContractShape.taxLine
            text(taxLine.jurisdiction, shape, "jurisdiction", path)
            text(taxLine.taxCode, shape, "tax_code", path)
            decimal(taxLine.ratePercent, shape, "rate_percent", path, currency)
            decimal(taxLine.taxableAmount, shape, "taxable_amount", path, currency)
            decimal(taxLine.amount, shape, "amount", path, currency)
        }

        func totals(_ totals: InvoiceTotals, _ path: JSONPath, _ currency: CurrencyCode) {
            let shape = ContractShape.totals
            decimal(totals.subtotal, shape, "subtotal", path, currency)
            decimal(totals.discountTotal, shape, "discount_total", path, currency)
            decimal(totals.taxTotal, shape, "tax_total", path, currency)
            decimal(totals.total, shape, "total", path, currency)
            decimal(totals.amountPaid, shape, "amount_paid", path, currency)
            decimal(totals.balanceDue, shape, "balance_due", path, currency)
        }

        func payment(_ payment: Payment, _ path: JSONPath, _ currency: CurrencyCode) {
            let shape = ContractShape.payment
            text(payment.paymentID, shape, "payment_id", path)
            decimal(payment.amount, shape, "amount", path, currency)
            text(payment.reference, shape, "reference", path)
            checks.payment(payment, path)
        }
    }
}
