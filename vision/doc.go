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
package vision
