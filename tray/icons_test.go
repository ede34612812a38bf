package tray

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// The icons differ in shape, not only in colour (colour-blind users, a
// monochrome panel): their opaque areas differ.
func TestIconsDifferInShape(t *testing.T) {
	t.Parallel()
	alpha := func(i Icon) *image.NRGBA {
		img, err := png.Decode(bytes.NewReader(IconBytes(i, "png")))
		if err != nil {
			t.Fatalf("%v icon: %v", i, err)
		}
		n, ok := img.(*image.NRGBA)
		if !ok {
			t.Fatalf("%v icon is a %T", i, img)
		}
		return n
	}
	icons := []Icon{IconConnected, IconAttention, IconDisconnected}
	for i, a := range icons {
		for _, b := range icons[i+1:] {
			pa, pb := alpha(a), alpha(b)
			differ := 0
			for k := 3; k < len(pa.Pix) && k < len(pb.Pix); k += 4 {
				if d := int(pa.Pix[k]) - int(pb.Pix[k]); d > 128 || d < -128 {
					differ++
				}
			}
			// 32×32 icons: a different outline shows in well over 40 pixels.
			if differ < 40 {
				t.Errorf("%v and %v icons differ in %d pixels of shape: colour alone tells them apart", a, b, differ)
			}
		}
	}
}
