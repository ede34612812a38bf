// Package sandbox is a stand-in for a Docebo platform, faithful to what
// public sources show of the real one (docs/docebo.md lists them), for tests
// and for `make run`: the OAuth2 server (/oauth2/authorize with a consent
// page, /oauth2/token with the five grants an API and SSO app can enable),
// the learner API latchkey uses (/manage/v1/user/session,
// /learn/v1/enrollments, /learn/v1/courses, /learn/v1/catalog), and the
// signed-in URL forms of the learner UI (;type=oauth2_response and
// ;type=token_exchange). It keeps all state in memory.
//
// As on a real platform, courses and learning plans are numbered
// separately: the seeded learning plan 1001 shares its id with course 1001,
// and ada is enrolled in both. Catalogs are assigned to users; an admin's
// course list also shows an unpublished course.
//
// POST /manage/v1/user/exchange_token IS A LATCHKEY INVENTION. No Docebo
// documentation or public client describes an API that hands an exchange
// token to a client (Docebo mints them itself inside an identity
// provider's sign-in). The sandbox serves it so the experimental
// "signin = token_exchange" setting can be exercised;
// Options.DisableExchangeToken (docebo-sandbox --no-exchange-token) makes it
// answer 404, as a real platform would.
//
// Where a fact is unconfirmed the sandbox picks one reading and says so in a
// comment; latchkey's client must accept both. Options.ForbidLearnerCourseList
// plays a platform whose learners get 403 on /learn/v1/courses, and
// Options.Audience one that expects a given JWT-bearer "aud".
//
// Test hooks are plain methods: FailNext, SetLatency, SetTokenLatency (a
// slow token endpoint that has already rotated when it answers),
// SetRateLimit, SetAutoApprove, SetForbidLearnerCourseList,
// SetExchangeTokenEndpoint, SetAudience, ExpireAccessTokens, AddJWTKey, and
// counters (TokenCalls, GrantCalls, APICalls, RefreshReuses). GET
// /manage/v1/sandbox/refused answers 401 to every token.
package sandbox
