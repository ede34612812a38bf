package document360

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/integrations"
)

// maxArticleRunes bounds an article's text.
const maxArticleRunes = 20000

var _ integrations.Articles = (*Document360)(nil)

// Article returns the latest published version of article id as plain
// text: its HTML through StripHTML (markup, scripts and styles removed).
func (d *Document360) Article(ctx context.Context, tokens integrations.Tokens, id string) (integrations.Article, error) {
	if id == "" || strings.ContainsAny(id, "/?#") {
		return integrations.Article{}, errors.New("not a Document360 article id")
	}
	type body struct {
		Title       string `json:"title"`
		URL         string `json:"url"`
		HTMLContent string `json:"html_content"`
		Content     string `json:"content"`
	}
	var a body
	if d.api == APIv3 {
		var env struct {
			Data body `json:"data"`
		}
		q := url.Values{"lang_code": {d.lang}, "published": {"true"}}
		if err := d.get(ctx, tokens, "/v3/projects/"+url.PathEscape(d.project)+"/articles/"+url.PathEscape(id), q, &env); err != nil {
			return integrations.Article{}, err
		}
		a = env.Data
	} else {
		var env v2Envelope[body]
		if err := d.get(ctx, tokens, "/v2/Articles/"+url.PathEscape(id)+"/"+url.PathEscape(d.lang), url.Values{"isPublished": {"true"}}, &env); err != nil {
			return integrations.Article{}, err
		}
		if err := env.err(); err != nil {
			return integrations.Article{}, err
		}
		a = env.Data
	}
	src := a.HTMLContent
	if src == "" {
		src = a.Content
	}
	out := integrations.Article{Integration: d.name, ID: id, Title: StripHTML(a.Title, 500), Text: StripHTML(src, maxArticleRunes)}
	if u, err := url.Parse(strings.TrimSpace(a.URL)); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil {
		out.URL = u.String()
	}
	return out, nil
}
