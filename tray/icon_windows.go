package tray

const iconFormat = "ico"
