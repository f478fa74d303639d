import Foundation
import Testing

@testable import Domain

@Suite("Money, quantities and rounding")
struct MoneyTests {
    @Test(
        "accepted decimal text",
        arguments: [
            ("0", "0"), ("12.50", "12.50"), ("-3", "-3"), ("-0.00", "0.00"), ("0.000001", "0.000001"),
            ("12345678901234.5678", "12345678901234.5678"), ("999999999999999.999", "999999999999999.999"),
            ("100000000000000000000", "100000000000000000000"),
        ])
    func acceptedText(text: String, printed: String) throws {
        let money = try #require(Money(string: text))
        #expect(money.description == printed)
    }

    @Test(
        "rejected decimal text",
        arguments: [
            "", "-", ".5", "5.", "+1", "1e3", "1E3", "12,50", " 12", "12 ", "0012", "-01", "1.2.3", "NaN", "Infinity",
            "٣", "1_000", "0x10", "--1", "1.-2",
        ])
    func rejectedText(text: String) {
        #expect(Money(string: text) == nil)
        #expect(DecimalText.parse(text) == nil)
    }

    @Test func parsingIsExactWithoutDouble() throws {
        let money = try #require(Money(string: "12345678901234.5678"))
        let exact = Decimal(sign: .plus, exponent: -4, significand: Decimal(123_456_789_012_345_678 as UInt64))
        #expect(money.value == exact)
        #expect(money.value.exponent == -4)
        #expect(money.value.significand == Decimal(123_456_789_012_345_678 as UInt64))
        // Double cannot hold this value: the path through Double would differ.
        #expect(Decimal(Double(12345678901234.5678)) != exact)
        // 38 significant digits, Decimal's full precision.
        let wide = try #require(Money(string: "1234567890123456789.0123456789012345678"))
        #expect(wide.description == "1234567890123456789.0123456789012345678")
        #expect(Money(string: "1" + String(repeating: "0", count: 38)) == nil)  // 39 digits
    }

    @Test func tenDimesMakeOneDollar() {
        let dime: Money = "0.10"
        #expect(Array(repeating: dime, count: 10).sum() == "1.00")
        #expect(Array(repeating: dime, count: 10).sum().description == "1.00")
    }

    @Test func equalityIgnoresTrailingZerosButPrintingKeepsThem() {
        let a: Money = "12.5"
        let b: Money = "12.50"
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(b.description == "12.50")
        #expect(a.description == "12.5")
        #expect((b + "0.001").description == "12.501")
        #expect(b.significantFractionDigits == 1)
        #expect(b.writtenScale == 2)
        #expect(Money("1234.5").integerDigits == 4)
        #expect(Money("0.5").integerDigits == 1)
        #expect(Money("-999.5").integerDigits == 3)
    }

    @Test(
        "rounds half away from zero",
        arguments: [
            ("2.345", "USD", "2.35"), ("-2.345", "USD", "-2.35"), ("2.344999", "USD", "2.34"), ("2.5", "JPY", "3"),
            ("-2.5", "JPY", "-3"), ("1.0005", "KWD", "1.001"), ("-1.0005", "KWD", "-1.001"), ("0.005", "EUR", "0.01"),
            ("13.005", "USD", "13.01"), ("7", "USD", "7.00"),
        ])
    func roundsHalfAwayFromZero(value: String, currency: String, expected: String) throws {
        let rounded = Money(string: value)!.rounded(to: try #require(CurrencyCode(currency)))
        #expect(rounded.description == expected)
    }

    @Test func formattingRoundTripsExactly() throws {
        // Deterministic pseudo-random values with up to 15 integer and 6 fraction digits.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        for _ in 0..<2_000 {
            let integer = next() % 1_000_000_000_000_000
            let scale = Int(next() % 7)
            let fraction =
                scale == 0
                ? "" : "." + String(String(next()).suffix(scale)).padding(toLength: scale, withPad: "0", startingAt: 0)
            let text = (next() % 2 == 0 ? "-" : "") + String(integer) + fraction
            let money = try #require(Money(string: text), "\(text)")
            let expected = text.hasPrefix("-") && money.value.isZero ? String(text.dropFirst()) : text
            #expect(money.description == expected)
            #expect(Money(string: money.description) == money)
        }
    }

    @Test func codableUsesStringsAndRejectsNumbers() throws {
        struct Box: Codable, Equatable { var price: Money }
        let data = try JSONEncoder().encode(Box(price: "45.00"))
        #expect(String(decoding: data, as: UTF8.self) == #"{"price":"45.00"}"#)
        #expect(try JSONDecoder().decode(Box.self, from: data) == Box(price: "45.00"))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Box.self, from: Data(#"{"price":45.5}"#.utf8)) }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Box.self, from: Data(#"{"price":"4.5e1"}"#.utf8))
        }
    }

    @Test func percentageAndQuantity() {
        let rate: Percentage = "7.25"
        #expect(rate.fraction == Decimal(string: "0.0725"))
        let hours: Quantity = "1.8"
        let rate2: Money = "135.00"
        #expect(InvoiceArithmetic.lineAmount(quantity: hours, unitPrice: rate2, currency: .usd) == "243.00")
    }
}

@Suite("Currencies")
struct CurrencyTests {
    @Test(
        "minor units",
        arguments: [
            ("USD", 2), ("EUR", 2), ("GBP", 2), ("AUD", 2), ("NZD", 2), ("CAD", 2), ("JPY", 0), ("KRW", 0), ("ISK", 0),
            ("KWD", 3), ("BHD", 3), ("TND", 3), ("CHF", 2), ("MXN", 2), ("ZAR", 2), ("XOF", 0),
        ])
    func minorUnits(code: String, units: Int) throws {
        let currency = try #require(CurrencyCode(code))
        #expect(currency.minorUnits == units)
        #expect(currency.description == code)
    }

    @Test("not accepted", arguments: ["usd", "US", "USDD", "XXX", "XTS", "XAU", "CLF", "DEM", "HRK", "", "BTC"])
    func notAccepted(code: String) {
        #expect(CurrencyCode(code) == nil)
    }

    @Test func tableIsWellFormed() {
        #expect(CurrencyCode.all.count > 150)
        #expect(CurrencyCode.all.allSatisfy { $0.code.wholeMatch(of: /[A-Z]{3}/) != nil })
        #expect(Set(CurrencyCode.all.map(\.code)).count == CurrencyCode.all.count)
        #expect(CurrencyCode.all == CurrencyCode.all.sorted())
        #expect(CurrencyCode.jpy.minorUnit == "1")
        #expect(CurrencyCode.kwd.minorUnit == "0.001")
    }
}

@Suite("Invoice arithmetic")
struct ArithmeticTests {
    @Test(
        "tax tolerance: max(1, ⌈n/2⌉) minor units",
        arguments: [
            (0, "USD", "0.01"), (1, "USD", "0.01"), (2, "USD", "0.01"), (3, "USD", "0.02"), (10, "USD", "0.05"),
            (3, "JPY", "2"), (5, "KWD", "0.003"),
        ])
    func tolerance(lines: Int, currency: String, expected: String) {
        #expect(
            InvoiceArithmetic.taxTolerance(coveredLines: lines, currency: CurrencyCode(currency)!) == Money(
                string: expected)!)
    }

    @Test func totalsReproduceTheWorkedExample() throws {
        let event = try InvoiceEventDecoder().decode(
            try Repo.bytes(Repo.examples.appendingPathComponent("invoice-updated.json"))
        ).get()
        let invoice = try #require(event.invoice)
        let totals = InvoiceArithmetic.totals(
            lines: invoice.lines, taxLines: invoice.taxLines, payments: invoice.payments, currency: invoice.currency)
        #expect(totals == invoice.totals)
        #expect(totals.total.description == "1017.24")
        for taxLine in invoice.taxLines {
            #expect(InvoiceArithmetic.taxableAmount(for: taxLine, in: invoice.lines) == taxLine.taxableAmount)
            #expect(
                InvoiceArithmetic.taxAmount(
                    taxableAmount: taxLine.taxableAmount, ratePercent: taxLine.ratePercent, currency: .usd)
                    == taxLine.amount)
        }
    }

    @Test func perLineTaxRoundingWithinTolerance() throws {
        // A shop that rounds tax per line: 3 lines of 0.05 at 10 % → 3 × round(0.005) = 0.03, while
        // round(0.15 × 10 %) = 0.02. Allowed: tolerance for 3 lines is 2 cents.
        let body = try StructuralCase.mutate([
            (
                "invoice.lines",
                .array(
                    Array(
                        repeating: .object(
                            {
                                var line = JSONObject()
                                line.insert("kind", .string("part"))
                                line.insert("description", .string("Washer"))
                                line.insert("quantity", .string("1"))
                                line.insert("unit_price", .string("0.05"))
                                line.insert("amount", .string("0.05"))
                                line.insert("taxable", .bool(true))
                                line.insert("part_number", .string("W-1"))
                                return line
                            }()), count: 3))
            ),
            (
                "invoice.tax_lines",
                .array([
                    .object(
                        {
                            var tax = JSONObject()
                            tax.insert("jurisdiction", .string("Test"))
                            tax.insert("rate_percent", .string("10"))
                            tax.insert("taxable_amount", .string("0.15"))
                            tax.insert("amount", .string("0.03"))
                            return tax
                        }())
                ])
            ),
            (
                "invoice.totals",
                .object(
                    {
                        var totals = JSONObject()
                        for (key, value) in [
                            ("subtotal", "0.15"), ("tax_total", "0.03"), ("total", "0.18"), ("amount_paid", "0.00"),
                            ("balance_due", "0.18"),
                        ] {
                            totals.insert(key, .string(value))
                        }
                        return totals
                    }())
            ),
        ])()
        #expect(InvoiceEventDecoder().decode(body).failures == [])
    }
}
