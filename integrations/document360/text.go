package document360

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// MaxSnippetRunes bounds the snippets Search returns.
const MaxSnippetRunes = 240

// maxStripInput bounds how much markup StripHTML reads: snippets and
// highlights are short; anything longer is cut before tokenizing.
const maxStripInput = 64 << 10

// StripHTML turns an HTML fragment (a search highlight or snippet, article
// content) into one line of plain text of at most max runes (plus a trailing
// "…" when cut; max <= 0 means MaxSnippetRunes). It uses the HTML5
// tokenizer, so tags, comments, doctype and broken markup never leak through;
// it drops the contents of script, style and similar elements; decodes
// character references; turns every run of whitespace and control characters
// into one space; and always returns valid UTF-8. The result is text, not
// HTML: whoever renders it must escape it.
func StripHTML(s string, max int) string {
	if max <= 0 {
		max = MaxSnippetRunes
	}
	if len(s) > maxStripInput {
		s = s[:maxStripInput]
	}
	w := textWriter{max: max}
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0 // depth inside elements whose text is not content
	for !w.full {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			// io.EOF, or a read error a strings.Reader never has.
			return w.String()
		case html.TextToken:
			if skip == 0 {
				w.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if isSkipped(a) {
				if tt == html.StartTagToken && !isVoid(a) {
					skip++
				}
				continue
			}
			if isBlock(a) {
				w.space()
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if isSkipped(a) {
				if skip > 0 {
					skip--
				}
				continue
			}
			if isBlock(a) {
				w.space()
			}
		}
	}
	return w.String()
}

func isSkipped(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Iframe,
		atom.Object, atom.Svg, atom.Math, atom.Head, atom.Title, atom.Textarea,
		atom.Select, atom.Noembed, atom.Noframes, atom.Xmp, atom.Plaintext:
		return true
	}
	return false
}

func isVoid(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img,
		atom.Input, atom.Link, atom.Meta, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Br, atom.Hr, atom.Li, atom.Ul, atom.Ol, atom.Dl,
		atom.Dt, atom.Dd, atom.Tr, atom.Td, atom.Th, atom.Table, atom.Thead,
		atom.Tbody, atom.Tfoot, atom.Caption, atom.H1, atom.H2, atom.H3, atom.H4,
		atom.H5, atom.H6, atom.Pre, atom.Blockquote, atom.Section, atom.Article,
		atom.Header, atom.Footer, atom.Nav, atom.Aside, atom.Figure,
		atom.Figcaption, atom.Img, atom.Details, atom.Summary, atom.Main, atom.Address:
		return true
	}
	return false
}

// textWriter accumulates collapsed text up to max runes.
type textWriter struct {
	b       strings.Builder
	max     int
	n       int  // runes written
	pending bool // a space is owed before the next non-space rune
	full    bool
}

func (w *textWriter) space() {
	if w.n > 0 {
		w.pending = true
	}
}

func (w *textWriter) text(s string) {
	for len(s) > 0 && !w.full {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if r == utf8.RuneError && size <= 1 {
			r = unicode.ReplacementChar
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u200b' || r == '\ufeff' ||
			unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) ||
			(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			// Whitespace, controls, zero-width and bidi overrides: at most one space.
			w.space()
			continue
		}
		if w.pending {
			if w.n+1 >= w.max {
				w.full = true
				break
			}
			w.b.WriteByte(' ')
			w.n++
			w.pending = false
		}
		if w.n >= w.max {
			w.full = true
			break
		}
		w.b.WriteRune(r)
		w.n++
	}
}

// String returns the text, cut at a word boundary with "…" when it did not
// fit.
func (w *textWriter) String() string {
	out := w.b.String()
	if !w.full {
		return out
	}
	// Cut back to the last space when it is not too far back, then mark the cut.
	if i := strings.LastIndexByte(out, ' '); i > len(out)/2 {
		out = out[:i]
	}
	return strings.TrimRightFunc(out, unicode.IsSpace) + "…"
}
