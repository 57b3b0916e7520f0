//! # issc-core
//!
//! The shared vocabulary of isshesarahconnor: image loading that every stage uses (format sniffed from the
//! bytes, EXIF orientation applied, pixel limits checked before decoding), face geometry ([`BBox`],
//! [`Landmarks5`], [`Face`]), [`Embedding`]s with cosine similarity, and atomic file writes.
//!
//! ```no_run
//! use issc_core::{load_image, LoadOptions};
//!
//! let img = load_image("photo.jpg", &LoadOptions::default())?;
//! println!("{}x{} {:?}", img.width(), img.height(), img.format);
//! # Ok::<(), issc_core::ImageError>(())
//! ```

mod embedding;
mod fsutil;
mod geometry;
mod image_io;

pub use embedding::{Embedding, EmbeddingError};
pub use fsutil::{write_atomic, write_atomic_with};
pub use geometry::{BBox, Face, Landmarks5};
pub use image_io::{DEFAULT_MAX_PIXELS, DecodedImage, ImageError, LoadOptions, decode_image, load_image, sniff_format};

/// Re-export of the `image` crate version this crate is built against, so callers use the same types.
pub use image;
