//! Azure AI Face REST v1.2 client (in progress).
