// Package sandbox is a stand-in for a Docebo platform, faithful to what
// /work/shared/API-FACTS.md knows of the real one, for tests and for
// `make run`: the OAuth2 server (/oauth2/authorize with a consent page,
// /oauth2/token with the five grants of seed 002), the learner API latchkey
// uses (/manage/v1/user/session, /learn/v1/enrollments, /learn/v1/courses),
// and the signed-in URL forms of the learner UI (;type=oauth2_response and
// ;type=token_exchange). It keeps all state in memory.
//
// Where API-FACTS marks a fact UNSURE the sandbox picks one reading and says
// so in a comment; latchkey's client must accept both.
//
// Test hooks are plain methods: FailNext, SetLatency, SetRateLimit,
// SetAutoApprove, ExpireAccessTokens, AddJWTKey, and counters (TokenCalls,
// GrantCalls, APICalls).
package sandbox
