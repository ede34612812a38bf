//go:build ignore

// gen.go draws the tray icons: `go generate ./tray` (run from the tray
// directory by the go:generate line in icons.go) rewrites icons/*.png and
// icons/*.ico. Each icon is a 32×32 disc with a white keyhole; the colour
// says the state.
package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

func main() {
	icons := map[string]color.NRGBA{
		"connected":    {0x2e, 0x9d, 0x4f, 0xff},
		"attention":    {0xe0, 0x8a, 0x00, 0xff},
		"disconnected": {0x80, 0x86, 0x8b, 0xff},
	}
	for name, c := range icons {
		p := draw(32, c, name == "disconnected")
		var b bytes.Buffer
		if err := png.Encode(&b, p); err != nil {
			log.Fatal(err)
		}
		must(os.WriteFile("icons/"+name+".png", b.Bytes(), 0o644))
		must(os.WriteFile("icons/"+name+".ico", ico(b.Bytes(), 32), 0o644))
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// draw renders an anti-aliased disc (a ring when hollow) with a keyhole.
func draw(size int, c color.NRGBA, hollow bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4 // supersampling per axis
	r := float64(size)/2 - 1
	cx, cy := float64(size)/2, float64(size)/2
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var disc, hole int
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := float64(x) + (float64(sx)+0.5)/ss
					py := float64(y) + (float64(sy)+0.5)/ss
					d := math.Hypot(px-cx, py-cy)
					in := d <= r
					if hollow && d < r-3.5 {
						in = false
					}
					if in {
						disc++
					}
					// keyhole: a circle above a trapezoid
					kx, ky := px-cx, py-cy
					if math.Hypot(kx, ky+3) <= 4.2 || (ky >= -1 && ky <= 8 && math.Abs(kx) <= 1.8+ky*0.18) {
						hole++
					}
				}
			}
			n := float64(ss * ss)
			a := float64(disc) / n
			h := float64(hole) / n
			out := c
			if hollow {
				// ring in the colour; keyhole in the colour too
				a = math.Max(a, h)
			} else {
				// white keyhole over the disc
				out.R = uint8(float64(c.R)*(1-h) + 255*h)
				out.G = uint8(float64(c.G)*(1-h) + 255*h)
				out.B = uint8(float64(c.B)*(1-h) + 255*h)
			}
			out.A = uint8(255 * a)
			img.SetNRGBA(x, y, out)
		}
	}
	return img
}

// ico wraps one PNG image in an ICO container (Windows Vista and later
// read PNG-compressed icon images).
func ico(pngData []byte, size int) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	w(uint16(0)) // reserved
	w(uint16(1)) // type: icon
	w(uint16(1)) // count
	w(uint8(size))
	w(uint8(size))
	w(uint8(0))  // palette
	w(uint8(0))  // reserved
	w(uint16(1)) // planes
	w(uint16(32))
	w(uint32(len(pngData)))
	w(uint32(6 + 16))
	b.Write(pngData)
	return b.Bytes()
}
