package document360

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestStripHTML(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"Set up <em>Go</em> &amp; <em>golang</em>", "Set up Go & golang"},
		{"<p>one</p><p>two</p>", "one two"},
		{"a<br>b<br/>c", "a b c"},
		{"x &lt;script&gt;alert(1)&lt;/script&gt; y", "x <script>alert(1)</script> y"},
		{"before<script>var secret = 1;</script>after", "beforeafter"},
		{"<style>p{color:red}</style>styled", "styled"},
		{"keep <!-- comment --> going", "keep going"},
		{"broken <a href=\"x", "broken"},
		{"<b>unclosed <i>tags", "unclosed tags"},
		{"  lots \n\t of\u00a0\u00a0space  ", "lots of space"},
		{"zero\u200bwidth and \u202eoverride", "zero width and override"},
		{"ctrl\x00\x07chars", "ctrl chars"},
		{"bad \xff utf8", "bad \ufffd utf8"},
		{"&eacute;t&eacute; &#x1F600; &#0;", "été 😀 \ufffd"},
		{"<svg><text>drawn</text></svg>shown", "shown"},
		{"<title>t</title><textarea>ta</textarea>body", "body"},
	}
	for _, c := range cases {
		if got := StripHTML(c.in, 100); got != c.want {
			t.Errorf("StripHTML(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestStripHTMLBounds(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 200)
	got := StripHTML(long, 50)
	if !strings.HasSuffix(got, "…") || utf8.RuneCountInString(got) > 51 {
		t.Errorf("cut = %q (%d runes)", got, utf8.RuneCountInString(got))
	}
	if strings.Contains(got, "wor…") {
		t.Errorf("cut inside a word: %q", got)
	}
	if got := StripHTML(strings.Repeat("x", 300), 0); utf8.RuneCountInString(got) != MaxSnippetRunes+1 {
		t.Errorf("default bound: %d runes", utf8.RuneCountInString(got))
	}
	if got := StripHTML("exactly ten", 11); got != "exactly ten" {
		t.Errorf("exact fit cut: %q", got)
	}
}

func FuzzStripHTML(f *testing.F) {
	for _, s := range []string{
		"", "<p>hi</p>", "<em>Go</em> &amp; more", "<script>x</script>y", "<a href='", "&#x;&#99999999;",
		"<svg><script>a</script></svg>b", "<plaintext><b>", "\x00<\x00>", "<!--", "<![CDATA[x]]>",
		"a\u202eb\u200bc", strings.Repeat("<div>", 1000),
	} {
		f.Add(s, 40)
	}
	f.Fuzz(func(t *testing.T, in string, max int) {
		max = max%500 + 1
		if max < 1 {
			max = -max + 1
		}
		out := StripHTML(in, max)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 %q", out)
		}
		if n := utf8.RuneCountInString(out); n > max+1 {
			t.Fatalf("%d runes > %d+1", n, max)
		}
		if strings.TrimSpace(out) != out || strings.Contains(out, "  ") {
			t.Fatalf("whitespace not collapsed: %q", out)
		}
		for _, r := range out {
			if unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' ') {
				t.Fatalf("control or odd space %U in %q", r, out)
			}
		}
		// Text without '<' or '&' is only whitespace-collapsed (and cut).
		if !strings.ContainsAny(in, "<&") && utf8.ValidString(in) && utf8.RuneCountInString(in) < max {
			want := strings.Join(strings.FieldsFunc(in, func(r rune) bool {
				return unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u200b' || r == '\ufeff' ||
					unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) ||
					(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
			}), " ")
			if strings.ContainsRune(in, '\r') || strings.ContainsRune(in, 0) {
				return // the tokenizer normalises CR and NUL
			}
			if out != want {
				t.Fatalf("plain text changed: %q → %q, want %q", in, out, want)
			}
		}
	})
}

func TestScore(t *testing.T) {
	t.Parallel()
	terms := queryTerms("go modules")
	exact := hit{title: "Go <em>modules</em>", content: "x", contentKnown: true}
	title := hit{title: "Using Go modules well", content: "x", contentKnown: true}
	body := hit{title: "Dependencies", content: "go modules and more", contentKnown: true}
	if s := score(exact, terms, 0); s != 1 {
		t.Errorf("exact title at rank 0 = %v, want 1", s)
	}
	if a, b := score(title, terms, 0), score(body, terms, 0); a <= b || a > 1 || b <= 0 {
		t.Errorf("title %v vs body %v", a, b)
	}
	if a, b := score(title, terms, 0), score(title, terms, 20); a <= b || b < 0.85*a {
		t.Errorf("rank 0 %v vs rank 20 %v", a, b)
	}
	// Prefix matches count half.
	if a, b := score(hit{title: "Go modules"}, queryTerms("go mod"), 0), score(hit{title: "Go mod"}, queryTerms("go mod"), 0); a >= b {
		t.Errorf("prefix %v should be below whole words %v", a, b)
	}
	if s := score(hit{contentKnown: true}, terms, 1000); s != 0.05 {
		t.Errorf("floor %v", s)
	}
	// The same scale as Docebo's course scores for the same title.
	if s := score(hit{title: "Go basics", contentKnown: true}, queryTerms("go"), 0); s < 0.8 || s > 0.9 {
		t.Errorf("one-word title hit %v, want about docebo.Score's 0.82", s)
	}
}

func TestURLCacheBounded(t *testing.T) {
	t.Parallel()
	c := newTTLCache[string](3, urlCacheTTL)
	now := timeZero()
	for _, id := range []string{"a", "b", "c"} {
		c.put(id, "https://x/"+id, now)
	}
	c.get("a", now) // a is recent now
	c.put("d", "https://x/d", now)
	if _, ok := c.get("b", now); ok || c.len() != 3 {
		t.Errorf("least recently used entry not evicted (len %d)", c.len())
	}
	if u, ok := c.get("a", now); !ok || u != "https://x/a" {
		t.Errorf("a = %q %v", u, ok)
	}
	if _, ok := c.get("a", now.Add(urlCacheTTL+1)); ok {
		t.Error("expired entry returned")
	}
}

func timeZero() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

func BenchmarkStripHTML(b *testing.B) {
	in := strings.Repeat(`<p>Set up your <em>Go</em> toolchain &amp; <code>go install</code> <a href="/x">link</a></p>`, 20)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		StripHTML(in, MaxSnippetRunes)
	}
}
