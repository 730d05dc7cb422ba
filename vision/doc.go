// Package vision decodes images exactly as the reference classifier sees
// them — PIL's Image.open(f).convert("RGB"), which decodes JPEG with
// libjpeg-turbo's default settings — and turns them into network input
// tensors according to a preprocessing Profile.
//
// Go's image/jpeg rounds differently (IDCT, chroma upsampling, colour
// conversion), so the JPEG decoder here reproduces libjpeg-turbo's integer
// arithmetic: ISLOW IDCT, "fancy" triangular chroma upsampling and its
// YCbCr->RGB tables. PNG goes through image/png and is converted the way
// PIL converts each PNG mode.
//
// Where libjpeg only warns and carries on (bad Huffman codes, entropy data
// ending early, wrong restart markers) Decode returns an error instead, and a
// file without its EOI marker is truncated, as PIL reports it. CMYK and YCCK
// JPEGs decode as PIL opens them (Adobe-inverted CMYK, then PIL's naive
// CMYK->RGB). Arithmetic coding, lossless/hierarchical modes and 12-bit
// samples are refused as unsupported.
package vision
