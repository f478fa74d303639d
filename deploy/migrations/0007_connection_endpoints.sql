-- Connection endpoints are configuration (issue 5): each connection's OAuth authorize and token URLs may
-- point at the ERP's production host, its sandbox or erp-sim, like its API base URL. The company id
-- already stored is the connection's fingerprint (QuickBooks realm id, Xero tenant id): a reconnect to
-- another company is refused. Empty company_id: configured but never connected.

ALTER TABLE erp_connection_settings
    ADD COLUMN authorize_url text,
    ADD COLUMN token_url     text,
    ADD COLUMN company_name  text,
    ADD COLUMN connected_at  timestamptz,
    ALTER COLUMN company_id SET DEFAULT '';

COMMENT ON COLUMN erp_connection_settings.token_url IS
    'OAuth token endpoint of this connection (NULL: the ERP''s production endpoint)';
