//! libjpeg's error manager, with its warnings kept instead of dropped.
//!
//! libjpeg reports damaged entropy-coded data ("premature end of data segment", "bad Huffman code") as *warnings*
//! and goes on, filling the rest of the image with grey. The `mozjpeg` crate's default error manager silences
//! them, so a photo cut in half decoded "fine". This manager records every warning (code and text) for the
//! decoding thread, and turns fatal errors into an unwind carrying the message, as `mozjpeg` does.
//!
//! This is the one module of the workspace with `unsafe` code: libjpeg's callbacks receive the C struct and the
//! message must be read through its `err` pointer. Each block says why it is sound.
#![allow(unsafe_code)]

use std::cell::RefCell;

use mozjpeg_sys as ffi;

/// One libjpeg warning: its message code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    pub code: i32,
    pub text: String,
}

impl Warning {
    /// Whether the warning means pixels were lost (libjpeg filled them in): the data ended early, a code was
    /// invalid, a restart marker was missing, or the progression was inconsistent. Other warnings (extraneous
    /// bytes between markers, an unknown JFIF revision, a bad ICC block) leave every pixel decoded.
    pub fn lost_data(&self) -> bool {
        matches!(
            self.code,
            ffi::JWRN_HIT_MARKER
                | ffi::JWRN_JPEG_EOF
                | ffi::JWRN_HUFF_BAD_CODE
                | ffi::JWRN_MUST_RESYNC
                | ffi::JWRN_BOGUS_PROGRESSION
        )
    }
}

/// Most warnings kept per decode (a damaged file can raise one per MCU row).
const MAX_KEPT: usize = 8;

thread_local! {
    static WARNINGS: RefCell<(Vec<Warning>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

/// Clear this thread's warnings before a decode.
pub(crate) fn reset() {
    WARNINGS.with(|w| *w.borrow_mut() = (Vec::new(), 0));
}

/// This thread's warnings since [`reset`], and how many there were in all (only the first few are kept).
pub(crate) fn take() -> (Vec<Warning>, usize) {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// An error manager: libjpeg's standard one with `error_exit` unwinding and `emit_message` recording warnings.
pub(crate) fn error_mgr() -> ffi::jpeg_error_mgr {
    // SAFETY: `jpeg_error_mgr` is a C struct of integers, nullable pointers and optional function pointers, for
    // which all-zero bytes are a valid value; `jpeg_std_error` then fills every field, as libjpeg documents.
    let mut err: ffi::jpeg_error_mgr = unsafe { std::mem::zeroed() };
    // SAFETY: `err` is a valid, exclusively borrowed struct for the duration of the call.
    unsafe { ffi::jpeg_std_error(&mut err) };
    err.error_exit = Some(error_exit);
    err.emit_message = Some(emit_message);
    err
}

/// The formatted text of the message `cinfo.err` currently holds.
fn message(cinfo: &mut ffi::jpeg_common_struct) -> (i32, String) {
    // SAFETY: libjpeg calls the error manager's hooks with `cinfo.err` pointing at the manager it was created
    // with (ours, boxed by `mozjpeg::Decompress` for the whole decode), so the pointer is valid here.
    let err = unsafe { &*cinfo.err };
    let code = err.msg_code;
    let Some(format) = err.format_message else {
        return (code, format!("libjpeg message {code}"));
    };
    let mut buffer = [0u8; 80];
    // The bindings declare the buffer `&[u8; 80]`, but libjpeg writes into it: call it as what it is.
    type FormatMut = unsafe extern "C-unwind" fn(&mut ffi::jpeg_common_struct, &mut [u8; 80]);
    // SAFETY: the two function pointer types differ only in the buffer's mutability, which has the same ABI (a
    // pointer to 80 bytes). `format_message` is libjpeg's own, which writes at most JMSG_LENGTH_MAX (80) bytes,
    // NUL-terminated, into the buffer.
    unsafe {
        let format: FormatMut = std::mem::transmute(format);
        format(cinfo, &mut buffer);
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    (code, String::from_utf8_lossy(&buffer[..end]).into_owned())
}

extern "C-unwind" fn emit_message(cinfo: &mut ffi::jpeg_common_struct, level: std::os::raw::c_int) {
    if level >= 0 {
        return; // trace messages
    }
    let (code, text) = message(cinfo);
    WARNINGS.with(|w| {
        let mut w = w.borrow_mut();
        w.1 += 1;
        if w.0.len() < MAX_KEPT {
            w.0.push(Warning { code, text });
        }
    });
}

extern "C-unwind" fn error_exit(cinfo: &mut ffi::jpeg_common_struct) {
    let (_, text) = message(cinfo);
    // Unwinds through libjpeg (built with unwind tables for this, as `mozjpeg` does) to the decode's
    // `catch_unwind`, without running the panic hook.
    std::panic::resume_unwind(Box::new(text));
}
