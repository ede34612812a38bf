package vault

// Tests that need more than one process: a real keychain shared by two
// processes, and processes killed with SIGKILL half-way through a write loop
// or a key rotation. The test binary re-executes itself as the child
// (TestHelperProcess), which reports progress on stdout, one line per step.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/sqlitestore"
)

const (
	helperEnv     = "LATCHKEY_VAULT_HELPER"
	helperDirEnv  = "LATCHKEY_VAULT_HELPER_DIR"
	helperArgEnv  = "LATCHKEY_VAULT_HELPER_ARG"
	helperUser    = "alice"
	cheapKDFParam = 64
)

// fileKeychainAt is the cheap file keychain every process of a test shares.
func fileKeychainAt(dir string) (keychain.Keychain, error) {
	return keychain.FileWithKDF(filepath.Join(dir, "keychain.json"), []byte("test passphrase"),
		keychain.KDFParams{Time: 1, MemoryKiB: cheapKDFParam, Threads: 1})
}

// TestHelperProcess is the child side; it does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process only")
	}
	if err := helper(mode, os.Getenv(helperDirEnv), os.Getenv(helperArgEnv)); err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
}

func helper(mode, dir, arg string) error {
	ctx := context.Background()
	st, err := sqlitestore.Open(filepath.Join(dir, "latchkey.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	var kc keychain.Keychain
	svc := DefaultService
	if strings.HasPrefix(mode, "keyring-") {
		kc, svc = keychain.System(), arg
	} else if kc, err = fileKeychainAt(dir); err != nil {
		return err
	}
	v, rep, err := Open(ctx, Options{Keychain: kc, Store: st, User: helperUser, Service: svc})
	if mode == "keyring-unavailable" {
		if !errors.Is(err, keychain.ErrUnavailable) {
			return fmt.Errorf("want ErrUnavailable, got %v", err)
		}
		fmt.Println("refused:", err)
		return nil
	}
	if err != nil {
		return err
	}
	switch mode {
	case "keyring-save":
		fmt.Printf("key %s created %v\n", v.KeyID(), rep.CreatedSalt)
		return v.SaveToken(ctx, "docebo", realisticToken(), nil, false)
	case "keyring-load":
		fmt.Printf("key %s created %v\n", v.KeyID(), rep.CreatedSalt)
		tok, _, err := v.LoadToken(ctx, "docebo")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(tok, realisticToken()) {
			return errors.New("token differs")
		}
		fmt.Println("loaded")
		return nil
	case "writeloop":
		fmt.Println("ready")
		for i := 0; ; i++ {
			in := fmt.Sprintf("int%02d", i%writeLoopIntegrations)
			tok := realisticToken()
			tok.AccessToken = "tok-" + strconv.Itoa(i)
			conn := &store.Connection{State: store.StateConnected, Username: strconv.Itoa(i)}
			if err := v.SaveToken(ctx, in, tok, conn, true); err != nil {
				return err
			}
			fmt.Println(i)
		}
	case "rotate":
		pause := strings.SplitN(arg, ":", 2) // stage:n
		v.testHook = func(stage string, n int) {
			if stage == pause[0] && strconv.Itoa(n) == pause[1] {
				fmt.Println("paused")
				select {} // wait for SIGKILL
			}
		}
		if err := v.RotateKey(ctx); err != nil {
			return err
		}
		fmt.Println("done")
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

const writeLoopIntegrations = 7

// child starts the helper and returns its stdout lines.
func child(t *testing.T, mode, dir, arg string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDirEnv+"="+dir, helperArgEnv+"="+arg)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// waitLine reads lines until one satisfies ok; the child's failure or end
// of output fails the test.
func waitLine(t *testing.T, sc *bufio.Scanner, ok func(string) bool) string {
	t.Helper()
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "error:") {
			t.Fatalf("child: %s", l)
		}
		if ok(l) {
			return l
		}
	}
	t.Fatalf("child ended before the expected line (%v)", sc.Err())
	return ""
}

// drain reads the child's remaining output, then waits for it.
func drain(sc *bufio.Scanner, cmd *exec.Cmd) error {
	for sc.Scan() {
	}
	return cmd.Wait()
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
}

// A process killed with SIGKILL in the middle of a write loop leaves a
// database that opens, with every record whole: token, version, outbox item
// and connection metadata all from the same write.
func TestKillDuringWriteLoop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd, sc := child(t, "writeloop", dir, "")
	waitLine(t, sc, func(l string) bool { return l == "ready" })
	last := waitLine(t, sc, func(l string) bool { n, err := strconv.Atoi(l); return err == nil && n >= 150 })
	kill(t, cmd)
	confirmed, _ := strconv.Atoi(last)

	ctx := context.Background()
	st := openStore(t, filepath.Join(dir, "latchkey.db"))
	if err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
	kc, err := fileKeychainAt(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: helperUser})
	if rep.CreatedSalt || len(rep.Purged) != 0 {
		t.Fatalf("report after the kill: %+v", rep)
	}
	pending, err := st.Pending(ctx, time.Now().Add(24*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	byIntegration := map[string]store.OutboxItem{}
	for _, it := range pending {
		byIntegration[it.Record.Integration] = it
	}
	if len(pending) != writeLoopIntegrations || len(byIntegration) != writeLoopIntegrations {
		t.Fatalf("%d outbox items, want one per integration (%d)", len(pending), writeLoopIntegrations)
	}
	for k := 0; k < writeLoopIntegrations; k++ {
		in := fmt.Sprintf("int%02d", k)
		tok, ver, err := v.LoadToken(ctx, in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		i, err := strconv.Atoi(strings.TrimPrefix(tok.AccessToken, "tok-"))
		if err != nil || i%writeLoopIntegrations != k {
			t.Fatalf("%s holds %q", in, tok.AccessToken)
		}
		// Every write confirmed before the kill is there (the last one
		// may be followed by one more that committed unconfirmed).
		if i+writeLoopIntegrations <= confirmed {
			t.Fatalf("%s: write %d is there but %d was confirmed", in, i, i+writeLoopIntegrations)
		}
		if want := int64(i/writeLoopIntegrations + 1); ver != want {
			t.Fatalf("%s: version %d for write %d, want %d", in, ver, i, want)
		}
		c, err := st.GetConnection(ctx, in)
		if err != nil || c.Username != strconv.Itoa(i) {
			t.Fatalf("%s: connection %+v (%v) not from write %d", in, c, err, i)
		}
		it := byIntegration[in]
		if it.Op != store.OpPut || it.Record.Version != ver {
			t.Fatalf("%s: outbox item %+v, record version %d", in, it, ver)
		}
		if got, err := v.OpenRecord(it.Record); err != nil || got.AccessToken != tok.AccessToken {
			t.Fatalf("%s: outbox record does not open to the stored token: %v", in, err)
		}
	}
}

// SIGKILL at each stage of a rotation: every record still opens with one of
// the two salts in the keychain, and the next Open finishes the rotation.
func TestKillDuringRotation(t *testing.T) {
	t.Parallel()
	const records = 6
	for _, pause := range []string{"resealed:0", "resealed:1", "resealed:4", "replaced:6"} {
		t.Run(pause, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			kc, err := fileKeychainAt(dir)
			if err != nil {
				t.Fatal(err)
			}
			st := openStore(t, filepath.Join(dir, "latchkey.db"))
			v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: helperUser})
			toks := map[string]*oauth2.Token{}
			for i := 0; i < records; i++ {
				in := fmt.Sprintf("int%d", i)
				toks[in] = realisticToken()
				toks[in].AccessToken = "tok-" + in
				if err := v.SaveToken(ctx, in, toks[in], nil, false); err != nil {
					t.Fatal(err)
				}
			}
			if err := v.SetSealedMeta(ctx, "jwt_signing_key", []byte("seed")); err != nil {
				t.Fatal(err)
			}
			oldID := v.KeyID()

			cmd, sc := child(t, "rotate", dir, pause)
			waitLine(t, sc, func(l string) bool {
				if l == "done" {
					t.Fatal("rotation finished without pausing")
				}
				return l == "paused"
			})
			kill(t, cmd)

			// Both salts are in the keychain and every record opens with
			// one of them.
			next, err := kc.Get(DefaultService, helperUser+nextSuffix)
			if err != nil {
				t.Fatalf("no .next salt after the kill: %v", err)
			}
			primary := mustGet(t, kc, helperUser)
			keys := map[string]*key{}
			for _, s := range []string{primary, next} {
				b, _ := base64.StdEncoding.DecodeString(s)
				k, err := deriveKey(b, helperUser)
				if err != nil {
					t.Fatal(err)
				}
				keys[k.id] = k
			}
			recs, _ := st.ListRecords(ctx, helperUser)
			if len(recs) != records {
				t.Fatalf("%d records after the kill", len(recs))
			}
			underNew := 0
			for _, r := range recs {
				k := keys[r.KeyID]
				if k == nil {
					t.Fatalf("%s sealed under %s, in neither salt", r.Integration, r.KeyID)
				}
				if r.KeyID != oldID {
					underNew++
				}
				e, err := envelope.Parse(r.Envelope)
				if err != nil {
					t.Fatalf("%s: %v", r.Integration, err)
				}
				if _, err := v.openWith(k, r, e, decodeToken); err != nil {
					t.Fatalf("%s does not open: %v", r.Integration, err)
				}
			}
			stage, n, _ := strings.Cut(pause, ":")
			if want, _ := strconv.Atoi(n); underNew != want {
				t.Fatalf("%d records under the new key at %s", underNew, pause)
			}
			if stage == "replaced" && primary != next {
				t.Fatal("paused after replacing the primary salt, but it differs from .next")
			}

			// The next open resumes and completes the rotation.
			v2, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: helperUser})
			if !rep.ResumedRotation || rep.CreatedSalt || len(rep.Purged) != 0 {
				t.Fatalf("report: %+v", rep)
			}
			if v2.KeyID() == oldID {
				t.Fatal("still under the old key")
			}
			if _, err := kc.Get(DefaultService, helperUser+nextSuffix); !errors.Is(err, keychain.ErrNotFound) {
				t.Fatalf(".next left behind: %v", err)
			}
			if got := mustGet(t, kc, helperUser); got != next {
				t.Fatal("the primary salt is not the rotated-to one")
			}
			for in, want := range toks {
				got, _, err := v2.LoadToken(ctx, in)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s after resuming: %v", in, err)
				}
			}
			if got, err := v2.GetSealedMeta(ctx, "jwt_signing_key"); err != nil || string(got) != "seed" {
				t.Fatalf("sealed meta after resuming: %q %v", got, err)
			}
			if env, _ := st.GetMeta(ctx, "jwt_signing_key"); !strings.HasPrefix(env, "lk1."+v2.KeyID()) {
				t.Fatal("sealed meta not re-sealed under the new key")
			}
			recs, _ = st.ListRecords(ctx, helperUser)
			for _, r := range recs {
				if r.KeyID != v2.KeyID() {
					t.Fatalf("%s still under %s", r.Integration, r.KeyID)
				}
			}
		})
	}
}

// The real keychain, shared by two processes: the first creates the salt
// and seals, the second finds the same salt and opens.
func TestKeyringAcrossProcesses(t *testing.T) {
	testenv.Require(t, testenv.Keyring)
	b := make([]byte, 6)
	rand.Read(b)
	svc := "latchkey-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		kc := keychain.System()
		kc.Delete(svc, helperUser)
		kc.Delete(svc, helperUser+nextSuffix)
	})
	dir := t.TempDir()

	cmd, sc := child(t, "keyring-save", dir, svc)
	first := waitLine(t, sc, func(l string) bool { return strings.HasPrefix(l, "key ") })
	if err := drain(sc, cmd); err != nil {
		t.Fatalf("first process: %v", err)
	}
	cmd, sc = child(t, "keyring-load", dir, svc)
	second := waitLine(t, sc, func(l string) bool { return strings.HasPrefix(l, "key ") })
	waitLine(t, sc, func(l string) bool { return l == "loaded" })
	if err := drain(sc, cmd); err != nil {
		t.Fatalf("second process: %v", err)
	}
	id1, created1, _ := strings.Cut(strings.TrimPrefix(first, "key "), " created ")
	id2, created2, _ := strings.Cut(strings.TrimPrefix(second, "key "), " created ")
	if created1 != "true" || created2 != "false" || id1 != id2 || len(id1) != envelope.KeyIDLen {
		t.Fatalf("first %q, second %q", first, second)
	}
	// And this process reads the same salt.
	salt, err := keychain.System().Get(svc, helperUser)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(salt)
	k, _ := deriveKey(raw, helperUser)
	if k.id != id1 {
		t.Fatalf("keychain salt gives key id %s, processes used %s", k.id, id1)
	}
}

// No keychain answers: Open fails with ErrUnavailable and one line saying
// what is missing. (In a child process: godbus keeps one session bus
// connection per process, and another test may have made it.)
func TestUnavailableKeychain(t *testing.T) {
	t.Parallel()
	cmd, sc := child(t, "keyring-unavailable", t.TempDir(), "latchkey-test-unavailable",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus")
	l := waitLine(t, sc, func(l string) bool { return strings.HasPrefix(l, "refused: ") })
	if err := drain(sc, cmd); err != nil {
		t.Fatalf("child: %v", err)
	}
	want := "refused: vault: read the salt: keychain unavailable: the session bus named by DBUS_SESSION_BUS_ADDRESS does not answer"
	if !strings.HasPrefix(l, want) {
		t.Fatalf("got %q", l)
	}
}

// A rotation against the real keychain: the primary item is replaced in
// place and ".next" removed.
func TestKeyringRotate(t *testing.T) {
	testenv.Require(t, testenv.Keyring)
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	svc := "latchkey-test-" + hex.EncodeToString(b)
	kc := keychain.System()
	t.Cleanup(func() {
		kc.Delete(svc, helperUser)
		kc.Delete(svc, helperUser+nextSuffix)
	})
	st := openStore(t, filepath.Join(t.TempDir(), "latchkey.db"))
	v, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: helperUser, Service: svc})
	if !rep.CreatedSalt {
		t.Fatalf("report: %+v", rep)
	}
	if err := v.SaveToken(ctx, "docebo", realisticToken(), nil, false); err != nil {
		t.Fatal(err)
	}
	old := v.KeyID()
	if err := v.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Get(svc, helperUser+nextSuffix); !errors.Is(err, keychain.ErrNotFound) {
		t.Fatalf(".next left in the keychain: %v", err)
	}
	id, err := KeyIDOf(kc, svc, helperUser)
	if err != nil || id != v.KeyID() || id == old {
		t.Fatalf("keychain key id %s (%v), vault %s, old %s", id, err, v.KeyID(), old)
	}
	v2, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: helperUser, Service: svc})
	if rep.CreatedSalt || rep.ResumedRotation || len(rep.Purged) != 0 {
		t.Fatalf("reopen: %+v", rep)
	}
	if tok, _, err := v2.LoadToken(ctx, "docebo"); err != nil || !reflect.DeepEqual(tok, realisticToken()) {
		t.Fatalf("load after rotation: %v", err)
	}
}
