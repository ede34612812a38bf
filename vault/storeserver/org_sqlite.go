package storeserver

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

const sqliteOrgColumns = `name, enabled, url, client_id, grant_type, display_name, logo_url, widget_title, settings, sealed_secret, version, updated_at, updated_by`

type rowScanner interface{ Scan(dest ...any) error }

func scanSQLiteOrg(r rowScanner) (OrgIntegration, error) {
	var o OrgIntegration
	var enabled int
	var settings string
	var at int64
	if err := r.Scan(&o.Name, &enabled, &o.URL, &o.ClientID, &o.Grant, &o.DisplayName, &o.LogoURL, &o.WidgetTitle,
		&settings, &o.SealedSecret, &o.Version, &at, &o.UpdatedBy); err != nil {
		return OrgIntegration{}, err
	}
	o.Enabled = enabled == 1
	o.UpdatedAt = fromMicros(at)
	var err error
	o.Settings, err = decodeSettings(settings)
	return o, err
}

// ListOrgIntegrations returns every org integration, by name.
func (s *SQLite) ListOrgIntegrations(ctx context.Context) ([]OrgIntegration, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqliteOrgColumns+` FROM org_integrations ORDER BY name`)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	out := []OrgIntegration{}
	for rows.Next() {
		o, err := scanSQLiteOrg(rows)
		if err != nil {
			return nil, dbErr(err)
		}
		out = append(out, o)
	}
	return out, dbErr(rows.Err())
}

// GetOrgIntegration returns one org integration.
func (s *SQLite) GetOrgIntegration(ctx context.Context, name string) (OrgIntegration, error) {
	o, err := scanSQLiteOrg(s.r.QueryRowContext(ctx, `SELECT `+sqliteOrgColumns+` FROM org_integrations WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return OrgIntegration{}, store.ErrNotFound
	}
	return o, dbErr(err)
}

// PutOrgIntegration writes in if the current version is expect (0: absent)
// and records change, in one transaction.
func (s *SQLite) PutOrgIntegration(ctx context.Context, in OrgIntegration, expect int64, change OrgChange) (OrgIntegration, error) {
	settings, err := encodeSettings(in.Settings)
	if err != nil {
		return OrgIntegration{}, err
	}
	out := in
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		t := now()
		out.UpdatedAt = t
		enabled := 0
		if in.Enabled {
			enabled = 1
		}
		var res sql.Result
		var err error
		if expect == 0 {
			res, err = tx.ExecContext(ctx, `INSERT INTO org_integrations(`+sqliteOrgColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT DO NOTHING`,
				in.Name, enabled, in.URL, in.ClientID, in.Grant, in.DisplayName, in.LogoURL, in.WidgetTitle, settings, in.SealedSecret, micros(t), in.UpdatedBy)
			out.Version = 1
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE org_integrations SET enabled = ?, url = ?, client_id = ?, grant_type = ?, display_name = ?, logo_url = ?, widget_title = ?,
settings = ?, sealed_secret = ?, version = version + 1, updated_at = ?, updated_by = ? WHERE name = ? AND version = ?`,
				enabled, in.URL, in.ClientID, in.Grant, in.DisplayName, in.LogoURL, in.WidgetTitle, settings, in.SealedSecret, micros(t), in.UpdatedBy, in.Name, expect)
			out.Version = expect + 1
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrConflict
		}
		return s.recordChange(ctx, tx, change, t)
	})
	if err != nil {
		return OrgIntegration{}, err
	}
	return out, nil
}

func (s *SQLite) recordChange(ctx context.Context, tx *sql.Tx, c OrgChange, t time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO org_integration_changes(integration, at, actor, action, fields) VALUES (?, ?, ?, ?, ?)`,
		c.Integration, t.UnixMicro(), c.Actor, c.Action, joinFields(c.Fields))
	return err
}

// DeleteOrgIntegration deletes name and records change.
func (s *SQLite) DeleteOrgIntegration(ctx context.Context, name string, change OrgChange) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM org_integrations WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return s.recordChange(ctx, tx, change, now())
	})
}

// OrgHistory returns the changes of name (all when ""), newest first.
func (s *SQLite) OrgHistory(ctx context.Context, name string, limit int) ([]OrgChange, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT integration, at, actor, action, fields FROM org_integration_changes WHERE (? = '' OR integration = ?) ORDER BY id DESC LIMIT ?`,
		name, name, limit)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	out := []OrgChange{}
	for rows.Next() {
		var c OrgChange
		var at int64
		var fields string
		if err := rows.Scan(&c.Integration, &at, &c.Actor, &c.Action, &fields); err != nil {
			return nil, dbErr(err)
		}
		c.At, c.Fields = fromMicros(at), splitFields(fields)
		out = append(out, c)
	}
	return out, dbErr(rows.Err())
}
