#!/usr/bin/env python3
"""A day at three auto-electrical shops, sent to Ledgerline's ingest as the shop software would.

Usage: shop_day.py --url http://127.0.0.1:8080 --tenant TENANT --secret SECRET --date 2026-11-20
       [--location LOC:CURRENCY:PREFIX:COUNT ...] [--mismatch LOC] [--seed N]

For each location: COUNT invoices (parts, labor, fees, sublets, core charges, discounts, sales tax or GST),
then two updates, payments (one partial), one void, and at --mismatch one invoice whose total is off by a
cent (rejected by ingest with its reason). Every request is signed (HMAC-SHA256 over "<timestamp>.<body>")
and carries an Idempotency-Key; amounts are exact decimals. Prints one line per location and a summary as
JSON on the last line.
"""
import argparse
import hashlib
import hmac
import json
import random
import sys
import time
import urllib.error
import urllib.request
import uuid
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
CUSTOMERS = [
    ("Marisol Vega", "Vega Landscaping LLC"), ("Dale Whitcombe", None), ("Priya Raman", None),
    ("Tomasz Nowak", "Nowak Electrical"), ("Grace Okafor", None), ("Hank Delgado", "Delgado Towing"),
    ("Lena Fischer", None), ("Omar Haddad", "Haddad Fleet Services"), ("June Park", None), ("Ruth Abernathy", None),
]
VEHICLES = [
    ("1FTFW1E50MFA12345", 2021, "Ford", "F-150"), ("1HGCV1F34LA012345", 2020, "Honda", "Accord"),
    ("5YJ3E1EA7KF123456", 2019, "Tesla", "Model 3"), ("JTDKN3DU0A0123456", 2010, "Toyota", "Prius"),
    ("1GCUYDED5LZ123456", 2020, "Chevrolet", "Silverado"), ("WVWZZZ1KZ8W123456", 2008, "Volkswagen", "Golf"),
]
PART_NUMBERS = {"Alternator, remanufactured 160 A": "ALT-11234R", "Starter motor": "STR-3380",
                "AGM battery group 48": "AGM-H6", "Headlamp wiring harness": "HLH-2210", "Serpentine belt": "K060923",
                "Fuse assortment": "FUSE-ATO-KIT"}
JOBS = [
    ("part", "Alternator, remanufactured 160 A", "289.95", "1"), ("part", "Starter motor", "214.50", "1"),
    ("part", "AGM battery group 48", "229.99", "1"), ("part", "Headlamp wiring harness", "86.40", "1"),
    ("part", "Serpentine belt", "38.49", "1"), ("part", "Fuse assortment", "2.75", "6"),
    ("labor", "Diagnose charging system", "135.00", "1.2"), ("labor", "Replace starter", "135.00", "1.5"),
    ("labor", "Trace parasitic drain", "135.00", "2.0"), ("labor", "Repair headlamp circuit", "135.00", "0.8"),
]


def money(value):
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


class Shop:
    def __init__(self, location, currency, prefix, count, rng, date, source="shopmaster-pro"):
        self.location, self.currency, self.prefix, self.count = location, currency, prefix, count
        self.rng, self.date, self.source = rng, date, source
        self.invoices = {}

    def lines(self):
        picks = self.rng.sample(JOBS, 3)
        lines = []
        for number, (kind, text, price, qty) in enumerate(picks, start=1):
            lines.append(self.line(number, kind, text, price, qty, taxable=(kind == "part")))
        extras = [("fee", "Shop supplies", "12.50", True)]
        if self.rng.random() < 0.4:
            extras.append(("core_charge", "Core deposit", "45.00", True))
        if self.rng.random() < 0.3:
            extras.append(("sublet", "Wheel alignment (sublet)", "89.00", False))
        if self.rng.random() < 0.3:
            extras.append(("discount", "Loyalty discount", "-15.00", False))
        for kind, text, price, taxable in extras:
            lines.append(self.line(len(lines) + 1, kind, text, price, "1", taxable))
        return lines

    def line(self, number, kind, text, price, qty, taxable):
        amount = money(Decimal(price) * Decimal(qty))
        line = {"line_id": f"L{number}", "kind": kind, "description": text, "quantity": qty,
                "unit_price": price, "amount": amount, "taxable": taxable}
        if kind == "part":
            line["part_number"] = PART_NUMBERS[text]
        elif kind == "sublet":
            line["vendor_name"] = "Valley Alignment Co."
        if self.currency == "AUD":
            line["tax_code"] = "GST" if taxable else "FREE"
        elif taxable:
            line["tax_code"] = "SALES"
        return line

    def totals(self, lines, paid=Decimal("0")):
        subtotal = sum(Decimal(line["amount"]) for line in lines)
        taxable = sum(Decimal(line["amount"]) for line in lines if line["taxable"])
        if self.currency == "AUD":
            rate, name, code = Decimal("10"), "GST", "GST"
        else:
            rate, name, code = Decimal("8.75"), "Sales tax", "SALES"
        tax = (taxable * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        tax_lines = [{"jurisdiction": name, "tax_code": code, "rate_percent": str(rate),
                      "taxable_amount": money(taxable), "amount": money(tax)}] if taxable else []
        discount = sum(Decimal(line["amount"]) for line in lines if line["kind"] == "discount")
        total = subtotal + tax
        return tax_lines, {"subtotal": money(subtotal), "discount_total": money(discount), "tax_total": money(tax),
                           "total": money(total), "amount_paid": money(paid), "balance_due": money(total - paid)}

    def event(self, event_type, invoice_id, version, key_suffix, **payload):
        body = {"schema_version": "1", "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "event_type": event_type, "tenant_id": None, "location_id": self.location,
                "source_system": self.source, "occurred_at": f"{self.date}T{9 + version:02d}:15:00Z",
                "idempotency_key": f"{self.source}:{self.location}:{invoice_id}:{key_suffix}",
                "invoice_version": version}
        body.update(payload)
        return body

    def snapshot(self, invoice_id, version, lines, paid=Decimal("0"), mismatch=False):
        number = self.invoices[invoice_id]["number"]
        customer_name, company = self.invoices[invoice_id]["customer"]
        vin, year, make, model = self.invoices[invoice_id]["vehicle"]
        tax_lines, totals = self.totals(lines, paid)
        if mismatch:
            totals["total"] = money(Decimal(totals["total"]) + CENT)
            totals["balance_due"] = money(Decimal(totals["balance_due"]) + CENT)
        customer = {"customer_id": f"{self.prefix}-C{CUSTOMERS.index((customer_name, company)) + 1:03d}",
                    "name": customer_name, "tax_exempt": False}
        if company:
            customer["company_name"] = company
        return {"invoice_id": invoice_id, "invoice_number": number,
                "repair_order_number": f"RO-{number.split('-')[-1]}", "status": "open" if paid == 0 else (
                    "paid" if paid >= Decimal(totals["total"]) else "partially_paid"),
                "issue_date": self.date, "currency": self.currency, "customer": customer,
                "vehicle": {"vin": vin, "year": year, "make": make, "model": model,
                            "odometer": {"reading": self.rng.randint(20000, 180000),
                                         "unit": "km" if self.currency == "AUD" else "mi"}},
                "lines": lines, "tax_lines": tax_lines, "totals": totals, "payments": []}

    def day(self, mismatch):
        events = []
        for n in range(1, self.count + 1):
            invoice_id = f"{self.prefix.lower()}-inv-{n:04d}"
            self.invoices[invoice_id] = {"number": f"{self.prefix}-{1000 + n}", "customer": self.rng.choice(CUSTOMERS),
                                         "vehicle": self.rng.choice(VEHICLES), "version": 1}
            lines = self.lines()
            self.invoices[invoice_id]["lines"] = lines
            events.append(self.event("invoice.created", invoice_id, 1, "v1",
                                     invoice=self.snapshot(invoice_id, 1, lines)))
        ids = list(self.invoices)
        for invoice_id in ids[:2]:  # the customer approved more work
            record = self.invoices[invoice_id]
            record["lines"] = record["lines"] + [self.line(len(record["lines"]) + 1, "labor", "Additional diagnosis",
                                                           "135.00", "0.5", False)]
            record["version"] = 2
            events.append(self.event("invoice.updated", invoice_id, 2, "v2",
                                     invoice=self.snapshot(invoice_id, 2, record["lines"])))
        for index, invoice_id in enumerate(ids[2:5]):
            record = self.invoices[invoice_id]
            _, totals = self.totals(record["lines"])
            amount = Decimal(totals["total"]) if index < 2 else (Decimal(totals["total"]) / 2).quantize(CENT)
            record["version"] += 1
            events.append(self.event(
                "payment.received", invoice_id, record["version"], f"pay{record['version']}",
                invoice_ref={"invoice_id": invoice_id, "invoice_number": record["number"], "currency": self.currency},
                payment={"payment_id": f"{invoice_id}-pay-1", "amount": money(amount),
                         "method": "card" if index % 2 == 0 else "cash", "payment_date": self.date}))
        void_id = ids[5]
        self.invoices[void_id]["version"] += 1
        events.append(self.event(
            "invoice.voided", void_id, self.invoices[void_id]["version"], "void",
            invoice_ref={"invoice_id": void_id, "invoice_number": self.invoices[void_id]["number"],
                         "currency": self.currency},
            void={"reason": "Duplicate ticket opened at the counter"}))
        if mismatch:
            invoice_id = f"{self.prefix.lower()}-inv-bad1"
            self.invoices[invoice_id] = {"number": f"{self.prefix}-1999", "customer": CUSTOMERS[0],
                                         "vehicle": VEHICLES[0], "version": 1}
            events.append(self.event("invoice.created", invoice_id, 1, "v1",
                                     invoice=self.snapshot(invoice_id, 1, self.lines(), mismatch=True)))
        return events


def post(url, tenant, secret, event):
    event["tenant_id"] = tenant
    body = json.dumps(event, separators=(",", ":")).encode()
    for attempt in range(20):
        timestamp = str(int(time.time()))
        signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(url + "/v1/events", data=body, method="POST", headers={
            "Content-Type": "application/json", "Ledgerline-Tenant": tenant, "Ledgerline-Timestamp": timestamp,
            "Ledgerline-Signature": f"v1={signature}", "Idempotency-Key": event["idempotency_key"]})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            if error.code == 503:  # ingest is catching up: retry after its Retry-After
                time.sleep(float(error.headers.get("Retry-After", "1")))
                continue
            return error.code, json.loads(error.read() or b"{}")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(min(0.2 * 2 ** attempt, 2))
    raise SystemExit(f"ingest at {url} did not answer")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--location", action="append", required=True, help="LOC:CURRENCY:PREFIX:COUNT")
    parser.add_argument("--mismatch", help="the location that sends one invoice with a wrong total")
    parser.add_argument("--seed", type=int, default=20261120)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    summary = {}
    for spec in options.location:
        location, currency, prefix, count = spec.split(":")
        shop = Shop(location, currency, prefix, int(count), rng, options.date)
        answers = {"accepted": 0, "rejected": 0, "duplicate": 0}
        rejected = []
        events = shop.day(options.mismatch == location)
        for event in events:
            status, answer = post(options.url, options.tenant, options.secret, event)
            if status == 202:
                answers["accepted"] += 1
            elif status == 200:
                answers["duplicate"] += 1
            else:
                answers["rejected"] += 1
                first = (answer.get("errors") or [{}])[0]
                rejected.append({"invoice": (event.get("invoice") or event.get("invoice_ref"))["invoice_number"],
                                 "status": status, "reason": first.get("code"), "field": first.get("field"),
                                 "message": first.get("message") or answer.get("detail")})
        summary[location] = {"events": len(events), **answers, "rejected_events": rejected}
        print(f"  {location}: sent {len(events)} events: {answers['accepted']} accepted, "
              f"{answers['duplicate']} duplicates, {answers['rejected']} rejected", file=sys.stderr)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
