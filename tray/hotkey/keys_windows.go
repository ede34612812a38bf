package hotkey

import xhotkey "golang.design/x/hotkey"

var keys = map[string]xhotkey.Key{
	"a":      xhotkey.KeyA,
	"b":      xhotkey.KeyB,
	"c":      xhotkey.KeyC,
	"d":      xhotkey.KeyD,
	"e":      xhotkey.KeyE,
	"f":      xhotkey.KeyF,
	"g":      xhotkey.KeyG,
	"h":      xhotkey.KeyH,
	"i":      xhotkey.KeyI,
	"j":      xhotkey.KeyJ,
	"k":      xhotkey.KeyK,
	"l":      xhotkey.KeyL,
	"m":      xhotkey.KeyM,
	"n":      xhotkey.KeyN,
	"o":      xhotkey.KeyO,
	"p":      xhotkey.KeyP,
	"q":      xhotkey.KeyQ,
	"r":      xhotkey.KeyR,
	"s":      xhotkey.KeyS,
	"t":      xhotkey.KeyT,
	"u":      xhotkey.KeyU,
	"v":      xhotkey.KeyV,
	"w":      xhotkey.KeyW,
	"x":      xhotkey.KeyX,
	"y":      xhotkey.KeyY,
	"z":      xhotkey.KeyZ,
	"0":      xhotkey.Key0,
	"1":      xhotkey.Key1,
	"2":      xhotkey.Key2,
	"3":      xhotkey.Key3,
	"4":      xhotkey.Key4,
	"5":      xhotkey.Key5,
	"6":      xhotkey.Key6,
	"7":      xhotkey.Key7,
	"8":      xhotkey.Key8,
	"9":      xhotkey.Key9,
	"f1":     xhotkey.KeyF1,
	"f2":     xhotkey.KeyF2,
	"f3":     xhotkey.KeyF3,
	"f4":     xhotkey.KeyF4,
	"f5":     xhotkey.KeyF5,
	"f6":     xhotkey.KeyF6,
	"f7":     xhotkey.KeyF7,
	"f8":     xhotkey.KeyF8,
	"f9":     xhotkey.KeyF9,
	"f10":    xhotkey.KeyF10,
	"f11":    xhotkey.KeyF11,
	"f12":    xhotkey.KeyF12,
	"space":  xhotkey.KeySpace,
	"enter":  xhotkey.KeyReturn,
	"tab":    xhotkey.KeyTab,
	"escape": xhotkey.KeyEscape,
}

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
