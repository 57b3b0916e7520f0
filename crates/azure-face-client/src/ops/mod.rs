//! The operations of the API, as methods of [`FaceClient`](crate::FaceClient).

pub(crate) mod collections;
mod face;
mod liveness;
