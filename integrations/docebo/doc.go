// Package docebo is latchkey's integration with the Docebo LMS: its OAuth2
// endpoints and grants, and an API client for the account, the user's
// enrollments ("My Courses"), course search and signed-in course links.
//
// It owns nothing persistent. Tokens reach it through integrations.Tokens
// (implemented by the daemon on top of the vault) for the length of one
// call; grant helpers return tokens to the caller, who seals them. No token,
// refresh token, client secret or assertion is ever logged, put in an error,
// or sent anywhere but the configured base URL.
//
// # Facts and guesses
//
// The wire details follow /work/shared/API-FACTS.md ("DOCEBO"). Where a fact
// is marked UNSURE there, the code says so in a comment and accepts both
// readings (page 0 or 1, status words, numbers sent as strings, the
// completion field's name, whether a refresh response rotates the refresh
// token, the error envelope).
//
// # Settings
//
// Keys read from integrations.Config.Settings (all optional):
//
//   - "signin": how SignInURL makes a signed-in link. "oauth2_response"
//     (default) puts a freshly minted access token in the URL
//     (/learn/…;type=oauth2_response;access_token=…); the Tokens passed to
//     SignInURL must then implement SignInTokenSource (see there). With
//     "token_exchange" the platform is asked for a 30-second, single-use
//     exchange token and the link is /learn/signin;type=token_exchange;….
//   - "exchange_token_path": the endpoint that mints exchange tokens
//     (default "/manage/v1/user/exchange_token"; UNSURE, not documented).
//   - "page_size": enrollments page size (default 200, 1..1000).
//   - "grants": comma-separated subset of grants this platform's OAuth2 app
//     has enabled (default: all five of seed 002).
//
// # Grants
//
// The authorization-code grant is run by the daemon with OAuth2Config (the
// client secret is sent in the body: AuthStyleInParams). The others are
// methods: PasswordGrant, ClientCredentialsGrant, JWTBearerGrant (RS256
// assertion; GenerateKeyPair makes the key whose public half the admin
// uploads) and RefreshGrant. An OAuth "invalid_grant" answer is returned
// wrapped in integrations.ErrReconnectNeeded.
package docebo
