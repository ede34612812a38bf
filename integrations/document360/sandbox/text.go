package sandbox

import (
	stdhtml "html"
	"strings"
	"unicode"

	"golang.org/x/net/html"
)

// segment is one piece of an article's HTML: raw markup, or text.
type segment struct {
	raw  string // the markup as written (tags, comments) — empty for text
	text string // decoded text — empty for markup
	skip bool   // inside script/style: not content
	tag  string // element name of a tag segment
}

// blockTags separate words; other (inline) tags do not.
var blockTags = map[string]bool{"p": true, "div": true, "br": true, "li": true, "ul": true, "ol": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "pre": true, "blockquote": true,
	"table": true, "tr": true, "td": true, "th": true, "hr": true}

// segmentHTML splits HTML into markup and text segments, keeping the markup
// verbatim so snippets can carry it (as a search engine indexing HTML does).
func segmentHTML(src string) []segment {
	var out []segment
	z := html.NewTokenizer(strings.NewReader(src))
	inSkip := false
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		raw := string(z.Raw())
		switch tt {
		case html.TextToken:
			out = append(out, segment{text: stdhtml.UnescapeString(raw), skip: inSkip})
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			n := string(name)
			if n == "script" || n == "style" {
				inSkip = true
			}
			out = append(out, segment{raw: raw, tag: n})
		case html.EndTagToken:
			name, _ := z.TagName()
			n := string(name)
			if n == "script" || n == "style" {
				inSkip = false
			}
			out = append(out, segment{raw: raw, tag: n})
		default:
			out = append(out, segment{raw: raw})
		}
	}
}

// segmentsText is the plain text of the content segments.
func segmentsText(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.raw != "" {
			if blockTags[s.tag] {
				b.WriteByte(' ')
			}
		} else if !s.skip {
			b.WriteString(s.text)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// words splits s into lower-case words of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// highlight HTML-escapes text and wraps the words that match a term in
// <em>…</em>, as Algolia's highlight values do.
func highlight(text string, terms []string) string {
	var b strings.Builder
	rs := []rune(text)
	for i := 0; i < len(rs); {
		if !isWord(rs[i]) {
			b.WriteString(stdhtml.EscapeString(string(rs[i])))
			i++
			continue
		}
		j := i
		for j < len(rs) && isWord(rs[j]) {
			j++
		}
		w := string(rs[i:j])
		if matchesAny(strings.ToLower(w), terms) {
			b.WriteString("<em>" + stdhtml.EscapeString(w) + "</em>")
		} else {
			b.WriteString(stdhtml.EscapeString(w))
		}
		i = j
	}
	return b.String()
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func matchesAny(w string, terms []string) bool {
	for _, t := range terms {
		if strings.HasPrefix(w, t) {
			return true
		}
	}
	return false
}

// snippet cuts a window of the article's HTML around the first matching
// word: markup is kept verbatim, text is escaped with the matches in <em>,
// and "…" marks cuts. The result is deliberately HTML (possibly unbalanced),
// as the provider's _snippet_result values are.
func (a *indexed) snippet(terms []string) string {
	first := -1
	for i, s := range a.segs {
		if s.raw == "" && !s.skip && matchesAny2(s.text, terms) {
			first = i
			break
		}
	}
	if first < 0 {
		first = 0
	}
	start := max(first-3, 0)
	var b strings.Builder
	if start > 0 {
		b.WriteString("… ")
	}
	budget := 160
	for i := start; i < len(a.segs) && budget > 0; i++ {
		s := a.segs[i]
		if s.raw != "" {
			if s.tag != "em" { // the highlight adds its own <em>
				b.WriteString(s.raw)
			}
			continue
		}
		if s.skip {
			continue
		}
		t := []rune(s.text)
		if len(t) > budget {
			t = append(t[:budget], '…')
		}
		budget -= len(t)
		b.WriteString(highlight(string(t), terms))
	}
	return b.String()
}

func matchesAny2(text string, terms []string) bool {
	for _, w := range words(text) {
		if matchesAny(w, terms) {
			return true
		}
	}
	return false
}
