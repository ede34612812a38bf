package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the uid the attacker runs as in these tests (the tests run as
// root, so they can start a process as another user).
const nobody = 65534

// runImpostor is the attacker's fake daemon: it listens on sock, and for
// every connection counts the bytes the client sends, answers any request
// with a token of its own, and prints "conn N" once the client hangs up.
func runImpostor(sock string) {
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	_ = os.Chmod(sock, 0o777)
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		var got []byte
		buf := make([]byte, 64<<10)
		answered := false
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if !answered && bytes.Contains(got, []byte("\r\n\r\n")) {
				body := `{"token":"impostor-token","url":"http://127.0.0.1:1/impostor"}`
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
				answered = true
			}
			if err != nil {
				break
			}
		}
		c.Close()
		fmt.Printf("conn %d\n", len(got))
	}
}

// impostor starts runImpostor as uid nobody on sock and returns a function
// that stops it and returns what it printed after "ready".
func impostor(t *testing.T, sock string) func() string {
	t.Helper()
	// The test binary sits in a directory only root can enter: copy it
	// where nobody can run it.
	dir, err := os.MkdirTemp("", "lkimpostor")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "impostor")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe)
	c.Env = []string{"LATCHKEY_TEST_IMPOSTOR=" + sock, "PATH=/usr/bin:/bin"}
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	line, err := r.ReadString('\n')
	if line != "ready\n" {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("impostor did not start: %q %v", line, err)
	}
	stopped := false
	stop := func() string {
		if stopped {
			return ""
		}
		stopped = true
		c.Process.Kill()
		rest, _ := io.ReadAll(r)
		c.Wait()
		return string(rest)
	}
	t.Cleanup(func() { stop() })
	return stop
}

// squat makes the runtime directory of u belong to nobody, as another user
// who created it first would.
func squat(t *testing.T, u *cliUser) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	for _, d := range []string{u.dir, filepath.Join(u.dir, "run")} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	rt := filepath.Join(u.dir, "run", "latchkey")
	if err := os.Mkdir(rt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(rt, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestCLIRefusesImpostorSocket: another user owns the runtime directory and
// serves a fake daemon on the control socket. The CLI must notice before
// sending a byte (no password, no request), and say so in one line.
func TestCLIRefusesImpostorSocket(t *testing.T) {
	u := newUser(t, false)
	rt := squat(t, u)
	stop := impostor(t, filepath.Join(rt, "latchkey.sock"))

	for _, tc := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"token"}},
		{"", []string{"menu", "--print-url"}},
		{"hunter2-password\n", []string{"connect", "docebo", "--grant", "password", "--username", "alice"}},
	} {
		out, errOut, code := u.run(tc.stdin, tc.args...)
		if code == 0 || strings.Contains(out, "impostor") {
			t.Errorf("%v: exit %d, stdout %q: the CLI took the impostor's answer", tc.args, code, out)
		}
		if !strings.Contains(errOut, "refusing to talk to the control socket") || !strings.Contains(errOut, fmt.Sprintf("uid %d", nobody)) ||
			strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line refusing the socket of uid %d", tc.args, errOut, nobody)
		}
	}
	conns := strings.Fields(strings.ReplaceAll(stop(), "conn", ""))
	if len(conns) == 0 {
		t.Fatal("the CLI never connected to the socket: the test proves nothing")
	}
	for _, n := range conns {
		if n != "0" {
			t.Errorf("the impostor received %s bytes on a connection, want 0 (received per connection: %v)", n, conns)
		}
	}
}

// TestDaemonRefusesSquattedRuntimeDir: the daemon does not start in a
// runtime directory another user owns, and names it and what to do.
func TestDaemonRefusesSquattedRuntimeDir(t *testing.T) {
	u := newUser(t, false)
	rt := squat(t, u)
	_, errOut, code := u.run("", "daemon", "--listen", freeAddr(t))
	if code == 0 {
		t.Fatal("the daemon started in a runtime directory owned by another user")
	}
	want := rt + " belongs to uid 65534"
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "XDG_RUNTIME_DIR") {
		t.Errorf("stderr %q, want a line with %q and what to do", errOut, want)
	}
}
