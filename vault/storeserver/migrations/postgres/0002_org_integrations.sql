-- Integrations an administrator configured for the whole organisation. The
-- client secret is sealed under the server's secrets key (never in clear).
CREATE TABLE org_integrations (
	name          TEXT        NOT NULL PRIMARY KEY,
	enabled       BOOLEAN     NOT NULL,
	url           TEXT        NOT NULL,
	client_id     TEXT        NOT NULL,
	grant_type    TEXT        NOT NULL,
	display_name  TEXT        NOT NULL,
	logo_url      TEXT        NOT NULL,
	widget_title  TEXT        NOT NULL,
	settings      TEXT        NOT NULL, -- JSON object of strings
	sealed_secret TEXT        NOT NULL, -- lk1 envelope, or '' when none
	version       BIGINT      NOT NULL CHECK (version > 0),
	updated_at    TIMESTAMPTZ NOT NULL,
	updated_by    TEXT        NOT NULL
);

-- Audit trail of org integration changes: who, when, which fields; never a value.
CREATE TABLE org_integration_changes (
	id          BIGSERIAL   PRIMARY KEY,
	integration TEXT        NOT NULL,
	at          TIMESTAMPTZ NOT NULL,
	actor       TEXT        NOT NULL,
	action      TEXT        NOT NULL,
	fields      TEXT        NOT NULL -- comma-separated field names
);
CREATE INDEX org_integration_changes_by_name ON org_integration_changes(integration, id);
