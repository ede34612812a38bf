// Package sandbox is a Document360-compatible server for tests and demos,
// faithful to Document360's public API as docs/document360.md describes it
// (the file lists each fact with its source and how sure it is):
//
//   - v2 (header api_token): GET /v2/ProjectVersions; search
//     GET /v2/ProjectVersions/{versionId}/{lang}?searchQuery=&page=&hitsPerPage=
//     (zero-based page, default 10 per page, hits with _snippet_result and
//     _highlight_result holding HTML, and the flags is_hidden, is_draft,
//     exclude, is_deleted, is_category, is_private); GET
//     /v2/Articles/{id}/{lang} with data.url, the latest version unless
//     isPublished=true (Article.DraftSlug makes it a draft); errors as
//     {"success":false,"errors":[{"description"}]}.
//   - v3 (header X-API-Key): GET /v3/projects/{p}/workspaces, .../search
//     ?query=&page=&page_size=&lang_code= (published, visible articles only),
//     GET /v3/projects/{p}/articles/{id} (published=true as in v2);
//     401 with an empty body, other errors application/problem+json.
//   - Rate limits per token: X-RateLimit-Remaining while a limit is set,
//     X-RateLimit-Limit and X-RateLimit-Reset (seconds) once it is reached,
//     429 with Retry-After beyond it.
//   - The identity server's widget token endpoint, POST /connect/token or
//     Options.WidgetTokenPath
//     (grant_type=Widget, payload=<reader JSON>, HTTP Basic client id and
//     secret; a JSON body of the reader payload is accepted too): at least
//     one readerGroupIds entry, tokenValidity clamped to 5..1440 minutes, an
//     HS256 JWT signed with the sandbox's own key.
//   - The KB site's article pages GET /docs/{slug} (what data.url points to).
//   - Language codes are compared as given: pt-BR is not pt-br.
//
// Faults for tests: FailNext, RateLimitNext, SetLatency, SetDown.
package sandbox
