package sandbox

import "fmt"

// Article is one knowledge-base article of the sandbox.
type Article struct {
	ID         string
	Title      string
	Slug       string
	HTML       string // html_content; search snippets are cut from it
	CategoryID string
	Tags       []string
	Hidden     bool // is_hidden: returned by v2 search with the flag set
	Draft      bool // is_draft: returned by v2 search with the flag set
	// The other flags of a v2 hit, returned by v2 search with the flag set
	// and left out of v3 search (documented as published, visible
	// articles only).
	Excluded bool // exclude: excluded from the site's search
	Deleted  bool // is_deleted
	Category bool // is_category: the hit is a category, not an article
	Private  bool // is_private: only signed-in readers of the site see it
	// DraftSlug, when set, makes the article's latest version an unpublished
	// draft with this slug: the article lookup returns it unless asked for
	// the published version (v2 isPublished=true, v3 published=true).
	DraftSlug string
}

// SeedArticles returns the sandbox's default knowledge base: 42 articles, a
// dozen about Go / golang / onboarding, with real HTML (entities, inline
// code, a script element, broken markup) so snippet handling matters. Two are
// hidden or draft; four "sabbatical" hits are excluded, deleted, a category
// or private (only "Sabbatical policy" may be shown by default); "Parental
// leave" has an unpublished draft as its latest version.
func SeedArticles() []Article {
	type seed struct {
		title, slug, cat, html string
		hidden, draft          bool
	}
	flagged := []Article{
		{Title: "Sabbatical policy", Slug: "sabbatical-policy", HTML: `<p>After five years you may take a three-month sabbatical.</p>`},
		{Title: "Sabbatical policy (2019, archived)", Slug: "sabbatical-policy-2019", HTML: `<p>The old sabbatical rules.</p>`, Excluded: true},
		{Title: "Sabbatical requests form", Slug: "sabbatical-requests", HTML: `<p>Deleted: sabbatical requests now pass through HR.</p>`, Deleted: true},
		{Title: "Sabbatical and leave", Slug: "sabbatical-and-leave", HTML: `<p>Category: sabbatical and leave.</p>`, Category: true},
		{Title: "Sabbatical pay for managers", Slug: "sabbatical-pay-managers", HTML: `<p>Private: sabbatical pay bands.</p>`, Private: true},
		{Title: "Parental leave", Slug: "parental-leave", HTML: `<p>Parental leave is sixteen weeks, paid.</p>`, DraftSlug: "parental-leave-2027-draft"},
	}
	seeds := []seed{
		{"Onboarding checklist for new engineers", "onboarding-checklist-for-new-engineers", "people",
			`<h2>Day one</h2><p>Welcome aboard! Your <strong>onboarding</strong> starts with accounts &amp; hardware.</p><ul><li>Collect your laptop &amp; badge</li><li>Install the <code>go</code> toolchain (see <a href="/docs/setting-up-golang">Setting up Golang</a>)</li><li>Join <em>#eng-onboarding</em></li></ul>`, false, false},
		{"Getting started with Go (golang)", "getting-started-with-go", "engineering",
			`<p><strong>Go</strong> (often called <em>golang</em>) is our main backend language. This guide takes you from <code>go mod init</code> to your first service.</p><pre><code>package main&#10;func main() { println("hello") }</code></pre><p>Next: <a href="/docs/go-coding-style-guide">style guide</a> &raquo;</p>`, false, false},
		{"Go coding style guide", "go-coding-style-guide", "engineering",
			`<p>We follow <a href="https://go.dev/doc/effective_go">Effective Go</a> &amp; the Go Code Review Comments. Run <code>gofmt</code> and <code>go vet</code> before every commit.</p><blockquote>Clear is better than clever.</blockquote>`, false, false},
		{"Setting up your Golang development environment", "setting-up-golang", "engineering",
			`<ol><li>Install Go 1.26 from <code>go.dev/dl</code></li><li>Set <code>GOPRIVATE=github.com/acme/*</code></li><li>Configure your editor with <b>gopls</b></li></ol><p>Golang tip: use <code>go env -w</code> for persistent settings &mdash; not your shell profile.</p>`, false, false},
		{"Onboarding: your first week", "onboarding-your-first-week", "people",
			`<p>Your first week is about people, not code. Meet your <strong>onboarding buddy</strong>, shadow an on-call shift &amp; ship a tiny change.</p><table><tr><td>Mon</td><td>Setup</td></tr><tr><td>Fri</td><td>Demo</td></tr></table>`, false, false},
		{"Manager's onboarding guide", "managers-onboarding-guide", "people",
			`<p>Managers: prepare the <em>onboarding</em> plan before day one. Book 1:1s, share the team charter &amp; the 30/60/90 plan.</p>`, false, false},
		{"Writing tests in Go", "writing-tests-in-go", "engineering",
			`<p>Use the standard <code>testing</code> package; table-driven tests are preferred. Run <code>go test -race ./...</code> in CI.</p><p>Fuzzing: <code>go test -fuzz=FuzzX</code>.</p>`, false, false},
		{"Go modules and dependency management", "go-modules", "engineering",
			`<p>Every repo is a Go module. Pin versions with <code>go get mod@v1.2.3</code>; never edit <code>go.sum</code> by hand.</p><p>Private modules go through the proxy &lt;internal&gt;.</p>`, false, false},
		{"Deploying Go services to production", "deploying-go-services", "engineering",
			`<p>Build static binaries (<code>CGO_ENABLED=0 go build</code>), ship them in distroless images &amp; roll out with canaries.</p>`, false, false},
		{"Customer onboarding playbook", "customer-onboarding-playbook", "customers",
			`<p>The customer <strong>onboarding</strong> playbook: kickoff call, data import, training &amp; the 30-day review.</p>`, false, false},
		{"Security: avoiding XSS in templates", "avoiding-xss", "security",
			`<p>Never build HTML by string concatenation: <code>&lt;script&gt;alert(1)&lt;/script&gt;</code> in a name must stay text.</p><script>var leaked = "this script text must never reach a snippet";</script><p>Go's <code>html/template</code> escapes contextually.</p>`, false, false},
		{"Expense policy", "expense-policy", "finance",
			`<p>Submit expenses within 30 days. Receipts over &euro;25 are required.</p>`, false, false},
		{"Travel booking", "travel-booking", "finance",
			`<p>Book travel through the portal; economy class for flights under 6&nbsp;hours.</p>`, false, false},
		{"VPN setup", "vpn-setup", "it",
			`<p>Install WireGuard &amp; import the profile from the IT portal. <i>Unclosed italic <b>and bold</p>`, false, false},
		{"Password manager", "password-manager", "it",
			`<p>Every secret lives in the password manager. Never paste passwords in chat<!-- or anywhere -->.</p>`, false, false},
		{"Single sign-on (SSO) FAQ", "sso-faq", "it",
			`<p>All internal tools use SSO. If a login loops, clear cookies &amp; try again.</p>`, false, false},
		{"Reader groups and permissions", "reader-groups", "kb",
			`<p>Reader groups decide which categories a reader sees. JWT readers get their groups from <code>readerGroupIds</code>.</p>`, false, false},
		{"Using the knowledge base widget", "kb-widget", "kb",
			`<p>The widget shows articles in context. It authenticates readers with a short-lived JWT (5&ndash;1440 minutes).</p>`, false, false},
		{"Incident response runbook", "incident-response", "engineering",
			`<p>Declare an incident early. Roles: commander, scribe, comms. Post-mortems are blameless.</p>`, false, false},
		{"On-call rotation", "on-call-rotation", "engineering",
			`<p>On-call is weekly, Monday to Monday. Hand over in #ops with open issues &amp; context.</p>`, false, false},
		{"Code review guidelines", "code-review-guidelines", "engineering",
			`<p>Review within one working day. Be kind; suggest, don't command. For Go changes check error handling &amp; tests.</p>`, false, false},
		{"Git branching strategy", "git-branching", "engineering",
			`<p>Trunk-based: short-lived branches, squash merges, <code>main</code> is always releasable.</p>`, false, false},
		{"Release process", "release-process", "engineering",
			`<p>Releases are cut every Tuesday. Tag with <code>vX.Y.Z</code>; the pipeline does the rest.</p>`, false, false},
		{"Holiday calendar", "holiday-calendar", "people",
			`<p>Public holidays per country are in the HR portal. Book leave two weeks ahead.</p>`, false, false},
		{"Benefits overview", "benefits-overview", "people",
			`<p>Health, pension &amp; a yearly learning budget. Details differ per country.</p>`, false, false},
		{"Learning budget and courses", "learning-budget", "people",
			`<p>Spend your learning budget on courses in the LMS (Docebo) or books. Go courses are pre-approved.</p>`, false, false},
		{"Docebo course catalog tips", "docebo-catalog-tips", "people",
			`<p>Find courses in the Docebo catalog; enrol &amp; track progress in "My Courses".</p>`, false, false},
		{"Meeting etiquette", "meeting-etiquette", "people",
			`<p>Every meeting has an agenda &amp; notes. Default to 25 minutes.</p>`, false, false},
		{"Remote work policy", "remote-work", "people",
			`<p>Work from anywhere in your country of employment; core hours 10:00&ndash;15:00.</p>`, false, false},
		{"Office access and badges", "office-access", "it",
			`<p>Badges are issued on day one. Lost badge? Report it at the front desk.</p>`, false, false},
		{"Hardware requests", "hardware-requests", "it",
			`<p>Request monitors, keyboards &amp; docks in the IT portal.</p>`, false, false},
		{"Slack channels directory", "slack-channels", "people",
			`<p>#general, #random, #eng-onboarding, #golang, #ops.</p>`, false, false},
		{"Performance reviews", "performance-reviews", "people",
			`<p>Twice a year, with self-review, peer feedback &amp; calibration.</p>`, false, false},
		{"Career ladder for engineers", "career-ladder", "people",
			`<p>Levels E1&ndash;E7 describe scope, impact &amp; craft.</p>`, false, false},
		{"Go concurrency patterns: goroutines & channels", "go-concurrency-patterns", "engineering",
			`<p>Start goroutines with a clear owner; stop them with <code>context.Context</code>. Prefer <code>errgroup</code> to bare <code>sync.WaitGroup</code> &amp; channels for fan-out.</p>`, false, false},
		{"Profiling Go programs with pprof", "profiling-go-pprof", "engineering",
			`<p>Expose <code>net/http/pprof</code> on a private port &amp; capture with <code>go tool pprof</code>.</p>`, false, false},
		{"Error handling in Go", "error-handling-in-go", "engineering",
			`<p>Wrap errors with <code>fmt.Errorf("...: %w", err)</code>; check with <code>errors.Is</code> / <code>errors.As</code>.</p>`, false, false},
		{"Onboarding buddy program", "onboarding-buddy-program", "people",
			`<p>Every newcomer gets a buddy for the first 90 days of <strong>onboarding</strong>.</p>`, false, false},
		{"Go generics deep dive (draft)", "go-generics-draft", "engineering",
			`<p>Draft: type parameters in Go, constraints &amp; when not to use them.</p>`, false, true},
		{"Internal onboarding notes", "internal-onboarding-notes", "people",
			`<p>Hidden: HR-only onboarding notes.</p>`, true, false},
		{"Accessibility guidelines", "accessibility", "engineering",
			`<p>Every UI has keyboard navigation, labels &amp; sufficient contrast.</p>`, false, false},
		{"Data retention policy", "data-retention", "security",
			`<p>Logs are kept 30 days; backups 90 days. Personal data is deleted on request.</p>`, false, false},
	}
	out := make([]Article, len(seeds))
	for i, s := range seeds {
		out[i] = Article{
			ID:         fmt.Sprintf("6f1c%04x-2b7a-4c1e-9d3f-%012x", i+1, 0xa00000+i+1),
			Title:      s.title,
			Slug:       s.slug,
			HTML:       s.html,
			CategoryID: "c0ffee00-0000-4000-8000-" + fmt.Sprintf("%012x", len(s.cat)),
			Tags:       []string{s.cat},
			Hidden:     s.hidden,
			Draft:      s.draft,
		}
	}
	for i, a := range flagged {
		n := len(seeds) + i + 1
		a.ID = fmt.Sprintf("6f1c%04x-2b7a-4c1e-9d3f-%012x", n, 0xa00000+n)
		a.CategoryID = "c0ffee00-0000-4000-8000-" + fmt.Sprintf("%012x", 6)
		a.Tags = []string{"people"}
		out = append(out, a)
	}
	return out
}
