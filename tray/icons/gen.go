//go:build ignore

// gen.go draws the tray icons: `go generate ./tray` (run from the tray
// directory by the go:generate line in icons.go) rewrites icons/*.png and
// icons/*.ico. Each icon is 32×32; its shape says the state as well as its
// colour: connected is a green disc with a white keyhole, attention an
// orange triangle with a white "!", disconnected a grey ring with a keyhole.
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
		p := draw(32, c, name)
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

// draw renders the anti-aliased icon of state name in colour c.
func draw(size int, c color.NRGBA, name string) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4 // supersampling per axis
	r := float64(size)/2 - 1
	cx, cy := float64(size)/2, float64(size)/2
	hollow := name == "disconnected"
	triangle := name == "attention"
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var shape, glyph int
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := float64(x) + (float64(sx)+0.5)/ss
					py := float64(y) + (float64(sy)+0.5)/ss
					var in bool
					if triangle {
						in = inTriangle(px, py, float64(size))
					} else {
						d := math.Hypot(px-cx, py-cy)
						in = d <= r && !(hollow && d < r-3.5)
					}
					if in {
						shape++
					}
					kx, ky := px-cx, py-cy
					if triangle {
						// "!": a bar above a dot, low in the triangle
						if (math.Abs(kx) <= 1.9 && ky >= -6 && ky <= 4) || math.Hypot(kx, ky-8) <= 2.1 {
							glyph++
						}
					} else if math.Hypot(kx, ky+3) <= 4.2 || (ky >= -1 && ky <= 8 && math.Abs(kx) <= 1.8+ky*0.18) {
						// keyhole: a circle above a trapezoid
						glyph++
					}
				}
			}
			n := float64(ss * ss)
			a := float64(shape) / n
			h := float64(glyph) / n
			out := c
			if hollow {
				// ring in the colour; keyhole in the colour too
				a = math.Max(a, h)
			} else {
				// white glyph over the shape
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

// inTriangle is whether (x, y) is inside the warning triangle of an icon of
// the given size (apex up).
func inTriangle(x, y, size float64) bool {
	ax, ay := size/2, 1.0
	bx, by := size-1, size-2
	cx, cy := 1.0, size-2
	side := func(px, py, qx, qy float64) float64 { return (x-qx)*(py-qy) - (px-qx)*(y-qy) }
	d1, d2, d3 := side(ax, ay, bx, by), side(bx, by, cx, cy), side(cx, cy, ax, ay)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
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
