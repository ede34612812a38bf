// Package document360 is the Document360 integration: knowledge-base articles
// in enterprise search (integrations.Searcher) and the reader JWT of the
// embedded knowledge-base widget (integrations.WidgetTokens). The sandbox
// subpackage is a Document360-compatible server for tests and demos. The
// facts about the real API that this package relies on, with their public
// sources and how sure each is, are in docs/document360.md.
//
// The API token (v2 "api_token", or a v3 "X-API-Key" enhanced key) is not
// configuration: it is sealed in the vault like any token and reaches this
// package through integrations.Tokens for one call at a time. It is sent
// only in its header, only to BaseURL, never in a URL, a log or an error;
// redirects are never followed. The widget client secret is Config.Secret
// (from the keychain) and is sent only to the widget token endpoint, in HTTP
// Basic.
//
// Configuration (integrations.Config):
//
//	BaseURL   optional API origin override (loopback sandboxes); checked
//	          with integrations.CheckBaseURL
//	ClientID  optional widget client id (see widget_client_id)
//	Secret    the widget client secret (only needed for widget tokens)
//
// Settings:
//
//	region            eu | us | ca: API host apihub[.us|.ca].document360.io and
//	                  identity server (required unless BaseURL is set; the
//	                  ca identity host is a guess, see identityHosts)
//	project           project id; the v3 API scope, and the widget client id
//	version           project version id (v2) / workspace id (v3); empty =
//	                  the main version / default workspace, discovered once
//	version_slug      the version's segment in article links ({version});
//	                  empty = the slug the API gives the version (one call)
//	lang              language code as the project names it, default "en";
//	                  its case is kept (pt-BR)
//	api               "v2" (default, api_token header) or "v3" (X-API-Key)
//	article_url       article link template, an https URL with {slug} and
//	                  optionally {lang} and {version} in its path, e.g.
//	                  https://kb.example.com/{version}/docs/{lang}/{slug} or
//	                  https://example.com/help/docs/{slug}; links are built
//	                  without an API call
//	public_url        KB site base URL: the same as article_url =
//	                  public_url + "/docs/{slug}" (article_url wins)
//	                  Without either, article URLs are data.url of the
//	                  published article (GET /v2/Articles/{id}/{lang}
//	                  ?isPublished=true or the v3 article with
//	                  published=true), cached per article id (bounded LRU, 1 h)
//	show_private      true: show private articles (readable only by readers
//	                  signed in to the site); default false
//	page_size         hits per search page, 1..100, default 20
//	search_cache_ttl  how long search results are kept (query, language,
//	                  limit and token; bounded LRU), default 5m, 0 = off
//	rate_limit        requests per minute this daemon sends at most with the
//	                  token, default 60 (Professional/Business); 0 = no
//	                  local limit
//	identity_url      identity server override; default: the region's, or
//	                  BaseURL itself when that is a loopback sandbox
//	widget_token_url  the widget token endpoint, as shown in the widget's
//	                  JWT settings; default identity server + /connect/token
//	widget_id         the widget's id (required for widget tokens)
//	widget_client_id  widget client id if not Config.ClientID or project
//	reader_groups     comma-separated reader group ids; at least one is
//	                  required for widget tokens (ErrNoReaderGroup)
//	token_validity    widget token validity in minutes, default 15, clamped
//	                  to 5..1440 like Document360 does (1 → 5, 5000 → 1440)
//
// Search hits the knowledge base hides are skipped: hidden, drafts, excluded
// from the site's search, deleted, categories, in a hidden category, and
// private ones unless show_private.
//
// Search scores use the Docebo integration's match scale (title words,
// content words, phrase; exact title = 1) times a rank factor
// 0.85 + 0.15/(1+rank/5) from the provider's order (see score), so articles
// and courses merge on one 0..1 scale; results are sorted best first.
//
// Rate limits: calls are paced to rate_limit a minute (a call that would
// have to wait longer than the context deadline or 10 s fails at once with
// *integrations.RateLimitError); X-RateLimit-Remaining reaching 0 blocks
// further calls until X-RateLimit-Reset; a 429 is waited out (Retry-After,
// else Reset) when that fits the context deadline and 10 s, else
// *integrations.RateLimitError is returned at once. RateBudget reports what
// is left (latchkey status). Error responses become
// *integrations.ProviderError (v2 errors[].description, v3 problem+json; v3
// 401 has an empty body); a 401 the token source cannot cure wraps
// integrations.ErrReconnectNeeded.
package document360
