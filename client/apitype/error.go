package apitype

// ErrorBody is the document of every error answer:
// {"error": {"code": "...", "message": "..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the machine-readable code and the one-line message of an
// error answer.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes the CLI acts on (its exit codes).
const (
	// CodeNotConfigured: the integration has no configuration.
	CodeNotConfigured = "not_configured"
	// CodeNotConnected: the integration was never connected.
	CodeNotConnected = "not_connected"
	// CodeReconnectNeeded: the integration's grant ended; connect again.
	CodeReconnectNeeded = "reconnect_needed"
	// CodeKeychainUnavailable: the keychain does not answer (locked,
	// removed, no Secret Service).
	CodeKeychainUnavailable = "keychain_unavailable"
	// CodeNotFound: no such route or object (a connect flow that expired).
	CodeNotFound = "not_found"
	// CodeBadRequest: the request body could not be read.
	CodeBadRequest = "bad_request"
)
