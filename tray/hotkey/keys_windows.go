package hotkey

import xhotkey "golang.design/x/hotkey"

func modFor(m Modifier) (xhotkey.Modifier, bool) {
	switch m {
	case Ctrl:
		return xhotkey.ModCtrl, true
	case Shift:
		return xhotkey.ModShift, true
	case Alt:
		return xhotkey.ModAlt, true
	case Super:
		return xhotkey.ModWin, true
	}
	return 0, false
}
