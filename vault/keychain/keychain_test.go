package keychain

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testenv"
)

// cheapKDF keeps the unit tests fast; TestFileDefaultKDF covers the real
// parameters.
var cheapKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func randomName(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "latchkey-test-" + hex.EncodeToString(b)
}

func TestFileRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cfg", "latchkey")
	path := filepath.Join(dir, "keychain.json")
	k, err := openFile(path, []byte("correct horse"), cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	if err := Probe(k); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if _, err := k.Get("latchkey", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	const secret = "c2FsdC1zYWx0LXNhbHQtc2FsdC1zYWx0LXNhbHQtc2E="
	if err := k.Set("latchkey", "alice", secret); err != nil {
		t.Fatal(err)
	}
	if err := k.Set("latchkey", "alice.next", "other"); err != nil {
		t.Fatal(err)
	}
	if v, err := k.Get("latchkey", "alice"); v != secret || err != nil {
		t.Fatalf("get: %q %v", v, err)
	}
	// A second handle (another process, say) sees the same items.
	k2, err := openFile(path, []byte("correct horse"), cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := k2.Get("latchkey", "alice.next"); v != "other" || err != nil {
		t.Fatalf("second handle: %q %v", v, err)
	}
	if err := k2.Delete("latchkey", "alice.next"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get("latchkey", "alice.next"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted through the other handle: %v", err)
	}
	if err := k.Delete("latchkey", "alice.next"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}

	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", p, fi.Mode().Perm(), want)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("correct horse")) {
		t.Fatal("the file holds a value or the passphrase in clear")
	}

	if _, err := openFile(path, []byte("wrong"), cheapKDF); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := openFile(path, nil, cheapKDF); err == nil {
		t.Fatal("empty passphrase accepted")
	}
}

func TestFileTamper(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keychain.json")
	k, err := openFile(path, []byte("pw"), cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set("latchkey", "alice", "value-a"); err != nil {
		t.Fatal(err)
	}
	if err := k.Set("latchkey", "bob", "value-b"); err != nil {
		t.Fatal(err)
	}
	// Swap the two sealed items: each is bound to its own name, so neither
	// opens under the other.
	doc, err := k.(*fileKeychain).read()
	if err != nil {
		t.Fatal(err)
	}
	a, b := itemName("latchkey", "alice"), itemName("latchkey", "bob")
	doc.Items[a], doc.Items[b] = doc.Items[b], doc.Items[a]
	if err := k.(*fileKeychain).write(doc); err != nil {
		t.Fatal(err)
	}
	if v, err := k.Get("latchkey", "alice"); err == nil {
		t.Fatalf("swapped item opened: %q", v)
	} else if strings.Contains(err.Error(), "value-") {
		t.Fatalf("error echoes a value: %v", err)
	}
}

func TestFileDefaultKDF(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keychain.json")
	k, err := File(path, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set("s", "a", "v"); err != nil {
		t.Fatal(err)
	}
	doc, err := k.(*fileKeychain).read()
	if err != nil {
		t.Fatal(err)
	}
	if doc.KDF.Name != "argon2id" || doc.KDF.KDFParams != DefaultKDF() {
		t.Fatalf("kdf recorded as %+v", doc.KDF)
	}
	k2, err := File(path, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := k2.Get("s", "a"); v != "v" || err != nil {
		t.Fatalf("reopen: %q %v", v, err)
	}
}

// The error shapes PLATFORM-NOTES.md lists, each turned into one line.
func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want string
	}{
		{"The name org.freedesktop.secrets was not provided by any .service files", "no Secret Service keychain"},
		{"dial unix /nonexistent: connect: no such file or directory", "does not answer"},
		{`exec: "dbus-launch": executable file not found in $PATH`, "no D-Bus session bus"},
		{"failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'", "locked"},
		{"something odd\n\tgoroutine 1 [running]:\n\tmain.main()", "refused the request: something odd"},
	}
	for _, c := range cases {
		err := classify(errors.New(c.in))
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%q: not ErrUnavailable: %v", c.in, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") {
			t.Errorf("%q → %q, want one line with %q", c.in, msg, c.want)
		}
	}
	if err := classify(nil); err != nil {
		t.Errorf("nil → %v", err)
	}
}

// With no session bus known, System refuses instead of letting godbus
// autolaunch one: a fake dbus-launch on PATH records whether it ran.
func TestSystemNoBus(t *testing.T) {
	if _, err := os.Stat(filepath.Join("/run/user", strconv.Itoa(os.Getuid()), "bus")); err == nil {
		t.Skip("this machine has a systemd user bus: godbus would find it")
	}
	bin := t.TempDir()
	marker := filepath.Join(bin, "launched")
	script := "#!/bin/sh\ntouch " + marker + "\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "dbus-launch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	k := System()
	_, err := k.Get("latchkey", "nobody")
	if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "DBUS_SESSION_BUS_ADDRESS") {
		t.Fatalf("got %v", err)
	}
	if err := Probe(k); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("probe: %v", err)
	}
	if err := k.Set("latchkey", "nobody", "x"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("set: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("dbus-launch was run")
	}
}

// A bus address that points nowhere (in a child process: godbus keeps one
// session bus connection per process once it has one).
func TestSystemBusNowhere(t *testing.T) {
	t.Parallel()
	runHelper(t, "get", "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus",
		"keychain unavailable: the session bus named by DBUS_SESSION_BUS_ADDRESS does not answer (start a desktop session, or run under dbus-run-session with gnome-keyring unlocked)")
}

const helperEnv = "LATCHKEY_KEYCHAIN_HELPER"

// TestHelperGet runs in a child process (see runHelper) and checks the
// error System().Get returns against the expected text.
func TestHelperGet(t *testing.T) {
	if os.Getenv(helperEnv) != "get" {
		t.Skip("helper process only")
	}
	_, err := System().Get("latchkey", "nobody")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("not ErrUnavailable: %v", err)
	}
	if want := os.Getenv(helperEnv + "_WANT"); err.Error() != want {
		t.Fatalf("got %q, want %q", err.Error(), want)
	}
}

func runHelper(t *testing.T, mode, env, want string) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestHelperGet$", "-test.v")
	child.Env = append(os.Environ(), helperEnv+"="+mode, helperEnv+"_WANT="+want, env)
	b, err := child.CombinedOutput()
	if err != nil || !bytes.Contains(b, []byte("--- PASS: TestHelperGet")) {
		t.Fatalf("child: %v\n%s", err, b)
	}
}

func TestSystemBusWithoutSecretService(t *testing.T) {
	t.Parallel()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:dir=`+dir+`</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("bus address: %v", err)
	}
	runHelper(t, "get", "DBUS_SESSION_BUS_ADDRESS="+strings.TrimSpace(addr),
		"keychain unavailable: no Secret Service keychain answers on the session bus (install and unlock gnome-keyring, or run inside a desktop session)")
}

// The real Secret Service (`make test` runs it under dbus-run-session).
func TestSystemRoundTrip(t *testing.T) {
	testenv.Require(t, testenv.Keyring)
	k := System()
	if err := Probe(k); err != nil {
		t.Fatalf("probe: %v", err)
	}
	svc, acct := randomName(t), "alice"
	t.Cleanup(func() { k.Delete(svc, acct) })
	if _, err := k.Get(svc, acct); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if err := k.Set(svc, acct, "one"); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(svc, acct, "two"); err != nil {
		t.Fatal(err)
	}
	if v, err := k.Get(svc, acct); v != "two" || err != nil {
		t.Fatalf("get: %q %v", v, err)
	}
	if err := k.Delete(svc, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(svc, acct); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
