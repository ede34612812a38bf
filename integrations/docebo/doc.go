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
// docs/docebo.md lists every fact about Docebo this package relies on, with
// its public source and how sure it is. Where a fact is unconfirmed, the
// code says so in a comment and accepts every reading seen (page 0 or 1,
// status words, numbers sent as strings, the completion field's name,
// whether a refresh response rotates the refresh token, the error
// envelope, the catalog's item_type words).
//
// # Items
//
// Docebo numbers courses and learning plans separately. Courses and Search
// keep a course's id as it is ("12") and give a learning plan the id
// "lp-12"; its link is the learner UI's learning-plan page
// (/learn/learning-plans/12/<slug>), and SignInURL takes either id.
//
// # Settings
//
// Keys read from integrations.Config.Settings (all optional):
//
//   - "signin": how SignInURL makes a signed-in link. "oauth2_response"
//     (default) puts a freshly minted access token in the URL
//     (/learn/…;type=oauth2_response;access_token=…); the Tokens passed to
//     SignInURL must then implement SignInTokenSource (see there).
//     "token_exchange" is experimental: the platform is asked for a
//     30-second, single-use exchange token at an endpoint no public source
//     documents, and the link is /learn/signin;type=token_exchange;…; a
//     platform that answers 404 gets an error saying to use oauth2_response.
//   - "exchange_token_path": the endpoint the experimental token_exchange
//     form calls (default "/manage/v1/user/exchange_token", a guess).
//   - "jwt_audience": the "aud" of JWT-bearer assertions (default: the
//     platform host of the base URL). A platform on a custom domain may
//     expect its <name>.docebosaas.com host.
//   - "page_size": enrollments page size (default 200, 1..1000).
//   - "grants": comma-separated subset of grants this platform's OAuth2 app
//     has enabled (default: all five).
//
// # Search
//
// Search asks GET /learn/v1/courses?search_text=…; when that answers 403 (a
// learner's token may not list courses) it searches the user's own
// catalogs (GET /learn/v1/catalog?my_catalogs=1&show_item_list=1) instead,
// for the next ten minutes too. Unpublished, disabled and expired items are
// left out.
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
