// Package sandbox is a Document360-compatible server for tests and demos,
// faithful to what ../../../shared API-FACTS "DOCUMENT360" and seed 004 say:
//
//   - v2 (header api_token): GET /v2/ProjectVersions; search
//     GET /v2/ProjectVersions/{versionId}/{lang}?searchQuery=&page=&hitsPerPage=
//     (zero-based page, default 10 per page, hits with _snippet_result and
//     _highlight_result holding HTML); GET /v2/Articles/{id}/{lang} with
//     data.url; errors as {"success":false,"errors":[{"description"}]}.
//   - v3 (header X-API-Key): GET /v3/projects/{p}/workspaces, .../search
//     ?query=&page=&page_size=&lang_code=, GET /v3/projects/{p}/articles/{id};
//     401 with an empty body, other errors application/problem+json.
//   - Rate limits per token: X-RateLimit-Remaining while a limit is set,
//     X-RateLimit-Limit and X-RateLimit-Reset (seconds) once it is reached,
//     429 with Retry-After beyond it.
//   - The identity server's widget token endpoint POST /connect/token
//     (grant_type=Widget, payload=<reader JSON>, HTTP Basic client id and
//     secret; a JSON body of the reader payload is accepted too): at least
//     one readerGroupIds entry, tokenValidity clamped to 5..1440 minutes, an
//     HS256 JWT signed with the sandbox's own key.
//   - The KB site's article pages GET /docs/{slug} (what data.url points to).
//
// Faults for tests: FailNext, RateLimitNext, SetLatency, SetDown.
package sandbox
