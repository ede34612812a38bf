package daemon

const defaultHotkey = "cmd+shift+e"
