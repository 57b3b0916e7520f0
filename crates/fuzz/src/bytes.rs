//! Byte-level mutations, as AFL's havoc stage makes them: bit flips, bytes set to random or "interesting" values
//! (0, 0xFF, sign boundaries, huge lengths, in either byte order, where a header keeps its sizes), truncation at
//! any offset, inserted, deleted and duplicated ranges, and splices of two seeds.
//!
//! A mutation is a list of [`Op`]s applied in order; positions are fractions of the current length ([`At`]), so
//! proptest shrinks a failing case towards fewer, smaller and earlier edits of the same seed.

use proptest::prelude::*;

/// Largest mutated input: every target bounds its inputs to this (64 KiB), so any hang or blow-up is the parser's
/// doing, not the input's size.
pub const MAX_LEN: usize = 64 * 1024;

/// A position in the input, as a fraction `self.0 / 2⁶⁴` of its length (so the same op applies to any length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At(pub u64);

impl At {
    /// The offset in an input of `len` bytes, `0..len` (0 when empty).
    pub fn of(self, len: usize) -> usize {
        ((u128::from(self.0) * len as u128) >> 64) as usize
    }

    /// The offset in `0..=len`: where an insertion may go.
    pub fn gap(self, len: usize) -> usize {
        ((u128::from(self.0) * (len as u128 + 1)) >> 64) as usize
    }
}

/// Values that break parsers when written over a length, count, offset or dimension: zero, one, sign boundaries,
/// all-ones, and lengths just past common limits.
pub const INTERESTING: [u64; 16] = [
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x3FFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x7FFF_FFFF_FFFF_FFFF,
    u64::MAX,
];

/// One edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Flip one bit.
    FlipBit {
        /// Where.
        at: At,
        /// Which bit, 0..8.
        bit: u8,
    },
    /// Set one byte.
    SetByte {
        /// Where.
        at: At,
        /// The new byte.
        value: u8,
    },
    /// Write an [`INTERESTING`] value over `width` bytes (1, 2, 4 or 8).
    Interesting {
        /// Where.
        at: At,
        /// Index into [`INTERESTING`].
        value: u8,
        /// Bytes written.
        width: u8,
        /// Byte order.
        big_endian: bool,
    },
    /// Add a small signed delta to one byte (off-by-one lengths).
    Arith {
        /// Where.
        at: At,
        /// Added, wrapping.
        delta: i8,
    },
    /// Cut the input at `at` (the rest is dropped).
    Truncate {
        /// Where.
        at: At,
    },
    /// Insert bytes.
    Insert {
        /// Where.
        at: At,
        /// What.
        bytes: Vec<u8>,
    },
    /// Delete `len` bytes.
    Delete {
        /// From where.
        at: At,
        /// How many (fewer at the end).
        len: u16,
    },
    /// Copy `len` bytes from `from` and insert them at `to` `times` times (repeated chunks, overlong runs).
    Duplicate {
        /// Source.
        from: At,
        /// How many bytes.
        len: u16,
        /// Destination.
        to: At,
        /// Copies, 1..=16.
        times: u8,
    },
    /// Replace the bytes after `at` with those of another seed from `from` on (header of one, body of another).
    Splice {
        /// Where this input is cut.
        at: At,
        /// Which other seed (an index into the corpus, modulo its size).
        other: u16,
        /// From where in the other seed.
        from: At,
    },
}

/// Apply `ops` to `seed` in order. `corpus` is what [`Op::Splice`] draws from. The result is at most [`MAX_LEN`]
/// bytes.
pub fn apply(seed: &[u8], ops: &[Op], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut d = seed.to_vec();
    d.truncate(MAX_LEN);
    for op in ops {
        apply_one(&mut d, op, corpus);
        d.truncate(MAX_LEN);
    }
    d
}

fn apply_one(d: &mut Vec<u8>, op: &Op, corpus: &[Vec<u8>]) {
    let n = d.len();
    match op {
        Op::FlipBit { at, bit } => {
            if n > 0 {
                d[at.of(n)] ^= 1 << (bit % 8);
            }
        }
        Op::SetByte { at, value } => {
            if n > 0 {
                d[at.of(n)] = *value;
            }
        }
        Op::Interesting { at, value, width, big_endian } => {
            let v = INTERESTING[usize::from(*value) % INTERESTING.len()];
            let width = match width % 4 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => 8,
            };
            let bytes = if *big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
            let bytes = if *big_endian { &bytes[8 - width..] } else { &bytes[..width] };
            if n > 0 {
                let start = at.of(n);
                let end = (start + width).min(n);
                d[start..end].copy_from_slice(&bytes[..end - start]);
            }
        }
        Op::Arith { at, delta } => {
            if n > 0 {
                let i = at.of(n);
                d[i] = d[i].wrapping_add_signed(*delta);
            }
        }
        Op::Truncate { at } => d.truncate(at.of(n)),
        Op::Insert { at, bytes } => {
            let i = at.gap(n);
            d.splice(i..i, bytes.iter().copied());
        }
        Op::Delete { at, len } => {
            if n > 0 {
                let i = at.of(n);
                let end = (i + usize::from(*len).max(1)).min(n);
                d.drain(i..end);
            }
        }
        Op::Duplicate { from, len, to, times } => {
            if n > 0 {
                let i = from.of(n);
                let chunk: Vec<u8> = d[i..(i + usize::from(*len).max(1)).min(n)].to_vec();
                let j = to.gap(n);
                let copies = usize::from((*times).clamp(1, 16));
                let mut ins = Vec::with_capacity(chunk.len() * copies);
                for _ in 0..copies {
                    ins.extend_from_slice(&chunk);
                }
                ins.truncate(MAX_LEN);
                d.splice(j..j, ins);
            }
        }
        Op::Splice { at, other, from } => {
            if corpus.is_empty() {
                return;
            }
            let o = &corpus[usize::from(*other) % corpus.len()];
            d.truncate(at.gap(n));
            d.extend_from_slice(&o[from.of(o.len()).min(o.len())..]);
        }
    }
}

fn at() -> impl Strategy<Value = At> {
    any::<u64>().prop_map(At)
}

/// One random [`Op`], weighted towards the small edits that keep most of a format's structure.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (at(), 0u8..8).prop_map(|(at, bit)| Op::FlipBit { at, bit }),
        4 => (at(), any::<u8>()).prop_map(|(at, value)| Op::SetByte { at, value }),
        5 => (at(), any::<u8>(), any::<u8>(), any::<bool>())
            .prop_map(|(at, value, width, big_endian)| Op::Interesting { at, value, width, big_endian }),
        3 => (at(), -35i8..=35).prop_map(|(at, delta)| Op::Arith { at, delta }),
        3 => at().prop_map(|at| Op::Truncate { at }),
        2 => (at(), prop::collection::vec(any::<u8>(), 1..32)).prop_map(|(at, bytes)| Op::Insert { at, bytes }),
        3 => (at(), prop_oneof![1u16..16, 16u16..4096]).prop_map(|(at, len)| Op::Delete { at, len }),
        2 => (at(), prop_oneof![1u16..16, 16u16..2048], at(), 1u8..=16)
            .prop_map(|(from, len, to, times)| Op::Duplicate { from, len, to, times }),
        2 => (at(), any::<u16>(), at()).prop_map(|(at, other, from)| Op::Splice { at, other, from }),
    ]
}

/// Zero to `max` ops (zero: the seed itself, so every seed is also run as is).
pub fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..=max)
}

/// The first `n` bytes of `b` in hex, for messages.
pub fn hex_head(b: &[u8], n: usize) -> String {
    let mut s: String = b.iter().take(n).map(|x| format!("{x:02x}")).collect();
    if b.len() > n {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_stay_in_range() {
        for raw in [0, 1, u64::MAX / 2, u64::MAX] {
            for len in [0usize, 1, 2, 7, 1000] {
                let a = At(raw);
                assert!(a.of(len) < len.max(1));
                assert!(a.gap(len) <= len);
            }
        }
    }

    #[test]
    fn every_op_applies_to_empty_and_tiny_inputs() {
        let corpus = vec![b"other seed".to_vec()];
        let all = [
            Op::FlipBit { at: At(u64::MAX), bit: 7 },
            Op::SetByte { at: At(0), value: 0xFF },
            Op::Interesting { at: At(u64::MAX), value: 15, width: 3, big_endian: true },
            Op::Arith { at: At(1), delta: -1 },
            Op::Truncate { at: At(u64::MAX) },
            Op::Insert { at: At(u64::MAX), bytes: vec![1, 2] },
            Op::Delete { at: At(u64::MAX), len: 9 },
            Op::Duplicate { from: At(0), len: 2048, to: At(u64::MAX), times: 16 },
            Op::Splice { at: At(u64::MAX / 2), other: 3, from: At(u64::MAX) },
        ];
        for seed in [&b""[..], b"x", b"\xFF\xD8\xFF"] {
            for op in &all {
                let out = apply(seed, std::slice::from_ref(op), &corpus);
                assert!(out.len() <= MAX_LEN);
            }
        }
        assert_eq!(apply(b"abcd", &[Op::Interesting { at: At(0), value: 9, width: 1, big_endian: true }], &[]), {
            let mut v = b"abcd".to_vec();
            v[0] = 0xFF;
            v[1] = 0xFF;
            v
        });
    }
}
