#![doc = include_str!("../README.md")]

mod embedding;
mod fsutil;
mod geometry;
mod image_io;
mod jpeg_errors;

pub use embedding::{Embedding, EmbeddingError};
pub use fsutil::{ReadError, read_capped, read_text_capped, write_atomic, write_atomic_with};
pub use geometry::{BBox, Face, Landmarks5};
pub use image_io::{
    DEFAULT_MAX_PIXELS, DecodedImage, ImageError, LoadOptions, Photo, decode_image, load_image, sniff_format,
};

/// Re-export of the `image` crate version this crate is built against, so callers use the same types.
pub use image;
