package simulate

// The plots are laid out from the widths of their text, so that titles,
// legends and tick labels fit: nothing is clipped and nothing overlaps.
// The widths are DejaVu Sans's advance widths (thousandths of an em, from
// the hmtx table of DejaVuSans.ttf and DejaVuSans-Bold.ttf 2.37), the
// font the SVGs ask for first. It is wider than Arial, Helvetica and
// Liberation Sans, and about as wide as Verdana, so text set in any of
// them takes no more room than measured here.

// fontFamily is what the SVGs ask for: DejaVu Sans, or fonts as wide or
// narrower.
const fontFamily = "DejaVu Sans, Verdana, Geneva, sans-serif"

// advance holds the widths of printable ASCII, ' ' to '~', regular then bold.
var advance = [2][95]uint16{{
	318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337,
	636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531,
	1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,
	603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500,
	500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
	635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
}, {
	348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365,
	696, 696, 696, 696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580,
	1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850,
	733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500,
	500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687,
	716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
}}

// wideRune is the width assumed for any other character (an em dash, a
// µ): as wide as the widest of the font's ordinary characters.
const wideRune = 1000

// textWidth is the width in pixels of s set at size pixels.
func textWidth(s string, size float64, bold bool) float64 {
	b := 0
	if bold {
		b = 1
	}
	var units int
	for _, r := range s {
		if r >= ' ' && r <= '~' {
			units += int(advance[b][r-' '])
		} else {
			units += wideRune
		}
	}
	return float64(units) * size / 1000
}
