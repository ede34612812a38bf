// Package browser holds the end-to-end tests of the menu web UI and of
// latchkey-store's admin console: a real
// Chromium (Debian's, driven by playwright-core from node) against a running
// stack. The tests need testenv.Browser (scripts/browser-deps.sh sets it up);
// screenshots go to $LATCHKEY_TEST_ARTIFACTS (default: a new temp dir, kept).
package browser
