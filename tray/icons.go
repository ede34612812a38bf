package tray

import _ "embed"

//go:generate go run icons/gen.go

var (
	//go:embed icons/connected.png
	pngConnected []byte
	//go:embed icons/attention.png
	pngAttention []byte
	//go:embed icons/disconnected.png
	pngDisconnected []byte

	//go:embed icons/connected.ico
	icoConnected []byte
	//go:embed icons/attention.ico
	icoAttention []byte
	//go:embed icons/disconnected.ico
	icoDisconnected []byte
)

// IconBytes is the image for icon i in format "png" or "ico".
func IconBytes(i Icon, format string) []byte {
	switch format {
	case "ico":
		switch i {
		case IconConnected:
			return icoConnected
		case IconAttention:
			return icoAttention
		}
		return icoDisconnected
	default:
		switch i {
		case IconConnected:
			return pngConnected
		case IconAttention:
			return pngAttention
		}
		return pngDisconnected
	}
}
