/// The statements of ``EventProcessor``. Constant text: every value is a bind parameter, never SQL.
///
/// Several statements are data-modifying CTEs so that one round trip writes a whole change (invoice,
/// lines, tax lines, vehicle, payments, outbox rows). Invoice parts are read from the event's canonical
/// JSON (`$1::jsonb`), whose keys are the contract's wire names.
enum SQL {
    /// The outbox rows of a statement: five text arrays (exchange, routing key, message type, headers JSON,
    /// body JSON) starting at parameter `first`. Each row's id comes from the identity sequence; a sync job's
    /// `job_id` is set to it. `condition` filters whether the rows are written at all.
    static func outbox(tenant: Int, first: Int, condition: String = "") -> String {
        """
        ob AS (
            INSERT INTO outbox (outbox_id, tenant_id, exchange, routing_key, message_id, message_type, headers, body)
            SELECT x.id, $\(tenant), x.exchange, x.routing_key, x.id::text, x.message_type, x.headers::jsonb,
                   CASE WHEN x.message_type = 'sync_job'
                        THEN jsonb_set(x.body::jsonb, '{job_id}', to_jsonb(x.id::text))
                        ELSE x.body::jsonb END
            FROM (SELECT nextval('outbox_outbox_id_seq'::regclass) AS id, m.*
                  FROM unnest($\(first)::text[], $\(first + 1)::text[], $\(first + 2)::text[], $\(first + 3)::text[],
                              $\(first + 4)::text[]) AS m(exchange, routing_key, message_type, headers, body)
                  \(condition)) AS x
            RETURNING 1
        )
        """
    }

    /// Sets the tenant and takes every invoice lock of a batch, in hash order. $1 tenant, $2 lock keys.
    static let lockAll = """
        SELECT set_config('ledgerline.tenant_id', $1, true),
               (SELECT count(pg_advisory_xact_lock(s.h))
                  FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($2::text[]) AS k ORDER BY 1) AS s) AS locks
        """

    /// $1 tenant.
    static let setTenant = "SELECT set_config('ledgerline.tenant_id', $1, true)"

    /// Claims the idempotency key (only for a registered location) and reads the invoice's state.
    /// $1 tenant, $2 location, $3 source system, $4 idempotency key, $5 event id, $6 event type, $7 invoice id,
    /// $8 invoice version, $9 occurred at, $10 channel, $11 the event's JSON (its jsonb text is fingerprinted).
    static let claimAndState = """
        WITH j AS (SELECT $11::jsonb AS body),
        claim AS (
            INSERT INTO inbound_events (tenant_id, location_id, source_system, idempotency_key, event_id, event_type,
                                        invoice_id, invoice_version, occurred_at, channel, event_sha256, body, outcome)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, sha256(convert_to(j.body::text, 'UTF8')), j.body, 'applied'
            FROM j
            WHERE EXISTS (SELECT 1 FROM locations WHERE tenant_id = $1 AND location_id = $2)
            ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
            RETURNING event_key
        )
        SELECT (SELECT event_key FROM claim) AS claimed_key,
               EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1) AS tenant_known,
               EXISTS (SELECT 1 FROM locations WHERE tenant_id = $1 AND location_id = $2) AS location_known,
               i.invoice_key, i.invoice_version, i.status, i.currency, i.total, i.amount_paid, i.invoice_number,
               i.customer_name,
               (SELECT coalesce(array_agg(p.payment_id), '{}') FROM payments p
                 WHERE p.invoice_key = i.invoice_key AND p.status = 'applied') AS payment_ids,
               (SELECT coalesce(array_agg(c.connection_id::text || ' ' || c.erp || ' ' || c.push_invoices::text || ' '
                                          || c.push_payments::text ORDER BY c.created_at), '{}')
                  FROM erp_connections c
                 WHERE c.tenant_id = $1 AND c.location_id = $2 AND c.status = 'active') AS connections,
               EXISTS (SELECT 1 FROM parked_events pe
                        WHERE pe.tenant_id = $1 AND pe.location_id = $2 AND pe.source_system = $3
                          AND pe.invoice_id = $7 AND pe.resolved_at IS NULL) AS has_parked
        FROM (SELECT 1) AS one
        LEFT JOIN invoices i
               ON i.tenant_id = $1 AND i.location_id = $2 AND i.source_system = $3 AND i.invoice_id = $7
        """

    /// Whether the event stored under a key has the same content. $1 tenant, $2 idempotency key, $3 event JSON.
    static let storedEvent = """
        SELECT outcome, event_sha256 = sha256(convert_to($3::jsonb::text, 'UTF8')) AS same
        FROM inbound_events WHERE tenant_id = $1 AND idempotency_key = $2
        """

    /// Gives up a claimed key (the event was rejected after the claim). $1 event key.
    static let unclaim = "DELETE FROM inbound_events WHERE event_key = $1"

    /// Writes an invoice snapshot (created / updated): customer, invoice, lines, tax lines, vehicle, payments,
    /// read from the event as just stored in `inbound_events` (already parsed, so the JSON is not sent twice).
    /// $1 event key, $2 tenant, $3 location, $4 source system, $5 invoice version, $6 occurred at, $7 event id,
    /// $8–$12 outbox.
    static let applySnapshot = """
        WITH ev AS (SELECT body AS e FROM inbound_events WHERE event_key = $1),
        cust AS (
            INSERT INTO customers AS c (tenant_id, location_id, source_system, customer_id, name, company_name, email,
                                        phone, billing_line1, billing_line2, billing_city, billing_region,
                                        billing_postal_code, billing_country, tax_exempt, tax_exempt_reason,
                                        last_seen_occurred_at)
            SELECT $2, $3, $4, k->>'customer_id', k->>'name', k->>'company_name', k->>'email', k->>'phone',
                   k->'billing_address'->>'line1', k->'billing_address'->>'line2', k->'billing_address'->>'city',
                   k->'billing_address'->>'region', k->'billing_address'->>'postal_code',
                   k->'billing_address'->>'country', coalesce((k->>'tax_exempt')::boolean, false),
                   k->>'tax_exempt_reason', $6
            FROM (SELECT e->'invoice'->'customer' AS k FROM ev) AS x
            ON CONFLICT (tenant_id, location_id, source_system, customer_id) DO UPDATE SET
                name = EXCLUDED.name, company_name = EXCLUDED.company_name, email = EXCLUDED.email,
                phone = EXCLUDED.phone, billing_line1 = EXCLUDED.billing_line1, billing_line2 = EXCLUDED.billing_line2,
                billing_city = EXCLUDED.billing_city, billing_region = EXCLUDED.billing_region,
                billing_postal_code = EXCLUDED.billing_postal_code, billing_country = EXCLUDED.billing_country,
                tax_exempt = EXCLUDED.tax_exempt, tax_exempt_reason = EXCLUDED.tax_exempt_reason,
                row_version = c.row_version + 1, last_seen_occurred_at = EXCLUDED.last_seen_occurred_at,
                updated_at = now()
            WHERE c.last_seen_occurred_at <= EXCLUDED.last_seen_occurred_at
              AND (c.name, c.company_name, c.email, c.phone, c.billing_line1, c.billing_line2, c.billing_city,
                   c.billing_region, c.billing_postal_code, c.billing_country, c.tax_exempt, c.tax_exempt_reason)
                  IS DISTINCT FROM
                  (EXCLUDED.name, EXCLUDED.company_name, EXCLUDED.email, EXCLUDED.phone, EXCLUDED.billing_line1,
                   EXCLUDED.billing_line2, EXCLUDED.billing_city, EXCLUDED.billing_region,
                   EXCLUDED.billing_postal_code, EXCLUDED.billing_country, EXCLUDED.tax_exempt,
                   EXCLUDED.tax_exempt_reason)
        ),
        -- Payments recorded in the accounting system (two-way sync) that this snapshot does not list: the ERP wins
        -- for payments received, so they stay applied and count in the paid amount.
        erp_paid AS (
            SELECT coalesce(sum(p.amount), 0) AS amount
            FROM payments p JOIN invoices i2 ON i2.invoice_key = p.invoice_key
            WHERE i2.tenant_id = $2 AND i2.location_id = $3 AND i2.source_system = $4
              AND i2.invoice_id = (SELECT e->'invoice'->>'invoice_id' FROM ev)
              AND p.recorded_from = 'erp_pull' AND p.status = 'applied'
              AND p.payment_id NOT IN (
                  SELECT x->>'payment_id'
                  FROM ev, jsonb_array_elements(CASE WHEN jsonb_typeof(ev.e->'invoice'->'payments') = 'array'
                                                     THEN ev.e->'invoice'->'payments' ELSE '[]'::jsonb END) AS x)
        ),
        inv AS (
            INSERT INTO invoices AS i (tenant_id, location_id, source_system, invoice_id, invoice_number, job_number,
                                       work_order_number, repair_order_number, purchase_order_number, status,
                                       issue_date, due_date, payment_terms, currency, customer_id, customer_name,
                                       subtotal, discount_total, tax_total, total, amount_paid, balance_due, notes,
                                       invoice_version, last_occurred_at, last_event_id)
            SELECT $2, $3, $4, v->>'invoice_id', v->>'invoice_number', v->>'job_number', v->>'work_order_number',
                   v->>'repair_order_number', v->>'purchase_order_number', v->>'status', (v->>'issue_date')::date,
                   (v->>'due_date')::date, v->>'payment_terms', v->>'currency', v->'customer'->>'customer_id',
                   v->'customer'->>'name', (v->'totals'->>'subtotal')::numeric,
                   (v->'totals'->>'discount_total')::numeric, (v->'totals'->>'tax_total')::numeric,
                   (v->'totals'->>'total')::numeric, (v->'totals'->>'amount_paid')::numeric,
                   (v->'totals'->>'balance_due')::numeric, v->>'notes', $5, $6, $7
            FROM (SELECT e->'invoice' AS v FROM ev) AS x
            ON CONFLICT (tenant_id, location_id, source_system, invoice_id) DO UPDATE SET
                invoice_number = EXCLUDED.invoice_number, job_number = EXCLUDED.job_number,
                work_order_number = EXCLUDED.work_order_number, repair_order_number = EXCLUDED.repair_order_number,
                purchase_order_number = EXCLUDED.purchase_order_number,
                issue_date = EXCLUDED.issue_date, due_date = EXCLUDED.due_date, payment_terms = EXCLUDED.payment_terms,
                currency = EXCLUDED.currency, customer_id = EXCLUDED.customer_id,
                customer_name = EXCLUDED.customer_name, subtotal = EXCLUDED.subtotal,
                discount_total = EXCLUDED.discount_total, tax_total = EXCLUDED.tax_total, total = EXCLUDED.total,
                amount_paid = EXCLUDED.amount_paid + (SELECT amount FROM erp_paid),
                balance_due = EXCLUDED.balance_due - (SELECT amount FROM erp_paid),
                status = CASE
                    WHEN (SELECT amount FROM erp_paid) = 0 OR EXCLUDED.status NOT IN ('open', 'partially_paid')
                        THEN EXCLUDED.status
                    WHEN EXCLUDED.balance_due - (SELECT amount FROM erp_paid) <= 0 THEN 'paid'
                    ELSE 'partially_paid' END,
                notes = EXCLUDED.notes,
                invoice_version = EXCLUDED.invoice_version, last_occurred_at = EXCLUDED.last_occurred_at,
                last_event_id = EXCLUDED.last_event_id, updated_at = now()
            RETURNING invoice_key
        ),
        old_lines AS (
            DELETE FROM invoice_lines WHERE invoice_key = (SELECT invoice_key FROM inv) AND invoice_version <> $5
        ),
        new_lines AS (
            INSERT INTO invoice_lines (invoice_key, invoice_version, line_number, tenant_id, line_id, kind, description,
                                       quantity, unit_price, amount, taxable, tax_code, part_number, manufacturer,
                                       technician_id, technician_name, labor_code, fee_code, vendor_name,
                                       vendor_invoice_number)
            SELECT (SELECT invoice_key FROM inv), $5, l.n, $2, l.x->>'line_id', l.x->>'kind', l.x->>'description',
                   (l.x->>'quantity')::numeric, (l.x->>'unit_price')::numeric, (l.x->>'amount')::numeric,
                   (l.x->>'taxable')::boolean, l.x->>'tax_code', l.x->>'part_number', l.x->>'manufacturer',
                   l.x->>'technician_id', l.x->>'technician_name', l.x->>'labor_code', l.x->>'fee_code',
                   l.x->>'vendor_name', l.x->>'vendor_invoice_number'
            FROM ev, jsonb_array_elements(ev.e->'invoice'->'lines') WITH ORDINALITY AS l(x, n)
        ),
        old_tax AS (
            DELETE FROM invoice_tax_lines WHERE invoice_key = (SELECT invoice_key FROM inv) AND invoice_version <> $5
        ),
        new_tax AS (
            INSERT INTO invoice_tax_lines (invoice_key, invoice_version, line_number, tenant_id, jurisdiction, tax_code,
                                           rate_percent, taxable_amount, amount)
            SELECT (SELECT invoice_key FROM inv), $5, t.n, $2, t.x->>'jurisdiction', t.x->>'tax_code',
                   (t.x->>'rate_percent')::numeric, (t.x->>'taxable_amount')::numeric, (t.x->>'amount')::numeric
            FROM ev, jsonb_array_elements(CASE WHEN jsonb_typeof(ev.e->'invoice'->'tax_lines') = 'array'
                                               THEN ev.e->'invoice'->'tax_lines' ELSE '[]'::jsonb END)
                     WITH ORDINALITY AS t(x, n)
        ),
        old_vehicle AS (
            DELETE FROM vehicles
            WHERE invoice_key = (SELECT invoice_key FROM inv)
              AND jsonb_typeof((SELECT e->'invoice'->'vehicle' FROM ev)) IS DISTINCT FROM 'object'
        ),
        new_vehicle AS (
            INSERT INTO vehicles (invoice_key, tenant_id, vin, model_year, make, model, license_plate, odometer_reading,
                                  odometer_unit, invoice_version)
            SELECT (SELECT invoice_key FROM inv), $2, w->>'vin', (w->>'year')::integer, w->>'make', w->>'model',
                   w->>'license_plate', (w->'odometer'->>'reading')::integer, w->'odometer'->>'unit', $5
            FROM (SELECT e->'invoice'->'vehicle' AS w FROM ev) AS x
            WHERE jsonb_typeof(w) = 'object'
            ON CONFLICT (invoice_key) DO UPDATE SET
                vin = EXCLUDED.vin, model_year = EXCLUDED.model_year, make = EXCLUDED.make, model = EXCLUDED.model,
                license_plate = EXCLUDED.license_plate, odometer_reading = EXCLUDED.odometer_reading,
                odometer_unit = EXCLUDED.odometer_unit, invoice_version = EXCLUDED.invoice_version, updated_at = now()
        ),
        listed AS (
            SELECT p.x->>'payment_id' AS payment_id, p.x
            FROM ev, jsonb_array_elements(CASE WHEN jsonb_typeof(ev.e->'invoice'->'payments') = 'array'
                                               THEN ev.e->'invoice'->'payments' ELSE '[]'::jsonb END) AS p(x)
        ),
        upsert_payments AS (
            INSERT INTO payments (invoice_key, tenant_id, payment_id, amount, currency, method, payment_date, reference,
                                  status, recorded_from, invoice_version)
            SELECT (SELECT invoice_key FROM inv), $2, p.payment_id, (p.x->>'amount')::numeric,
                   (SELECT e->'invoice'->>'currency' FROM ev), p.x->>'method', (p.x->>'payment_date')::date,
                   p.x->>'reference', 'applied', 'invoice_snapshot', $5
            FROM listed AS p
            ON CONFLICT (invoice_key, payment_id) DO UPDATE SET
                amount = EXCLUDED.amount, currency = EXCLUDED.currency, method = EXCLUDED.method,
                payment_date = EXCLUDED.payment_date, reference = EXCLUDED.reference, status = 'applied',
                invoice_version = EXCLUDED.invoice_version, updated_at = now()
        ),
        removed_payments AS (
            UPDATE payments SET status = 'removed', updated_at = now()
            WHERE invoice_key = (SELECT invoice_key FROM inv) AND status = 'applied' AND recorded_from <> 'erp_pull'
              AND payment_id NOT IN (SELECT payment_id FROM listed)
        ),
        \(outbox(tenant: 2, first: 8))
        SELECT invoice_key FROM inv
        """

    /// $1 invoice key, $2 tenant, $3 payment id, $4 amount, $5 currency, $6 method, $7 payment date, $8 reference,
    /// $9 invoice version, $10 new amount paid, $11 new balance due, $12 new status, $13 occurred at, $14 event id,
    /// $15 record the payment (false when the invoice already lists it), $16–$20 outbox.
    static let applyPayment = """
        WITH pay AS (
            INSERT INTO payments (invoice_key, tenant_id, payment_id, amount, currency, method, payment_date, reference,
                                  status, recorded_from, invoice_version)
            SELECT $1, $2, $3, $4::numeric, $5, $6, $7::date, $8, 'applied', 'payment_event', $9
            WHERE $15
            ON CONFLICT (invoice_key, payment_id) DO UPDATE SET
                amount = EXCLUDED.amount, method = EXCLUDED.method, payment_date = EXCLUDED.payment_date,
                reference = EXCLUDED.reference, status = 'applied', recorded_from = 'payment_event',
                invoice_version = EXCLUDED.invoice_version, updated_at = now()
        ),
        inv AS (
            UPDATE invoices SET amount_paid = $10::numeric, balance_due = $11::numeric, status = $12, invoice_version = $9,
                                last_occurred_at = $13, last_event_id = $14, updated_at = now()
            WHERE invoice_key = $1
        ),
        \(outbox(tenant: 2, first: 16))
        SELECT 1 AS done
        """

    /// $1 invoice key, $2 tenant, $3 invoice version, $4 reason, $5 occurred at, $6 event id, $7–$11 outbox.
    static let applyVoid = """
        WITH inv AS (
            UPDATE invoices SET status = 'voided', voided_at = coalesce(voided_at, now()), void_reason = $4,
                                invoice_version = $3, last_occurred_at = $5, last_event_id = $6, updated_at = now()
            WHERE invoice_key = $1
        ),
        \(outbox(tenant: 2, first: 7))
        SELECT 1 AS done
        """

    /// Records a stale or parked event. $1 event key, $2 outcome, $3 reason code, $4 tenant, $5 park it,
    /// $6 location, $7 source system, $8 invoice id, $9 invoice version, $10 event type, $11–$15 outbox.
    static let recordOutcome = """
        WITH upd AS (
            UPDATE inbound_events SET outcome = $2, outcome_reason = $3, decided_at = now() WHERE event_key = $1
        ),
        pk AS (
            INSERT INTO parked_events (event_key, tenant_id, location_id, source_system, invoice_id, invoice_version,
                                       event_type)
            SELECT $1, $4, $6, $7, $8, $9, $10 WHERE $5
        ),
        \(outbox(tenant: 4, first: 11))
        SELECT 1 AS done
        """

    /// $1 tenant, $2–$6 outbox.
    static let auditOnly = """
        WITH \(outbox(tenant: 1, first: 2))
        SELECT 1 AS done
        """

    /// $1 tenant, $2 location, $3 source system, $4 invoice id.
    static let parkedEvents = """
        SELECT pe.event_key, ie.body::text AS body, ie.channel
        FROM parked_events pe JOIN inbound_events ie ON ie.event_key = pe.event_key
        WHERE pe.tenant_id = $1 AND pe.location_id = $2 AND pe.source_system = $3 AND pe.invoice_id = $4
          AND pe.resolved_at IS NULL
        ORDER BY pe.invoice_version, pe.event_key
        """

    /// $1 event key, $2 resolution, $3 inbound outcome, $4 outcome reason.
    static let resolveParked = """
        WITH pe AS (UPDATE parked_events SET resolved_at = now(), resolution = $2 WHERE event_key = $1)
        UPDATE inbound_events SET outcome = $3, outcome_reason = $4, decided_at = now() WHERE event_key = $1
        """

    /// A rejection that names no tenant: no RETURNING (row-level security would require the new row to be
    /// visible, and a tenant-less row is visible to no tenant) and no audit event. Parameters as ``reject``
    /// without the outbox.
    static let rejectWithoutTenant = """
        INSERT INTO ingest_rejections (rejection_ref, tenant_id, location_id, channel, event_id, event_type,
                                       idempotency_key, invoice_id, reason_code, reason, failures, body_sha256,
                                       body_bytes, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14)
        ON CONFLICT (rejection_ref) DO NOTHING
        """

    /// $1 rejection ref, $2 tenant (may be NULL), $3 location, $4 channel, $5 event id, $6 event type,
    /// $7 idempotency key, $8 invoice id, $9 reason code, $10 reason, $11 failures JSON, $12 body sha256,
    /// $13 body size, $14 body, $15–$19 outbox (written only when the row is new and the tenant exists).
    static let reject = """
        WITH rej AS (
            INSERT INTO ingest_rejections (rejection_ref, tenant_id, location_id, channel, event_id, event_type,
                                           idempotency_key, invoice_id, reason_code, reason, failures, body_sha256,
                                           body_bytes, body)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14)
            ON CONFLICT (rejection_ref) DO NOTHING
            RETURNING rejection_id
        ),
        \(outbox(tenant: 2, first: 15, condition: "WHERE EXISTS (SELECT 1 FROM rej) AND EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $2)"))
        SELECT count(*) AS inserted FROM rej
        """
}
