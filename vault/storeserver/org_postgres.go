package storeserver

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/vault/store"
)

const pgOrgColumns = `name, enabled, url, client_id, grant_type, display_name, logo_url, widget_title, settings, sealed_secret, version, updated_at, updated_by`

func scanPGOrg(r pgx.Row) (OrgIntegration, error) {
	var o OrgIntegration
	var settings string
	if err := r.Scan(&o.Name, &o.Enabled, &o.URL, &o.ClientID, &o.Grant, &o.DisplayName, &o.LogoURL, &o.WidgetTitle,
		&settings, &o.SealedSecret, &o.Version, &o.UpdatedAt, &o.UpdatedBy); err != nil {
		return OrgIntegration{}, err
	}
	o.UpdatedAt = o.UpdatedAt.UTC()
	var err error
	o.Settings, err = decodeSettings(settings)
	return o, err
}

// ListOrgIntegrations returns every org integration, by name.
func (p *Postgres) ListOrgIntegrations(ctx context.Context) ([]OrgIntegration, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+pgOrgColumns+` FROM org_integrations ORDER BY name`)
	if err != nil {
		return nil, pgErr(err)
	}
	defer rows.Close()
	out := []OrgIntegration{}
	for rows.Next() {
		o, err := scanPGOrg(rows)
		if err != nil {
			return nil, pgErr(err)
		}
		out = append(out, o)
	}
	return out, pgErr(rows.Err())
}

// GetOrgIntegration returns one org integration.
func (p *Postgres) GetOrgIntegration(ctx context.Context, name string) (OrgIntegration, error) {
	o, err := scanPGOrg(p.pool.QueryRow(ctx, `SELECT `+pgOrgColumns+` FROM org_integrations WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return OrgIntegration{}, store.ErrNotFound
	}
	return o, pgErr(err)
}

// PutOrgIntegration writes in if the current version is expect (0: absent)
// and records change, in one transaction.
func (p *Postgres) PutOrgIntegration(ctx context.Context, in OrgIntegration, expect int64, change OrgChange) (OrgIntegration, error) {
	settings, err := encodeSettings(in.Settings)
	if err != nil {
		return OrgIntegration{}, err
	}
	out := in
	t := now()
	out.UpdatedAt = t
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var q string
		args := []any{in.Name, in.Enabled, in.URL, in.ClientID, in.Grant, in.DisplayName, in.LogoURL, in.WidgetTitle, settings, in.SealedSecret, t, in.UpdatedBy}
		if expect == 0 {
			q = `INSERT INTO org_integrations(` + pgOrgColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12) ON CONFLICT DO NOTHING RETURNING version`
		} else {
			q = `UPDATE org_integrations SET enabled = $2, url = $3, client_id = $4, grant_type = $5, display_name = $6, logo_url = $7, widget_title = $8,
settings = $9, sealed_secret = $10, version = version + 1, updated_at = $11, updated_by = $12 WHERE name = $1 AND version = $13 RETURNING version`
			args = append(args, expect)
		}
		err := tx.QueryRow(ctx, q, args...).Scan(&out.Version)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrConflict
		}
		if err != nil {
			return pgErr(err)
		}
		return p.recordChange(ctx, tx, change, t)
	})
	if err != nil {
		return OrgIntegration{}, err
	}
	return out, nil
}

func (p *Postgres) recordChange(ctx context.Context, tx pgx.Tx, c OrgChange, t time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO org_integration_changes(integration, at, actor, action, fields) VALUES ($1, $2, $3, $4, $5)`,
		c.Integration, t, c.Actor, c.Action, joinFields(c.Fields))
	return pgErr(err)
}

// DeleteOrgIntegration deletes name and records change.
func (p *Postgres) DeleteOrgIntegration(ctx context.Context, name string, change OrgChange) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM org_integrations WHERE name = $1`, name)
		if err != nil {
			return pgErr(err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return p.recordChange(ctx, tx, change, now())
	})
}

// OrgHistory returns the changes of name (all when ""), newest first.
func (p *Postgres) OrgHistory(ctx context.Context, name string, limit int) ([]OrgChange, error) {
	rows, err := p.pool.Query(ctx, `SELECT integration, at, actor, action, fields FROM org_integration_changes WHERE ($1 = '' OR integration = $1) ORDER BY id DESC LIMIT $2`,
		name, limit)
	if err != nil {
		return nil, pgErr(err)
	}
	defer rows.Close()
	out := []OrgChange{}
	for rows.Next() {
		var c OrgChange
		var fields string
		if err := rows.Scan(&c.Integration, &c.At, &c.Actor, &c.Action, &fields); err != nil {
			return nil, pgErr(err)
		}
		c.At, c.Fields = c.At.UTC(), splitFields(fields)
		out = append(out, c)
	}
	return out, pgErr(rows.Err())
}
