//! downloader (in progress).
