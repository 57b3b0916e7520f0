//! Image loading shared by every stage.
//!
//! - The format is sniffed from the bytes, never from the file extension.
//! - The pixel count is read from the header and checked against a limit *before* decoding, so a
//!   decompression bomb is refused without allocating its pixels.
//! - EXIF orientation (1–8) is applied, so pixels are upright as a viewer shows them.
//! - Greyscale, grey+alpha, RGBA, palette, 16-bit and CMYK inputs become 8-bit RGB (alpha is dropped, as
//!   OpenCV's `imread` does; 16-bit samples are scaled to 8 bits).
//! - Empty, truncated and non-image inputs are refused with an error naming the input.

use std::fmt;
use std::io::Cursor;
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// Default pixel limit (64 megapixels, e.g. 8000×8000).
pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;

/// Default limit on the encoded size of one image (256 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Limits applied when loading an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Largest accepted `width * height`, checked from the header before decoding.
    pub max_pixels: u64,
    /// Largest accepted encoded size in bytes.
    pub max_bytes: u64,
    /// Accept a JPEG whose data is damaged but decodable (libjpeg fills what it could not decode with grey), with
    /// the decoder's warnings in [`DecodedImage::warnings`]. Off by default: such a photo is refused with
    /// [`ImageError::Damaged`].
    pub accept_damaged: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { max_pixels: DEFAULT_MAX_PIXELS, max_bytes: DEFAULT_MAX_BYTES, accept_damaged: false }
    }
}

/// A decoded, upright, 8-bit RGB image and what was learnt while decoding it.
#[derive(Clone)]
pub struct DecodedImage {
    /// Pixels, upright (EXIF orientation applied), RGB, 8 bits per channel.
    pub rgb: RgbImage,
    /// Container format, as sniffed from the bytes.
    pub format: ImageFormat,
    /// Colour type stored in the file, before conversion to RGB.
    pub source_color: ExtendedColorType,
    /// EXIF orientation that was applied (1 = none).
    pub orientation: u8,
    /// What the decoder warned about (libjpeg: extraneous bytes between markers, a bad ICC block; with
    /// [`LoadOptions::accept_damaged`], damaged data too). Empty for a clean file.
    pub warnings: Vec<String>,
}

impl fmt::Debug for DecodedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedImage")
            .field("width", &self.rgb.width())
            .field("height", &self.rgb.height())
            .field("format", &self.format)
            .field("source_color", &self.source_color)
            .field("orientation", &self.orientation)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl DecodedImage {
    /// Width in pixels (after orientation).
    pub fn width(&self) -> u32 {
        self.rgb.width()
    }
    /// Height in pixels (after orientation).
    pub fn height(&self) -> u32 {
        self.rgb.height()
    }
}

/// Why an image could not be loaded. Every variant names the input (`name`: a path, URL or other label).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The file could not be read.
    #[error("{name}: cannot read file: {source}")]
    Io {
        /// The input.
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Zero bytes.
    #[error("{name}: file is empty (0 bytes); re-download or remove it")]
    Empty {
        /// The input.
        name: String,
    },
    /// More bytes than allowed.
    #[error(
        "{name}: {bytes} bytes is more than the limit of {limit} bytes for one image; shrink it or raise the limit"
    )]
    TooManyBytes {
        /// The input.
        name: String,
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a known image format.
    #[error(
        "{name}: not an image (the first bytes, {magic}, match no supported format: JPEG, PNG, WebP, GIF, BMP, TIFF, PNM); \
         check that the file is really a photo and not an HTML page or a partial download"
    )]
    NotAnImage {
        /// The input.
        name: String,
        /// The first bytes, in hex.
        magic: String,
    },
    /// A known image format that this build cannot decode.
    #[error("{name}: {format:?} images are not supported; convert it to JPEG or PNG")]
    UnsupportedFormat {
        /// The input.
        name: String,
        /// The sniffed format.
        format: ImageFormat,
    },
    /// The header declares more pixels than allowed (decompression-bomb guard); nothing was decoded.
    #[error(
        "{name}: {width}x{height} is {pixels} pixels, more than the limit of {limit}; \
         refusing to decode it (possible decompression bomb); downscale it or raise the pixel limit"
    )]
    TooManyPixels {
        /// The input.
        name: String,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// `width * height`.
        pixels: u64,
        /// The limit.
        limit: u64,
    },
    /// The decoder could not decode part of the pixels (the data ends early or holds invalid codes) and would fill
    /// them with grey; refused unless [`LoadOptions::accept_damaged`] is set.
    #[error(
        "{name}: the JPEG data is damaged ({warning}{more}): part of the picture cannot be decoded and would come out \
         grey; re-download or re-export the file, or accept damaged photos (setting accept_damaged; in issc: \
         --accept-damaged or ISSC_ACCEPT_DAMAGED=1)",
        more = if *warnings > 1 { format!("; {warnings} decoder warnings in all") } else { String::new() }
    )]
    Damaged {
        /// The input.
        name: String,
        /// The decoder's first warning about lost data.
        warning: String,
        /// How many warnings the decoder raised.
        warnings: usize,
    },
    /// The path is not a regular file (a folder, FIFO, socket or device): only files are read as photos.
    #[error("{name}: not a regular file ({kind}); give the path of a photo file")]
    NotAFile {
        /// The input.
        name: String,
        /// What it is instead (`directory`, `FIFO`, `socket`, `character device`, ...).
        kind: &'static str,
    },
    /// The header or pixel data is damaged or incomplete.
    #[error("{name}: {format:?} data is truncated or corrupt ({reason}); re-download or re-export the file")]
    Corrupt {
        /// The input.
        name: String,
        /// The sniffed format.
        format: ImageFormat,
        /// What the decoder said.
        reason: String,
    },
}

impl ImageError {
    /// A short machine-friendly reason, for manifests and summaries (`empty`, `not_an_image`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            ImageError::Io { .. } => "io",
            ImageError::Empty { .. } => "empty",
            ImageError::TooManyBytes { .. } => "too_many_bytes",
            ImageError::NotAnImage { .. } => "not_an_image",
            ImageError::UnsupportedFormat { .. } => "unsupported_format",
            ImageError::TooManyPixels { .. } => "too_many_pixels",
            ImageError::Corrupt { .. } => "corrupt",
            ImageError::Damaged { .. } => "damaged",
            ImageError::NotAFile { .. } => "not_a_file",
        }
    }
}

/// Sniff the container format from the first bytes. `None` when no supported format matches.
pub fn sniff_format(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes).ok()
}

/// Read and decode an image file. See [`decode_image`].
pub fn load_image(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<DecodedImage, ImageError> {
    let (bytes, name) = read_limited(path.as_ref(), opts)?;
    decode_image(&bytes, &name, opts)
}

/// A file's bytes and its name for messages: only a regular file, read no further than `opts.max_bytes`; `-` is
/// standard input, asked for explicitly (read once, to its end or the limit).
fn read_limited(path: &Path, opts: &LoadOptions) -> Result<(Vec<u8>, String), ImageError> {
    if path.as_os_str() == "-" {
        use std::io::Read as _;
        let name = "<stdin>".to_string();
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(opts.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| ImageError::Io { name: name.clone(), source })?;
        if bytes.len() as u64 > opts.max_bytes {
            return Err(ImageError::TooManyBytes { name, bytes: bytes.len() as u64, limit: opts.max_bytes });
        }
        return Ok((bytes, name));
    }
    let name = path.display().to_string();
    match crate::fsutil::read_capped(path, opts.max_bytes) {
        Ok(bytes) => Ok((bytes, name)),
        Err(crate::ReadError::NotAFile { kind, .. }) => Err(ImageError::NotAFile { name, kind }),
        Err(crate::ReadError::TooLarge { bytes, limit, .. }) => Err(ImageError::TooManyBytes { name, bytes, limit }),
        Err(crate::ReadError::Io { source, .. }) => Err(ImageError::Io { name, source }),
    }
}

/// Decode an image from memory. `name` is used in error messages (a path, a URL, `"<upload>"`).
pub fn decode_image(bytes: &[u8], name: &str, opts: &LoadOptions) -> Result<DecodedImage, ImageError> {
    decode_scaled(bytes, name, opts, None).map(|(img, _)| img)
}

/// The JPEG DCT-domain scale (`n`/8, libjpeg's `scale_num`) that gives the smallest image whose long side is still
/// at least `min_long_side`: 8 (full size) when none smaller does.
fn jpeg_scale_num(width: u32, height: u32, min_long_side: u32) -> u8 {
    let long = u64::from(width.max(height));
    (1..8u8).find(|&n| (long * u64::from(n)).div_ceil(8) >= u64::from(min_long_side)).unwrap_or(8)
}

/// [`decode_image`], but a JPEG is decoded at a reduced scale (n/8, in the DCT domain: libjpeg's `scale_num`, as
/// libvips' shrink-on-load and Pillow's draft mode do) when its long side stays at least `min_long_side`. Returns
/// the image and the factor from its pixels to the full-size image's (`8/n`; 1 when decoded at full size).
fn decode_scaled(
    bytes: &[u8],
    name: &str,
    opts: &LoadOptions,
    min_long_side: Option<u32>,
) -> Result<(DecodedImage, f32), ImageError> {
    let name = name.to_string();
    if bytes.is_empty() {
        return Err(ImageError::Empty { name });
    }
    if bytes.len() as u64 > opts.max_bytes {
        return Err(ImageError::TooManyBytes { name, bytes: bytes.len() as u64, limit: opts.max_bytes });
    }
    let Some(format) = sniff_format(bytes) else {
        let magic = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
        return Err(ImageError::NotAnImage { name, magic });
    };
    if !matches!(
        format,
        ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Bmp
            | ImageFormat::Tiff
            | ImageFormat::Pnm
    ) {
        return Err(ImageError::UnsupportedFormat { name, format });
    }
    let corrupt = |reason: String| ImageError::Corrupt { name: name.clone(), format, reason };

    // 1. Header only: dimensions, checked before any pixel is allocated.
    let (width, height) =
        ImageReader::with_format(Cursor::new(bytes), format).into_dimensions().map_err(|e| corrupt(e.to_string()))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > opts.max_pixels {
        return Err(ImageError::TooManyPixels { name, width, height, pixels, limit: opts.max_pixels });
    }
    if pixels == 0 {
        return Err(corrupt(format!("header declares a {width}x{height} image")));
    }
    if format == ImageFormat::Jpeg && !jpeg_has_end_marker(bytes) {
        return Err(corrupt("no end-of-image marker: the file was cut short".into()));
    }

    // 2. Decode. JPEG goes through libjpeg-turbo's decoder (bit-identical to OpenCV and Pillow, which the
    //    reference pipeline and most face models were built with); CMYK/YCCK JPEGs and other formats through
    //    the `image` crate, with allocation limits as a second guard.
    let mut warnings_kept = Vec::new();
    if format == ImageFormat::Jpeg {
        let scale_num = min_long_side.map_or(8, |side| jpeg_scale_num(width, height, side));
        let (decoded, (warnings, count)) = decode_jpeg_libjpeg(bytes, scale_num).map_err(corrupt)?;
        if !opts.accept_damaged
            && let Some(lost) = warnings.iter().find(|w| w.lost_data())
        {
            return Err(ImageError::Damaged { name, warning: lost.text.clone(), warnings: count });
        }
        if !warnings.is_empty() {
            let texts: Vec<&str> = warnings.iter().map(|w| w.text.as_str()).collect();
            tracing::warn!("{name}: the JPEG decoder warned ({count} in all): {}", texts.join("; "));
        }
        warnings_kept = warnings.into_iter().map(|w| w.text).collect();
        // `None`: CMYK / YCCK, which the `image` crate converts (below), now that libjpeg found the data whole.
        if let Some((mut img, source_color, orientation)) = decoded {
            img.apply_orientation(orientation);
            let image = DecodedImage {
                rgb: img.into_rgb8(),
                format,
                source_color,
                orientation: orientation_to_exif(orientation),
                warnings: warnings_kept,
            };
            return Ok((image, 8.0 / f32::from(scale_num)));
        }
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(pixels.saturating_mul(16).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| corrupt(e.to_string()))?;
    // The `image` crate reports CMYK JPEGs as the RGB it converts them to; say what the file holds.
    let source_color =
        if format == ImageFormat::Jpeg { ExtendedColorType::Cmyk8 } else { decoder.original_color_type() };
    // A damaged EXIF block must not make a good photo unreadable: fall back to "no transform".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| corrupt(e.to_string()))?;
    img.apply_orientation(orientation);
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    };
    let image = DecodedImage {
        rgb,
        format,
        source_color,
        orientation: orientation_to_exif(orientation),
        warnings: warnings_kept,
    };
    Ok((image, 1.0))
}

/// Decode a JPEG with libjpeg (ISLOW IDCT, fancy upsampling: the library defaults OpenCV uses). `None` for
/// CMYK/YCCK files, which libjpeg cannot convert to RGB. libjpeg reports fatal errors by unwinding (without the
/// panic hook); they are caught here and returned as the reason. Its warnings (the first few, and their count)
/// come with the image.
type LibjpegOutput = Option<(DynamicImage, ExtendedColorType, Orientation)>;

fn decode_jpeg_libjpeg(
    bytes: &[u8],
    scale_num: u8,
) -> Result<(LibjpegOutput, (Vec<crate::jpeg_errors::Warning>, usize)), String> {
    crate::jpeg_errors::reset();
    let result = std::panic::catch_unwind(|| -> std::io::Result<LibjpegOutput> {
        let mut d = mozjpeg::Decompress::with_markers(&[mozjpeg::Marker::APP(1)])
            .with_err(crate::jpeg_errors::error_mgr())
            .from_mem(bytes)?;
        if scale_num < 8 {
            d.scale(scale_num.max(1));
        }
        let color = match d.color_space() {
            mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK => {
                // The `image` crate converts these to RGB, but its decoder does not report damaged data: decode
                // the scanlines here too (rare files), only for libjpeg's warnings.
                let mut started = d.to_colorspace(mozjpeg::ColorSpace::JCS_CMYK)?;
                let _: Vec<u8> = started.read_scanlines()?;
                started.finish()?;
                return Ok(None);
            }
            mozjpeg::ColorSpace::JCS_GRAYSCALE => ExtendedColorType::L8,
            _ => ExtendedColorType::Rgb8,
        };
        let orientation = d
            .markers()
            .filter_map(|m| m.data.strip_prefix(b"Exif\0\0"))
            .find_map(Orientation::from_exif_chunk)
            .unwrap_or(Orientation::NoTransforms);
        let mut started = d.rgb()?;
        let (w, h) = (started.width() as u32, started.height() as u32);
        let pixels: Vec<u8> = started.read_scanlines()?;
        started.finish()?;
        let img = RgbImage::from_raw(w, h, pixels)
            .ok_or_else(|| std::io::Error::other("decoder returned fewer pixels than the header declares"))?;
        Ok(Some((DynamicImage::ImageRgb8(img), color, orientation)))
    });
    let warnings = crate::jpeg_errors::take();
    match result {
        Ok(Ok(v)) => Ok((v, warnings)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "libjpeg error".into())),
    }
}

fn orientation_to_exif(o: Orientation) -> u8 {
    use Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

/// Walk the JPEG marker structure from SOI and report whether an EOI marker (`FF D9`) closes the image.
/// A file cut short ends inside a header or inside entropy-coded data without EOI. Bytes after EOI (phone
/// "motion photo" trailers, vendor blocks) are allowed. The embedded EXIF thumbnail's own EOI is skipped
/// because APPn segments are stepped over by their length.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        // Find the next marker (skip fill bytes 0xFF).
        i = memchr::memchr(0xFF, &bytes[i.min(n)..]).map_or(n, |k| i + k);
        while i < n && bytes[i] == 0xFF {
            i += 1;
        }
        if i >= n {
            return false;
        }
        let marker = bytes[i];
        i += 1;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue, // standalone markers
            _ => {}
        }
        if i + 2 > n {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        if len < 2 || i + len > n {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data: runs until a marker other than stuffing (FF 00) or restart (FF D0..D7).
            loop {
                i = memchr::memchr(0xFF, &bytes[i.min(n)..]).map_or(n, |k| i + k);
                if i + 1 >= n {
                    return false;
                }
                let next = bytes[i + 1];
                if next == 0x00 || (0xD0..=0xD7).contains(&next) || next == 0xFF {
                    i += if next == 0xFF { 1 } else { 2 };
                    continue;
                }
                break;
            }
        }
    }
}

/// A photo decoded for face analysis: a JPEG at the smallest DCT-domain scale whose long side still reaches what the
/// detector needs (a 4000-px photo is decoded at 1000 px for a 640-px detector, several times faster), with the
/// full-size pixels decoded from the same bytes only when something asks for them (a face too small to align
/// well from the reduced image). Other formats, and [`Photo::decode`] without a side, decode at full size.
pub struct Photo {
    bytes: Vec<u8>,
    name: String,
    opts: LoadOptions,
    view: DecodedImage,
    scale: f32,
    full_size: (u32, u32),
    full: std::sync::OnceLock<RgbImage>,
}

impl fmt::Debug for Photo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Photo").field("name", &self.name).field("view", &self.view).field("scale", &self.scale).finish()
    }
}

impl Photo {
    /// Decode `bytes` (see [`decode_image`] for the checks). With `min_long_side`, a JPEG is decoded at the
    /// smallest scale n/8 whose long side is at least that many pixels; `None` decodes at full size.
    pub fn decode(
        bytes: Vec<u8>,
        name: &str,
        opts: &LoadOptions,
        min_long_side: Option<u32>,
    ) -> Result<Self, ImageError> {
        let (view, scale) = decode_scaled(&bytes, name, opts, min_long_side)?;
        let full_size = if scale > 1.0 {
            // The header's size, upright (EXIF orientations 5-8 swap the sides).
            let (w, h) = ImageReader::with_format(Cursor::new(&bytes), view.format).into_dimensions().map_err(|e| {
                ImageError::Corrupt { name: name.to_string(), format: view.format, reason: e.to_string() }
            })?;
            if view.orientation >= 5 { (h, w) } else { (w, h) }
        } else {
            view.rgb.dimensions()
        };
        Ok(Self {
            bytes,
            name: name.to_string(),
            opts: *opts,
            view,
            scale,
            full_size,
            full: std::sync::OnceLock::new(),
        })
    }

    /// Read and decode a file (see [`Photo::decode`] and [`load_image`]).
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions, min_long_side: Option<u32>) -> Result<Self, ImageError> {
        let (bytes, name) = read_limited(path.as_ref(), opts)?;
        Self::decode(bytes, &name, opts, min_long_side)
    }

    /// The decoded image: upright, RGB, possibly reduced (see [`scale`](Self::scale)).
    pub fn view(&self) -> &DecodedImage {
        &self.view
    }

    /// Full-size pixels per pixel of [`view`](Self::view): `8/n` for a JPEG decoded at n/8, 1 at full size.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Width and height of the full-size photo, upright.
    pub fn full_size(&self) -> (u32, u32) {
        self.full_size
    }

    /// Whether [`view`](Self::view) is smaller than the photo.
    pub fn is_reduced(&self) -> bool {
        self.scale > 1.0
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The photo at full size, decoded on first use (the view itself when it is full size).
    pub fn full(&self) -> Result<&RgbImage, ImageError> {
        if !self.is_reduced() {
            return Ok(&self.view.rgb);
        }
        if let Some(img) = self.full.get() {
            return Ok(img);
        }
        let img = decode_image(&self.bytes, &self.name, &self.opts)?.rgb;
        Ok(self.full.get_or_init(|| img))
    }

    /// Whether the full-size pixels have been decoded (by [`full`](Self::full)).
    pub fn full_decoded(&self) -> bool {
        !self.is_reduced() || self.full.get().is_some()
    }
}
