// Package snwatcher is a stand-in StatusNotifier host for tests: a minimal
// org.kde.StatusNotifierWatcher on the session bus that accepts a tray
// item's registration, reads the item's menu over com.canonical.dbusmenu
// (GetLayout) and clicks its items (Event "clicked").
//
// Debian has no headless StatusNotifier host; with this one a test can
// assert the real tray's menu and drive it, as a desktop shell would. It
// is test support, not part of the latchkey binary.
package snwatcher
