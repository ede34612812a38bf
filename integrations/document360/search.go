package document360

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/latchkey/latchkey/integrations"
	"golang.org/x/sync/errgroup"
)

const (
	maxSearchPages   = 10  // pages read for one search at most
	maxSearchLimit   = 100 // results returned at most
	urlLookupWorkers = 4   // concurrent article lookups
)

// hit is one search hit, whatever the API version.
type hit struct {
	id, title, slug string
	snippet         string // HTML fragment from the highlight/snippet fields
	content         string // plain text of the content, for scoring
	contentKnown    bool   // false for v3 hits, which carry no content
	url             string
}

// Search searches the knowledge base (the configured version and language)
// and returns up to limit published articles, best first, each with its
// public URL, a plain-text snippet and a Score in 0..1 (see score). It reads as many pages as it needs, honours the rate limits, and
// fails fast with a clean error when the API is down.
func (d *Document360) Search(ctx context.Context, tokens integrations.Tokens, query string, limit int) ([]integrations.SearchResult, error) {
	query = strings.TrimSpace(query)
	if query == "" {
		return []integrations.SearchResult{}, nil
	}
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, maxSearchLimit)
	key, err := d.searchKey(ctx, tokens, query, limit)
	if err != nil {
		return nil, fmt.Errorf("document360: search: %w", err)
	}
	if d.results != nil {
		if rs, ok := d.results.get(key, d.now()); ok {
			return slices.Clone(rs), nil
		}
	}
	var hits []hit
	if d.api == APIv3 {
		hits, err = d.searchV3(ctx, tokens, query, limit)
	} else {
		hits, err = d.searchV2(ctx, tokens, query, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("document360: search: %w", err)
	}
	hits, err = d.resolveURLs(ctx, tokens, hits)
	if err != nil {
		return nil, fmt.Errorf("document360: search: %w", err)
	}
	terms := queryTerms(query)
	out := make([]integrations.SearchResult, 0, len(hits))
	for rank, h := range hits {
		s := score(h, terms, rank)
		title := StripHTML(h.title, 200)
		if title == "" {
			title = h.slug
		}
		out = append(out, integrations.SearchResult{
			Integration: d.name,
			Kind:        "article",
			ID:          h.id,
			Title:       title,
			URL:         h.url,
			Snippet:     StripHTML(h.snippet, MaxSnippetRunes),
			Score:       s,
		})
	}
	// Best first; equal scores keep the provider's order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if d.results != nil {
		d.results.put(key, slices.Clone(out), d.now())
	}
	return out, nil
}

// searchKey is the search cache key: a digest of the current API token (so
// results seen with one token are never served to a disconnected
// integration or under another token), the language, the limit and the
// query with case and spacing folded (Document360's search ignores both).
func (d *Document360) searchKey(ctx context.Context, tokens integrations.Tokens, query string, limit int) (string, error) {
	if tokens == nil {
		return "", integrations.ErrNotConnected
	}
	tok, err := integrations.AccessTokenFor(ctx, tokens)
	if err != nil {
		return "", err
	}
	if tok == nil || tok.AccessToken == "" {
		return "", integrations.ErrNotConnected
	}
	sum := sha256.Sum256([]byte(tok.AccessToken))
	return string(sum[:16]) + "\x00" + d.lang + "\x00" + strconv.Itoa(limit) + "\x00" +
		strings.ToLower(strings.Join(strings.Fields(query), " ")), nil
}

// hitFlags are the visibility flags of a search hit. Document360's v2 hits
// carry all of them; v3 hits are documented without them (v3 search returns
// published, visible articles), so there they are read when present.
type hitFlags struct {
	IsHidden         bool `json:"is_hidden"`
	IsDraft          bool `json:"is_draft"`
	Exclude          bool `json:"exclude"`
	IsDeleted        bool `json:"is_deleted"`
	IsCategory       bool `json:"is_category"`
	IsCategoryHidden bool `json:"is_category_hidden"`
	IsPrivate        bool `json:"is_private"`
}

// shown says whether a hit may be shown: not hidden, a draft, excluded from
// the site's search, deleted, a category or in a hidden category; private
// ones (readable only by signed-in readers of the site) only with
// show_private.
func (d *Document360) shown(f hitFlags) bool {
	if f.IsHidden || f.IsDraft || f.Exclude || f.IsDeleted || f.IsCategory || f.IsCategoryHidden {
		return false
	}
	return !f.IsPrivate || d.showPriv
}

// score rates a hit in 0..1 on the same scale as the Docebo integration's
// course scores, so the injector can merge both: the match quality of the
// title and content (as docebo.Score rates courses: 1 for the exact title,
// else 0.65·share of query words in the title (whole word 1, prefix ½) +
// 0.15·share in the content + 0.15 when the title holds the whole phrase +
// a little for short titles; floor 0.05, at most 0.99), times a rank factor
// 0.85 + 0.15/(1 + rank/5) that keeps the provider's (Algolia's) ordering
// information: 1 for its first hit, about 0.88 far down the list.
func score(h hit, terms []string, rank int) float64 {
	m := matchScore(terms, StripHTML(h.title, 1000), h.content, h.contentKnown)
	s := m * (0.85 + 0.15/(1+float64(rank)/5))
	return math.Round(min(max(s, 0.05), 1)*1000) / 1000
}

func matchScore(terms []string, title, content string, contentKnown bool) float64 {
	if len(terms) == 0 {
		return 0.05
	}
	nq := strings.Join(terms, " ")
	tw := queryTerms(title)
	joined := strings.Join(tw, " ")
	if joined == nq {
		return 1
	}
	titleShare := termShare(terms, tw)
	contentShare := 1.0 // v3 hits carry no content: the provider matched it there
	if contentKnown {
		contentShare = termShare(terms, queryTerms(content))
	}
	s := 0.65*titleShare + 0.15*contentShare
	if strings.Contains(" "+joined+" ", " "+nq+" ") {
		s += 0.15
	}
	if titleShare > 0 && len(tw) > 0 {
		s += 0.04 * float64(len(terms)) / float64(max(len(tw), len(terms)))
	}
	return min(max(s, 0.05), 0.99)
}

// termShare is the share of terms found in words: a whole word counts 1, a
// word it is a prefix of (two letters or more) ½.
func termShare(terms, words []string) float64 {
	set := make(map[string]bool, len(words))
	for _, w := range words {
		set[w] = true
	}
	var n float64
	for _, t := range terms {
		if set[t] {
			n++
			continue
		}
		for _, w := range words {
			if len(t) >= 2 && strings.HasPrefix(w, t) {
				n += 0.5
				break
			}
		}
	}
	return n / float64(len(terms))
}

// queryTerms splits s into lower-case words of letters and digits.
func queryTerms(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// --- v2 -------------------------------------------------------------------

// v2Envelope is the v2 response wrapper.
type v2Envelope[T any] struct {
	Data    T    `json:"data"`
	Success bool `json:"success"`
	Errors  []struct {
		Description string `json:"description"`
		ErrorCode   any    `json:"error_code"`
	} `json:"errors"`
}

func (e *v2Envelope[T]) err() error {
	if e.Success || len(e.Errors) == 0 {
		return nil
	}
	pe := &integrations.ProviderError{Status: 200, Code: scalar(e.Errors[0].ErrorCode)}
	var msgs []string
	for _, x := range e.Errors {
		msgs = append(msgs, x.Description)
	}
	pe.Message = StripHTML(strings.Join(msgs, "; "), maxMessage)
	return pe
}

type v2Hit struct {
	ArticleID string `json:"article_id"`
	Title     string `json:"title"`
	Content   string `json:"content"`
	Slug      string `json:"slug"`
	hitFlags
	Snippet   map[string]json.RawMessage `json:"_snippet_result"`
	Highlight map[string]json.RawMessage `json:"_highlight_result"`
}

type v2SearchData struct {
	Hits    []v2Hit `json:"hits"`
	NbHits  int     `json:"nb_hits"`
	Page    int     `json:"page"`
	NbPages int     `json:"nb_pages"`
}

// highlightField reads {"value": "...", "match_level": "..."} (snake or
// Algolia's camel case); anything else (arrays for tags) yields nothing.
func highlightField(m map[string]json.RawMessage, key string) (value, level string) {
	raw, ok := m[key]
	if !ok {
		return "", ""
	}
	var f struct {
		Value       string `json:"value"`
		MatchLevel  string `json:"match_level"`
		MatchLevel2 string `json:"matchLevel"`
	}
	if json.Unmarshal(raw, &f) != nil {
		return "", ""
	}
	return f.Value, strings.ToLower(firstNonEmpty(f.MatchLevel, f.MatchLevel2))
}

func (d *Document360) searchV2(ctx context.Context, tokens integrations.Tokens, query string, limit int) ([]hit, error) {
	version, err := d.versionID(ctx, tokens)
	if err != nil {
		return nil, err
	}
	per := min(d.pageSize, limit)
	path := "/v2/ProjectVersions/" + url.PathEscape(version) + "/" + url.PathEscape(d.lang)
	var out []hit
	seen := map[string]bool{}
	for page := 0; page < maxSearchPages && len(out) < limit; page++ {
		q := url.Values{
			"searchQuery": {query},
			"page":        {strconv.Itoa(page)},
			"hitsPerPage": {strconv.Itoa(per)},
		}
		var env v2Envelope[v2SearchData]
		if err := d.get(ctx, tokens, path, q, &env); err != nil {
			return nil, err
		}
		if err := env.err(); err != nil {
			return nil, err
		}
		for _, h := range env.Data.Hits {
			if h.ArticleID == "" || !d.shown(h.hitFlags) || seen[h.ArticleID] || len(out) >= limit {
				continue
			}
			seen[h.ArticleID] = true
			x := hit{id: h.ArticleID, title: h.Title, slug: h.Slug}
			if tv, _ := highlightField(h.Highlight, "title"); tv != "" {
				x.title = tv // highlighted title; tags are stripped later
			}
			hv, _ := highlightField(h.Highlight, "content")
			sv, _ := highlightField(h.Snippet, "content")
			x.snippet = firstNonEmpty(sv, hv, h.Content)
			x.content = StripHTML(h.Content+" "+x.snippet, 4096)
			x.contentKnown = true
			out = append(out, x)
		}
		if len(env.Data.Hits) == 0 || page+1 >= env.Data.NbPages {
			break
		}
	}
	return out, nil
}

// versionID is the configured project version, or the main one of the
// project (discovered once).
func (d *Document360) versionID(ctx context.Context, tokens integrations.Tokens) (string, error) {
	if d.version != "" {
		return d.version, nil
	}
	id, _, err := d.discoverVersion(ctx, tokens)
	return id, err
}

// versionSlug is the slug of the version for the {version} placeholder of
// article links: version_slug, else the slug the API gives the version
// (discovered once).
func (d *Document360) versionSlug(ctx context.Context, tokens integrations.Tokens) (string, error) {
	if d.verSlug != "" {
		return d.verSlug, nil
	}
	_, slug, err := d.discoverVersion(ctx, tokens)
	if err != nil {
		return "", err
	}
	if slug == "" {
		return "", errors.New("the project version has no slug for {version} in article_url; set version_slug")
	}
	return slug, nil
}

// discoverVersion lists the project versions (v2) or workspaces (v3) once
// and returns the configured one, or else the main / default one, with its
// slug.
func (d *Document360) discoverVersion(ctx context.Context, tokens integrations.Tokens) (id, slug string, err error) {
	d.mu.Lock()
	id, slug = d.discoveredVer, d.discoveredSlg
	d.mu.Unlock()
	if id != "" {
		return id, slug, nil
	}
	type version struct {
		ID       string `json:"id"`
		Slug     string `json:"slug"`
		CodeName string `json:"version_code_name"`
		Main     bool   `json:"is_main_version"`
		Default  bool   `json:"is_default"`
	}
	var list []version
	if d.api == APIv3 {
		var env struct {
			Data []version `json:"data"`
		}
		if err := d.get(ctx, tokens, "/v3/projects/"+url.PathEscape(d.project)+"/workspaces", nil, &env); err != nil {
			return "", "", fmt.Errorf("listing workspaces: %w", err)
		}
		list = env.Data
	} else {
		var env v2Envelope[[]version]
		if err := d.get(ctx, tokens, "/v2/ProjectVersions", nil, &env); err != nil {
			return "", "", fmt.Errorf("listing project versions: %w", err)
		}
		if err := env.err(); err != nil {
			return "", "", err
		}
		list = env.Data
	}
	var chosen *version
	for i := range list {
		v := &list[i]
		switch {
		case d.version != "":
			if v.ID == d.version {
				chosen = v
			}
		case v.Main || v.Default || i == 0 && chosen == nil:
			chosen = v
		}
	}
	if chosen == nil && d.version != "" {
		return "", "", fmt.Errorf("version %s is not among the project's versions; check version", d.version)
	}
	if chosen == nil || !validID(chosen.ID) {
		return "", "", errors.New("the project has no usable version; set version")
	}
	slug = firstNonEmpty(chosen.Slug, chosen.CodeName)
	if !validSlug(slug) {
		slug = ""
	}
	d.mu.Lock()
	d.discoveredVer, d.discoveredSlg = chosen.ID, slug
	d.mu.Unlock()
	return chosen.ID, slug, nil
}

// validSlug accepts a non-empty path segment that is not "." or "..".
func validSlug(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\?#") && len(s) <= 512
}

// --- v3 -------------------------------------------------------------------

func (d *Document360) searchV3(ctx context.Context, tokens integrations.Tokens, query string, limit int) ([]hit, error) {
	ws, err := d.versionID(ctx, tokens)
	if err != nil {
		return nil, err
	}
	per := min(d.pageSize, limit)
	path := "/v3/projects/" + url.PathEscape(d.project) + "/workspaces/" + url.PathEscape(ws) + "/search"
	var out []hit
	seen := map[string]bool{}
	for page := 1; page <= maxSearchPages && len(out) < limit; page++ {
		q := url.Values{
			"query":     {query},
			"page":      {strconv.Itoa(page)},
			"page_size": {strconv.Itoa(per)},
			"lang_code": {d.lang},
		}
		var env struct {
			Data []struct {
				ArticleID string                     `json:"article_id"`
				Title     string                     `json:"title"`
				Slug      string                     `json:"slug"`
				Snippet   map[string]json.RawMessage `json:"_snippet_result"`
				Highlight map[string]json.RawMessage `json:"_highlight_result"`
				hitFlags
			} `json:"data"`
			Pagination struct {
				HasMore bool `json:"has_more"`
			} `json:"pagination"`
		}
		if err := d.get(ctx, tokens, path, q, &env); err != nil {
			return nil, err
		}
		for _, h := range env.Data {
			if h.ArticleID == "" || !d.shown(h.hitFlags) || seen[h.ArticleID] || len(out) >= limit {
				continue
			}
			seen[h.ArticleID] = true
			x := hit{id: h.ArticleID, title: h.Title, slug: h.Slug}
			// v3 hits are documented without highlights; use them if present.
			x.snippet, _ = highlightField(h.Snippet, "content")
			if x.snippet != "" {
				x.content, x.contentKnown = StripHTML(x.snippet, 4096), true
			}
			out = append(out, x)
		}
		if len(env.Data) == 0 || !env.Pagination.HasMore {
			break
		}
	}
	return out, nil
}

// --- article URLs ---------------------------------------------------------

// resolveURLs gives every hit its public URL: the article link template
// (article_url, or public_url + "/docs/{slug}") filled in with the language,
// version slug and article slug when one is configured (no API call per hit),
// else the article's data.url from the article lookup, cached per article
// id. Hits whose URL cannot be found are dropped (and logged); if that drops
// every hit, the lookup error is returned.
func (d *Document360) resolveURLs(ctx context.Context, tokens integrations.Tokens, hits []hit) ([]hit, error) {
	var (
		mu       sync.Mutex
		firstErr error
		link     *strings.Replacer
	)
	if d.linkTmpl != "" && len(hits) > 0 {
		ver := ""
		if strings.Contains(d.linkTmpl, "{version}") {
			v, err := d.versionSlug(ctx, tokens)
			if err != nil {
				return nil, fmt.Errorf("building article links: %w", err)
			}
			ver = v
		}
		link = strings.NewReplacer("{lang}", url.PathEscape(d.lang), "{version}", url.PathEscape(ver))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(urlLookupWorkers)
	for i := range hits {
		h := &hits[i]
		if link != nil && validSlug(h.slug) {
			h.url = strings.ReplaceAll(link.Replace(d.linkTmpl), "{slug}", url.PathEscape(h.slug))
			continue
		}
		if u, ok := d.urlCache.get(h.id, d.now()); ok {
			h.url = u
			continue
		}
		g.Go(func() error {
			u, err := d.articleURL(gctx, tokens, h.id)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return nil // keep the other lookups going
			}
			h.url = u
			d.urlCache.put(h.id, u, d.now())
			return nil
		})
	}
	_ = g.Wait()
	out := hits[:0:0]
	for _, h := range hits {
		if h.url != "" {
			out = append(out, h)
		}
	}
	if dropped := len(hits) - len(out); dropped > 0 {
		if len(out) == 0 && firstErr != nil {
			return nil, fmt.Errorf("looking up article URLs: %w", firstErr)
		}
		d.log.Warn("document360: articles without a public URL left out", "count", dropped, "err", firstErr)
	}
	return out, nil
}

// articleURL looks one article up and returns its absolute http(s) URL.
func (d *Document360) articleURL(ctx context.Context, tokens integrations.Tokens, id string) (string, error) {
	var raw string
	if d.api == APIv3 {
		var env struct {
			Data struct {
				URL string `json:"url"`
			} `json:"data"`
		}
		q := url.Values{"lang_code": {d.lang}, "published": {"true"}}
		if err := d.get(ctx, tokens, "/v3/projects/"+url.PathEscape(d.project)+"/articles/"+url.PathEscape(id), q, &env); err != nil {
			return "", err
		}
		raw = env.Data.URL
	} else {
		var env v2Envelope[struct {
			URL string `json:"url"`
		}]
		// isPublished=true: the latest published version, not the latest
		// version (which may be a draft).
		q := url.Values{"isPublished": {"true"}}
		if err := d.get(ctx, tokens, "/v2/Articles/"+url.PathEscape(id)+"/"+url.PathEscape(d.lang), q, &env); err != nil {
			return "", err
		}
		if err := env.err(); err != nil {
			return "", err
		}
		raw = env.Data.URL
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("article %s has no usable public URL", id)
	}
	return u.String(), nil
}
