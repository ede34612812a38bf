// Package document360 is the Document360 integration: knowledge-base articles
// in enterprise search (integrations.Searcher) and the reader JWT of the
// embedded knowledge-base widget (integrations.WidgetTokens, seed 004). The
// sandbox subpackage is a Document360-compatible server for tests and demos.
//
// The API token (v2 "api_token", or a v3 "X-API-Key" enhanced key) is not
// configuration: it is sealed in the vault like any token and reaches this
// package through integrations.Tokens for one call at a time. It is sent
// only in its header, only to BaseURL, never in a URL, a log or an error;
// redirects are never followed. The widget client secret is Config.Secret
// (from the keychain) and is sent only to the identity server, in HTTP Basic.
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
//	                  identity server (required unless BaseURL is set)
//	project           project id; the v3 API scope, and the widget client id
//	version           project version id (v2) / workspace id (v3); empty =
//	                  the main version / default workspace, discovered once
//	lang              language code, default "en"
//	api               "v2" (default, api_token header) or "v3" (X-API-Key)
//	public_url        KB site base URL; when set, article URLs are
//	                  public_url + "/docs/" + slug (no API call); when not,
//	                  they are data.url of the article lookup
//	                  (GET /v2/Articles/{id}/{lang} or the v3 article),
//	                  cached per article id (bounded LRU, 1 h)
//	page_size         hits per search page, 1..100, default 20
//	identity_url      identity server override; default: the region's, or
//	                  BaseURL itself when that is a loopback sandbox
//	widget_id         the widget's id (required for widget tokens)
//	widget_client_id  widget client id if not Config.ClientID or project
//	reader_groups     comma-separated reader group ids; at least one is
//	                  required for widget tokens (ErrNoReaderGroup)
//	token_validity    widget token validity in minutes, default 15, clamped
//	                  to 5..1440 like Document360 does (1 → 5, 5000 → 1440)
//
// Search scores use the Docebo integration's match scale (title words,
// content words, phrase; exact title = 1) times a rank factor
// 0.85 + 0.15/(1+rank/5) from the provider's order (see score), so articles
// and courses merge on one 0..1 scale; results are sorted best first. Rate limits: X-RateLimit-Remaining
// reaching 0 blocks further calls until X-RateLimit-Reset; a 429 is waited
// out (Retry-After, else Reset) when that fits the context deadline and 10 s,
// else *integrations.RateLimitError is returned at once. Error responses
// become *integrations.ProviderError (v2 errors[].description, v3
// problem+json; v3 401 has an empty body); a 401 the token source cannot
// cure wraps integrations.ErrReconnectNeeded.
package document360
