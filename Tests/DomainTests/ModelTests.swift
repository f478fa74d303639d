import Foundation
import Testing

@testable import Domain

@Suite("Dates and timestamps")
struct DateTests {
    @Test(
        "calendar dates",
        arguments: [
            ("2025-03-14", true), ("2024-02-29", true), ("2000-02-29", true), ("1900-02-29", false),
            ("2025-02-29", false),
            ("2025-04-31", false), ("2025-13-01", false), ("2025-00-10", false), ("2025-3-14", false),
            ("25-03-14", false),
            ("2025-03-14T00:00:00Z", false), ("0999-01-01", false), ("２０２５-03-14", false),
        ])
    func localDates(text: String, valid: Bool) {
        let date = LocalDate(string: text)
        #expect((date != nil) == valid)
        if let date { #expect(date.description == text) }
    }

    @Test func localDatesOrderAndCountDays() {
        #expect(LocalDate(string: "2025-03-14")! < LocalDate(string: "2025-04-01")!)
        #expect(LocalDate(string: "1970-01-01")!.daysSinceEpoch == 0)
        #expect(LocalDate(string: "2000-03-01")!.daysSinceEpoch == 11_017)
    }

    @Test(
        "timestamps",
        arguments: [
            ("2025-03-14T16:42:05-07:00", 1_741_995_725, 0), ("2025-03-14T23:42:05Z", 1_741_995_725, 0),
            ("2025-03-14T11:20:31.250+09:00", 1_741_918_831, 250_000_000), ("1970-01-01T00:00:00.000000001Z", 0, 1),
            ("1969-12-31T23:59:59+00:00", -1, 0),
        ])
    func timestamps(text: String, seconds: Int64, nanos: Int32) throws {
        let timestamp = try #require(Timestamp(string: text))
        #expect(timestamp.epochSeconds == seconds)
        #expect(timestamp.nanoseconds == nanos)
        let expectedText = text.replacingOccurrences(of: "+00:00", with: "Z")
        #expect(timestamp.description == expectedText)
    }

    @Test(
        "rejected timestamps",
        arguments: [
            "2025-03-14T16:42:05", "2025-03-14 16:42:05Z", "2025-03-14t16:42:05z", "2025-03-14T24:00:00Z",
            "2025-03-14T16:60:00Z", "2025-03-14T16:42:60Z", "2025-03-14T16:42:05.Z", "2025-03-14T16:42:05.1234567890Z",
            "2025-03-14T16:42:05+0700", "2025-02-30T00:00:00Z", "2025-03-14T16:42:05+07:00x",
        ])
    func rejectedTimestamps(text: String) {
        #expect(Timestamp(string: text) == nil)
    }

    @Test func timestampsCompareInstants() {
        let a = Timestamp(string: "2025-03-14T16:42:05-07:00")!
        let b = Timestamp(string: "2025-03-14T23:42:05Z")!
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a.description != b.description)
        #expect(Timestamp(string: "2025-03-14T23:42:05.001Z")! > b)
        #expect(Timestamp(Date(timeIntervalSince1970: 1_741_995_725.5)).description == "2025-03-14T23:42:05.500Z")
    }
}

@Suite("Model types and Codable")
struct ModelTests {
    private func sampleEvent() throws -> InvoiceEvent {
        try InvoiceEventDecoder().decode(try Repo.bytes(Repo.examples.appendingPathComponent("invoice-created.json")))
            .get()
    }

    @Test func decodedValuesAreTyped() throws {
        let event = try sampleEvent()
        #expect(event.eventType == .invoiceCreated)
        #expect(event.tenantID == "sparks-franchise")
        #expect(event.invoiceID == "inv_01HZX3K8Q7T2")
        #expect(
            event.invoiceReference
                == InvoiceReference(invoiceID: "inv_01HZX3K8Q7T2", invoiceNumber: "INV-10482", currency: .usd))
        let invoice = try #require(event.invoice)
        #expect(
            invoice.lines.map(\.kind) == [.part, .coreCharge, .part, .part, .labor, .labor, .fee, .sublet, .discount])
        #expect(invoice.lines[0].detail == .part(partNumber: "ALT-11234R", manufacturer: "Bosch"))
        #expect(invoice.lines[4].laborHours == "1.8")
        #expect(invoice.lines[4].laborRate == "135.00")
        #expect(invoice.lines[0].laborHours == nil)
        #expect(invoice.lines[7].detail == .sublet(vendorName: "Valley Alignment Co.", vendorInvoiceNumber: "VA-5521"))
        #expect(invoice.vehicle?.odometer == Odometer(reading: 48_213, unit: .miles))
        #expect(invoice.totals.total == "778.00")
        #expect(invoice.issueDate == LocalDate(year: 2025, month: 3, day: 14))
    }

    @Test func eventsBuiltInSwiftEncodeToTheContract() throws {
        var event = try sampleEvent()
        event.payload = .invoiceVoided(event.invoiceReference, VoidDetails(reason: "Customer cancelled the job."))
        event.invoiceVersion = 2
        #expect(InvoiceEventValidator().validate(event).isEmpty)
        let data = try JSONEncoder().encode(event)
        let decoded = try InvoiceEventDecoder().decode(data).get()
        #expect(decoded == event)
        let json = try Repo.json(data)
        #expect(json.value(at: "event_type") == .string("invoice.voided"))
        #expect(json.value(at: "invoice") == nil)
        #expect(json.value(at: "invoice_ref.currency") == .string("USD"))
    }

    @Test func codableDecodingChecksStructureOnly() throws {
        // A value problem (line amount) passes Codable, which checks structure only…
        let document = try Repo.example("invoice-created.json").setting("invoice.lines[0].amount", .string("1.00"))
        let event = try JSONDecoder().decode(InvoiceEvent.self, from: Data(document.bytes))
        // …and the validator catches it.
        #expect(InvoiceEventValidator().validate(event).map(\.code).contains(.lineAmountMismatch))
        // A structural problem fails Codable with the failure list in the message.
        let broken = try Repo.example("invoice-created.json").setting("invoice.lines[0].amount", .number("1.00"))
        do {
            _ = try JSONDecoder().decode(InvoiceEvent.self, from: Data(broken.bytes))
            Issue.record("decoded a float amount")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription.contains("money.float_not_allowed"))
        }
    }

    @Test func nestedTypesDecodeOnTheirOwn() throws {
        let line = try JSONDecoder().decode(
            InvoiceLine.self,
            from: Data(
                #"{"kind":"labor","description":"Diag","quantity":"0.5","unit_price":"120","amount":"60.00","taxable":false,"technician_name":"Dana"}"#
                    .utf8))
        #expect(line.detail == .labor(technicianID: nil, technicianName: "Dana", laborCode: nil))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(
                InvoiceLine.self,
                from: Data(
                    #"{"kind":"part","description":"x","quantity":"1","unit_price":"1","amount":"1","taxable":false}"#
                        .utf8))
        }
        let payment = try JSONDecoder().decode(
            Payment.self,
            from: Data(#"{"payment_id":"p","amount":"5.00","method":"cash","payment_date":"2025-01-02"}"#.utf8))
        #expect(payment.method == .cash)
    }

    @Test func typedValidatorReportsValuesBuiltInSwift() throws {
        var event = try sampleEvent()
        guard case .invoiceCreated(var invoice) = event.payload else { return }
        invoice.customer.name = ""
        invoice.lines[0].amount = "1.00"
        event.payload = .invoiceCreated(invoice)
        event.sourceSystem = "shop master"
        let failures = InvoiceEventValidator().validate(event)
        #expect(
            Set(failures.map(\.path)).isSuperset(of: [
                "source_system", "invoice.customer.name", "invoice.lines[0].amount",
            ]))
        #expect(InvoiceEventValidator().validate(invoice).map(\.path).contains("invoice.customer.name"))
    }
}

@Suite("Batches")
struct BatchTests {
    private func batch(_ documents: [JSONValue]) -> [UInt8] { JSONValue.array(documents).bytes }

    @Test func eachEventHasItsOwnResult() throws {
        let good = try Repo.example("invoice-voided.json")
        let bad = good.setting("invoice_ref.currency", .string("usd"))
        let results = try InvoiceEventDecoder().decodeBatch(batch([good, bad, good])).get()
        #expect(results.count == 3)
        #expect((try? results[0].get()) != nil)
        #expect(results[1].failures.map(\.path) == ["[1].invoice_ref.currency"])
        #expect((try? results[2].get()) != nil)
    }

    @Test func duplicateKeysInsideAnElementBelongToThatElement() throws {
        let good = try Repo.example("invoice-voided.json")
        let text =
            "[" + good.serialized + ","
            + good.serialized.replacingOccurrences(
                of: "\"void\":", with: "\"void\":{\"reason\":\"first wins\"},\"void\":") + "]"
        let results = try InvoiceEventDecoder().decodeBatch(Array(text.utf8)).get()
        #expect((try? results[0].get()) != nil)
        #expect(results[1].failures.map(\.description) == ["schema.duplicate_key at [1].void"])
    }

    @Test func batchLevelFailures() throws {
        let good = try Repo.example("invoice-voided.json")
        let decoder = InvoiceEventDecoder(limits: ValidationLimits(maxEventsPerBatch: 2))
        #expect(decoder.decodeBatch(batch([good, good, good])).failures.map(\.code) == [.tooManyEvents])
        #expect(decoder.decodeBatch(good.bytes).failures.map(\.code) == [.wrongType])
        #expect(decoder.decodeBatch(Array("[{]".utf8)).failures.map(\.code) == [.invalidJSON])
        let small = InvoiceEventDecoder(limits: ValidationLimits(maxBatchBodyBytes: 10))
        #expect(small.decodeBatch(batch([good])).failures.map(\.code) == [.bodyTooLarge])
        #expect(try decoder.decodeBatch(Array("[]".utf8)).get().isEmpty)
    }
}

extension Result where Success == [Result<InvoiceEvent, ValidationError>], Failure == ValidationError {
    var failures: [ValidationFailure] {
        if case .failure(let error) = self { return error.failures }
        return []
    }
}
