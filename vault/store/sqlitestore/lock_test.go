package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// Lock serialises holders across handles on the same file (as across
// processes): the second holder enters only after the first has left.
func TestLockSerialises(t *testing.T) {
	t.Parallel()
	a, b := openTwo(t)
	ctx := context.Background()
	bEntered := make(chan struct{})
	bDone := make(chan error, 1)
	err := a.Lock(ctx, func() error {
		go func() {
			bDone <- b.Lock(ctx, func() error { close(bEntered); return nil })
		}()
		select {
		case <-bEntered:
			t.Error("second holder entered while the first held the lock")
		case <-time.After(300 * time.Millisecond):
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	// Lock wrote nothing and left the database usable.
	if _, err := a.PutRecord(ctx, sealed(t, k1, "x"), store.CreateOnly); err != nil {
		t.Fatal(err)
	}
}

// Paths with characters that mean something in a URI still name a file.
func TestOddPath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "my state #1 ?x=y&z%20")
	path := filepath.Join(dir, "latch key.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.PutRecord(context.Background(), sealed(t, k1, "x"), store.CreateOnly); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 && !walExists(path) {
		t.Fatalf("database not at %q: %v", path, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch e.Name() {
		case "latch key.db", "latch key.db-wal", "latch key.db-shm":
		default:
			t.Errorf("stray file %q", e.Name())
		}
	}
	if s.Path() != path {
		t.Errorf("Path() = %q", s.Path())
	}
}

func walExists(p string) bool {
	fi, err := os.Stat(p + "-wal")
	return err == nil && fi.Size() > 0
}
