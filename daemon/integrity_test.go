package daemon

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/vault/store/sqlitestore"
)

// A local database with a damaged page is found when the daemon starts: it
// refuses to start with one clear line instead of running on it.
func TestDaemonRefusesDamagedDatabase(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	h.stop()
	path := h.paths.DBPath()
	// Find the page that holds the audit trail (nothing reads it at start),
	// then overwrite it.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	if err := db.QueryRow("SELECT rootpage FROM sqlite_schema WHERE name = 'audit_chunk'").Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("\xa5latchkey-damaged-page\x00", int(pageSize)/22+1))[:pageSize]
	if _, err := f.WriteAt(junk, (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cfg, err := LoadConfig(h.paths.ConfigFile(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), Options{Paths: h.paths, Config: cfg, Registry: testRegistry(), Keychain: h.kc, User: "alice"})
	if err == nil {
		d.Close()
		t.Fatal("the daemon opened a database with a damaged page")
	}
	t.Logf("refused: %v", err)
	if !errors.Is(err, sqlitestore.ErrDamaged) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), path) {
		t.Fatalf("not one clear line naming the damaged file: %v", err)
	}
}
