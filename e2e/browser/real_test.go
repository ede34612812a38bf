package browser

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testenv"
	"golang.org/x/net/html"
)

// The real stack's knobs this test relies on.
const (
	// codeTTL is the one-time menu code lifetime the test asks the daemon for
	// (LATCHKEY_MENU_CODE_TTL); expiredMenuURL copes with a daemon that keeps
	// its default (30 s) by probing.
	codeTTL      = 2 * time.Second
	sandboxID    = "latchkey-e2e"
	sandboxValue = "e2e-sandbox-client-value" // the sandbox's fake client secret (not a credential)
)

// realStack is the daemon and the Docebo sandbox, built from this tree and
// run as processes with their own XDG directories.
type realStack struct {
	// outs is each long-lived process's output (its log), by name.
	outs    map[string]*testenv.Buffer
	t       *testing.T
	bin     string // dir of the built binaries
	env     []string
	listen  string // daemon host:port
	sandbox string // sandbox host:port
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// hasGoFiles reports whether dir holds a non-test Go file.
func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range m {
		if !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

func newRealStack(t *testing.T) *realStack {
	t.Helper()
	root := moduleRoot(t)
	for _, p := range []string{"cmd/latchkey", "cmd/docebo-sandbox"} {
		if !hasGoFiles(filepath.Join(root, p)) {
			t.Skipf("%s is not in the tree yet: the real-stack browser test needs it (TestMenuCanned covers the UI meanwhile)", p)
		}
	}
	s := &realStack{t: t, bin: t.TempDir(), listen: freeAddr(t), sandbox: freeAddr(t)}
	for _, p := range []string{"latchkey", "docebo-sandbox"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(s.bin, p), "./cmd/"+p)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // no tray, no hotkey: a headless daemon
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", p, err, out)
		}
	}
	home := t.TempDir()
	dirs := map[string]string{}
	for _, k := range []string{"XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"} {
		d := filepath.Join(home, strings.ToLower(strings.TrimPrefix(k, "XDG_")))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		dirs[k] = d
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "LATCHKEY_") && k != string(testenv.Keyring) {
			continue
		}
		s.env = append(s.env, kv)
	}
	for k, v := range dirs {
		s.env = append(s.env, k+"="+v)
	}
	s.env = append(s.env, "LATCHKEY_MENU_CODE_TTL="+codeTTL.String())
	return s
}

// runtimeDir is the stack's XDG_RUNTIME_DIR.
func (s *realStack) runtimeDir() string {
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "XDG_RUNTIME_DIR="); ok {
			return v
		}
	}
	s.t.Fatal("no XDG_RUNTIME_DIR in the stack's environment")
	return ""
}

// start runs a long-lived process, stopped with SIGTERM at cleanup; its
// output goes to the test log when the test fails.
func (s *realStack) start(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Env = s.env
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if s.outs == nil {
		s.outs = map[string]*testenv.Buffer{}
	}
	s.outs[name] = out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if s.t.Failed() {
			s.t.Logf("--- %s output:\n%s", name, out.String())
		}
	})
	return cmd
}

// run runs the CLI to completion with stdin and returns its stdout.
func (s *realStack) run(stdin string, args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "latchkey"), args...)
	cmd.Env = s.env
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("latchkey %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (s *realStack) sandboxHas(flag string) bool {
	out, _ := exec.Command(filepath.Join(s.bin, "docebo-sandbox"), "--help").CombinedOutput()
	// Go's flag package prints "-name", pflag "--name": match either.
	return bytes.Contains(out, []byte("-"+strings.TrimLeft(flag, "-")+" "))
}

// waitHTTP polls url until it answers 2xx or the deadline passes.
func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within %v (last: %v)", url, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *realStack) up() {
	t := s.t
	// No --auto-approve: the browser goes through the sandbox's real consent page.
	args := []string{"--listen", s.sandbox}
	if s.sandboxHas("--client-id") {
		args = append(args, "--client-id", sandboxID)
	}
	if s.sandboxHas("--client-secret-file") {
		f := filepath.Join(s.t.TempDir(), "sandbox-client-secret")
		if err := os.WriteFile(f, []byte(sandboxValue), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--client-secret-file", f)
	}
	if s.sandboxHas("--redirect-uri") {
		args = append(args, "--redirect-uri", "http://"+s.listen+"/docebo/connected")
	}
	s.start("docebo-sandbox", args...)
	waitTCP(t, s.sandbox, 15*time.Second)

	conf := []string{"configure", "docebo", "--url", "http://" + s.sandbox, "--client-id", sandboxID}
	if help, _ := exec.Command(filepath.Join(s.bin, "latchkey"), "configure", "--help").CombinedOutput(); bytes.Contains(help, []byte("--signin")) {
		// Signed-in links by the 30-second single-use exchange token (no JWT-bearer key needed).
		conf = append(conf, "--signin", "token_exchange")
	}
	s.run(sandboxValue, conf...)
	s.start("latchkey", "daemon", "--listen", s.listen)
	waitHTTP(t, "http://"+s.listen+"/healthz", 20*time.Second)
	s.connect()
}

func waitTCP(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %v: %v", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connect runs `latchkey connect docebo --no-browser` and approves the
// consent URL it prints as a browser would (the sandbox redirects back to
// the daemon).
func (s *realStack) connect() {
	t := s.t
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "latchkey"), "connect", "docebo", "--no-browser")
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var consent string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
			consent = l
			break
		}
	}
	if consent == "" {
		cmd.Wait()
		t.Fatalf("latchkey connect docebo printed no consent URL\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	approveConsent(t, consent, "/docebo/connected")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("latchkey connect docebo: %v\n%s", err, stderr.String())
	}
}

// approveConsent does what a person does with a consent URL: open it and,
// unless the provider approves at once, submit its form with the Approve
// button, following redirects until the daemon's redirect path answers.
func approveConsent(t *testing.T, consent, donePath string) {
	t.Helper()
	resp, err := http.Get(consent)
	if err != nil {
		t.Fatalf("opening the consent URL: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for i := 0; i < 3 && resp.Request.URL.Path != donePath; i++ {
		action, form := consentForm(t, body)
		target, err := resp.Request.URL.Parse(action)
		if err != nil {
			t.Fatalf("consent form action %q: %v", action, err)
		}
		if resp, err = http.PostForm(target.String(), form); err != nil {
			t.Fatalf("submitting the consent form: %v", err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if resp.Request.URL.Path != donePath || resp.StatusCode >= 400 {
		t.Fatalf("consent ended at %s with %d, want %s: %.300s", resp.Request.URL.Path, resp.StatusCode, donePath, body)
	}
}

// consentForm returns the first form's action and its values as submitted
// with the button that approves (id "approve", or the text Approve/Allow).
func consentForm(t *testing.T, page []byte) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("consent page: %v", err)
	}
	var form *html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if form == nil && n.Type == html.ElementNode && n.Data == "form" {
			form = n
		}
		for c := n.FirstChild; c != nil && form == nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if form == nil {
		t.Fatalf("consent page has no form: %.300s", page)
	}
	get := func(n *html.Node, k string) string {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val
			}
		}
		return ""
	}
	text := func(n *html.Node) string {
		var b strings.Builder
		var w func(*html.Node)
		w = func(n *html.Node) {
			if n.Type == html.TextNode {
				b.WriteString(n.Data)
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				w(c)
			}
		}
		w(n)
		return strings.TrimSpace(b.String())
	}
	vals := url.Values{}
	approved := false
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			name := get(n, "name")
			switch n.Data {
			case "input":
				if typ := get(n, "type"); name != "" && typ != "submit" && typ != "button" {
					vals.Set(name, get(n, "value"))
				}
			case "select":
				first, chosen := "", ""
				for o := n.FirstChild; o != nil; o = o.NextSibling {
					if o.Type == html.ElementNode && o.Data == "option" {
						if first == "" {
							first = get(o, "value")
						}
						for _, a := range o.Attr {
							if a.Key == "selected" {
								chosen = get(o, "value")
							}
						}
					}
				}
				if chosen == "" {
					chosen = first
				}
				vals.Set(name, chosen)
			case "button":
				if t := text(n); !approved && (get(n, "id") == "approve" || t == "Approve" || t == "Allow") {
					approved = true
					if name != "" {
						vals.Set(name, get(n, "value"))
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	if !approved {
		t.Fatalf("consent form has no Approve button: %.300s", page)
	}
	return get(form, "action"), vals
}

// menuURL asks the daemon for a menu URL with a fresh one-time code.
func (s *realStack) menuURL() string {
	s.t.Helper()
	for _, l := range strings.Split(s.run("", "menu", "--print-url"), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "http://") {
			return l
		}
	}
	s.t.Fatal("latchkey menu --print-url printed no URL")
	return ""
}

// expiredMenuURL returns a menu URL whose code has expired unused. Codes are
// minted together; each probe spends one sibling (same age) once enough time
// has passed, and the first refused probe proves the kept one expired.
// Waiting for the clock is the point here (expiry), not synchronisation.
func (s *realStack) expiredMenuURL() string {
	s.t.Helper()
	after := []time.Duration{codeTTL + 500*time.Millisecond, 10 * time.Second, 20 * time.Second, 31 * time.Second, 61 * time.Second}
	urls := make([]string, 1+len(after))
	start := time.Now()
	for i := range urls {
		urls[i] = s.menuURL()
	}
	for i, d := range after {
		time.Sleep(time.Until(start.Add(d)))
		// Probe as the menu page does: the code from the fragment, POSTed
		// to /menu/session from the menu's origin.
		u, err := url.Parse(urls[i+1])
		if err != nil {
			s.t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", "http://"+u.Host+"/menu/session",
			strings.NewReader(`{"code":"`+strings.TrimPrefix(u.Fragment, "code=")+`"}`))
		req.Header.Set("Origin", "http://"+u.Host)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatalf("probing a menu code: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			if i > 0 {
				s.t.Logf("the daemon ignores LATCHKEY_MENU_CODE_TTL: codes lived over %v", after[i-1])
			}
			return urls[0]
		}
	}
	s.t.Fatalf("menu codes are still accepted %v after minting", after[len(after)-1])
	return ""
}

type cliItem struct {
	Integration string   `json:"integration"`
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Kind        string   `json:"kind"`
	Progress    *float64 `json:"progress"`
	Status      string   `json:"status"`
}

func (s *realStack) jsonOut(v any, args ...string) {
	s.t.Helper()
	out := s.run("", args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("latchkey %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (s *realStack) doceboState() string {
	var st struct {
		Integrations []struct{ Name, State string } `json:"integrations"`
	}
	s.jsonOut(&st, "status", "--json")
	for _, i := range st.Integrations {
		if i.Name == "docebo" {
			return i.State
		}
	}
	return "absent"
}

// TestMenuRealStack drives the menu in Chromium against the real daemon and
// the Docebo sandbox, built from this tree.
func TestMenuRealStack(t *testing.T) {
	testenv.Require(t, testenv.Browser)
	testenv.Require(t, testenv.Keyring)
	s := newRealStack(t)
	s.up()

	// Ground truth from the CLI: the menu must show the same.
	var courses struct{ Items []cliItem }
	s.jsonOut(&courses, "courses", "--json")
	var want []course
	for _, c := range courses.Items {
		if c.Integration == "docebo" {
			want = append(want, course{ID: c.ID, Title: c.Title, Progress: c.Progress, Status: c.Status})
		}
	}
	if len(want) == 0 {
		t.Fatal("the sandbox user has no enrollments: nothing for My Courses to show")
	}
	var search struct{ Results []cliItem }
	s.jsonOut(&search, "search", "go", "--json")
	var titles []string
	for _, r := range search.Results {
		if r.Integration == "docebo" && len(titles) < 3 {
			titles = append(titles, r.Title)
		}
	}
	if len(titles) == 0 {
		t.Fatal(`latchkey search go finds no sandbox course`)
	}

	expired := s.expiredMenuURL()
	if fresh := s.menuURL(); fresh == expired {
		t.Fatal("latchkey menu --print-url printed the same code twice")
	}
	// The spec mints its own code just before opening the menu: the test's
	// codes live 2 s, less than Chromium may take to start on a busy machine.
	res := runSpec(t, scenario{
		MenuCmd:      []string{filepath.Join(s.bin, "latchkey"), "menu", "--print-url"},
		MenuEnv:      s.env,
		ExpiredURL:   expired,
		Shots:        artifactsDir(t),
		Integration:  "docebo",
		Query:        "go",
		SearchTitles: titles,
		Courses:      want,
		Thumbnails:   true,
		LauncherFile: filepath.Join(s.runtimeDir(), "latchkey", "menu.html"),
	})
	if res.Thumbnails != len(want) {
		t.Errorf("%d course thumbnails shown, want %d (the sandbox's, through the daemon)", res.Thumbnails, len(want))
	}
	if res.ReusedStatus == 0 || res.ExpiredStatus == 0 {
		t.Errorf("refusals not observed: reused %d, expired %d", res.ReusedStatus, res.ExpiredStatus)
	}
	// The daemon's page at the end of the consent: the menu's style, a
	// display name, and a link that opens the menu.
	if cp := res.ConnectedPage; cp.H1 != "Docebo is connected" || !cp.Styled || len(cp.Back) == 0 || !strings.Contains(cp.Back[0], "/menu#code=") {
		t.Errorf("the connected page = %+v, want the menu's stylesheet, \"Docebo is connected\" and a link to a fresh menu", cp)
	}
	if st := s.doceboState(); st != "connected" {
		t.Errorf("after the browser's Disconnect + Connect, latchkey status says docebo is %q", st)
	}
	var enter, card string
	for _, p := range res.Popups {
		enter, card = cmp.Or(enter, p["opened"]), cmp.Or(card, p["card"])
	}
	if !strings.Contains(enter, s.sandbox) || !strings.Contains(card, s.sandbox) {
		t.Errorf("Enter on a result opened %q, a click on a course %q; want pages of the sandbox %s", enter, card, s.sandbox)
	}
}
