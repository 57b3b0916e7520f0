//! Structure-aware mutations of JSON and TOML documents: the seed is parsed into a tree, nodes picked by a walk
//! from the root are replaced by values of the wrong type, huge or negative numbers, deep nesting, long or odd
//! Unicode strings, copies of other nodes, or removed; unknown keys are added. The tree is written back as text,
//! and raw text edits ([`TextOp`]: numbers out of any range, lone surrogates, duplicate keys, trailing commas, a BOM)
//! and byte edits ([`crate::bytes`]) can follow, so the parser sees both well-formed documents with wrong content
//! and malformed text.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::bytes::{At, Op as ByteOp};

/// How deep nesting goes: around serde_json's recursion limit (128) and well past it.
pub const DEPTHS: [usize; 5] = [8, 127, 128, 129, 2000];

/// A replacement value.
#[derive(Debug, Clone, PartialEq)]
pub enum Replacement {
    /// `null` (TOML has none: an empty string there).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer, among the edge values.
    Int(i64),
    /// The largest unsigned 64-bit integer (JSON only; TOML's integers are i64).
    U64Max,
    /// A float, among the edge values (NaN and infinities only in TOML).
    Float(f64),
    /// A string of `len` copies of a piece (`"a"`, right-to-left override, NUL, an emoji, combining marks…).
    Str {
        /// Index of the piece.
        piece: u8,
        /// Copies.
        len: u32,
    },
    /// `[]`.
    EmptyArray,
    /// `{}`.
    EmptyObject,
    /// `depth` nested arrays around the node.
    Nest {
        /// Levels (see [`DEPTHS`]).
        depth: u8,
    },
    /// An array of `n` copies of the node (lists past their limits: 1001 faceIds, ...).
    Repeat {
        /// Copies.
        n: u16,
    },
    /// Another node of the document (at a second walk).
    CopyOf {
        /// The walk.
        path: Vec<At>,
    },
}

/// String pieces: plain, control, bidi, astral, combining, a path traversal and markup.
pub const PIECES: [&str; 10] =
    ["a", "\u{0}", "\u{202e}", "😀", "e\u{301}\u{301}", "../", "<script>", "%00", "\\", "\u{feff}"];

/// One structural edit.
#[derive(Debug, Clone, PartialEq)]
pub enum TreeOp {
    /// Replace the node at `path` by `with`.
    Replace {
        /// The walk from the root (each step picks a child).
        path: Vec<At>,
        /// The new value.
        with: Replacement,
    },
    /// Remove the node at `path` from its parent.
    Remove {
        /// The walk.
        path: Vec<At>,
    },
    /// Add an unknown key (a piece repeated) to the object at `path`.
    AddKey {
        /// The walk.
        path: Vec<At>,
        /// Name piece.
        piece: u8,
    },
}

/// A raw text edit, after the tree is written back.
#[derive(Debug, Clone, PartialEq)]
pub enum TextOp {
    /// Insert one of [`SNIPPETS`] at a position.
    Insert {
        /// Where.
        at: At,
        /// Which snippet.
        snippet: u8,
    },
}

/// Text that no tree can hold: out-of-range numbers, a lone surrogate, bad escapes, a duplicate key, trailing
/// commas, comments, a BOM, NUL, a deep prefix, TOML's table headers.
pub const SNIPPETS: [&str; 16] = [
    "1e999",
    "-1e999",
    "18446744073709551616",
    "\"\\ud800\"",
    "\"\\x41\"",
    ",\"name\":\"dup\"",
    ",",
    "]",
    "}",
    "/* c */",
    "\u{feff}",
    "\u{0}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "\n[person]\n",
    "\n[[person]]\nlabel = \"x\"\n",
    "nan",
];

/// A whole structured mutation: tree edits, then text edits, then byte edits.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeMutation {
    /// Structural edits.
    pub tree: Vec<TreeOp>,
    /// Raw text edits.
    pub text: Vec<TextOp>,
    /// Byte edits of the result.
    pub bytes: Vec<ByteOp>,
}

fn at() -> impl Strategy<Value = At> {
    any::<u64>().prop_map(At)
}

fn path() -> impl Strategy<Value = Vec<At>> {
    prop::collection::vec(at(), 0..6)
}

const INTS: [i64; 9] = [0, -1, 1, i64::MIN, i64::MAX, 4_294_967_296, -4_294_967_297, 1001, 65_536];
const FLOATS: [f64; 8] = [0.5, -0.0, 1e308, -1e308, 5e-324, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

fn replacement() -> impl Strategy<Value = Replacement> {
    prop_oneof![
        1 => Just(Replacement::Null),
        1 => any::<bool>().prop_map(Replacement::Bool),
        3 => prop::sample::select(&INTS[..]).prop_map(Replacement::Int),
        1 => Just(Replacement::U64Max),
        2 => prop::sample::select(&FLOATS[..]).prop_map(Replacement::Float),
        4 => (any::<u8>(), prop_oneof![0u32..4, 60u32..70, 250u32..260, 1000u32..1100, 65_000u32..70_000])
            .prop_map(|(piece, len)| Replacement::Str { piece, len }),
        1 => Just(Replacement::EmptyArray),
        1 => Just(Replacement::EmptyObject),
        2 => (0u8..DEPTHS.len() as u8).prop_map(|depth| Replacement::Nest { depth }),
        2 => prop_oneof![Just(2u16), Just(31), Just(101), Just(1001), Just(5000)].prop_map(|n| Replacement::Repeat { n }),
        2 => path().prop_map(|path| Replacement::CopyOf { path }),
    ]
}

fn tree_op() -> impl Strategy<Value = TreeOp> {
    prop_oneof![
        6 => (path(), replacement()).prop_map(|(path, with)| TreeOp::Replace { path, with }),
        2 => path().prop_map(|path| TreeOp::Remove { path }),
        1 => (path(), any::<u8>()).prop_map(|(path, piece)| TreeOp::AddKey { path, piece }),
    ]
}

/// A structured mutation: mostly tree edits, sometimes text and byte edits on top.
pub fn mutation() -> impl Strategy<Value = TreeMutation> {
    (
        prop::collection::vec(tree_op(), 0..4),
        prop_oneof![4 => Just(vec![]), 1 => prop::collection::vec((at(), any::<u8>()).prop_map(|(at, snippet)| TextOp::Insert { at, snippet }), 1..3)],
        prop_oneof![4 => Just(vec![]), 1 => crate::bytes::ops(3)],
    )
        .prop_map(|(tree, text, bytes)| TreeMutation { tree, text, bytes })
}

/// The node at the end of `path`: each step picks a child (array element or object value); the walk stops early
/// at a leaf.
fn walk<'a>(mut v: &'a mut Value, path: &[At]) -> &'a mut Value {
    for step in path {
        let len = match &*v {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if len == 0 {
            break;
        }
        let i = step.of(len);
        v = match v {
            Value::Array(a) => &mut a[i],
            Value::Object(o) => match o.values_mut().nth(i) {
                Some(n) => n,
                None => unreachable!("index {i} < len {len}"),
            },
            _ => unreachable!("only arrays and objects have children"),
        };
    }
    v
}

fn parent_and_slot(v: &mut Value, path: &[At]) -> Option<(Vec<At>, At)> {
    // The parent is the walk without its last effective step.
    let mut depth = 0;
    let mut cur: &Value = v;
    for step in path {
        let next = match cur {
            Value::Array(a) if !a.is_empty() => a.get(step.of(a.len())),
            Value::Object(o) if !o.is_empty() => o.values().nth(step.of(o.len())),
            _ => None,
        };
        match next {
            Some(n) => {
                cur = n;
                depth += 1;
            }
            None => break,
        }
    }
    (depth > 0).then(|| (path[..depth - 1].to_vec(), path[depth - 1]))
}

fn piece_string(piece: u8, len: u32) -> String {
    PIECES[usize::from(piece) % PIECES.len()].repeat(len as usize)
}

fn build(with: &Replacement, node: &Value, root: &Value, toml: bool) -> Value {
    match with {
        Replacement::Null if toml => Value::String(String::new()),
        Replacement::Null => Value::Null,
        Replacement::Bool(b) => Value::Bool(*b),
        Replacement::Int(i) => Value::from(*i),
        Replacement::U64Max if toml => Value::from(i64::MAX),
        Replacement::U64Max => Value::from(u64::MAX),
        // JSON values cannot hold NaN or infinities (the text snippets `nan` and `1e999` bring them in).
        Replacement::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None if toml => Value::from(f64::MAX),
            None => Value::Null,
        },
        Replacement::Str { piece, len } => Value::String(piece_string(*piece, *len)),
        Replacement::EmptyArray => Value::Array(vec![]),
        Replacement::EmptyObject => Value::Object(Map::new()),
        Replacement::Nest { depth } => {
            let mut v = node.clone();
            for _ in 0..DEPTHS[usize::from(*depth) % DEPTHS.len()] {
                v = Value::Array(vec![v]);
            }
            v
        }
        Replacement::Repeat { n } => {
            // At most about MAX_LEN of text: longer documents are cut by the byte stage anyway.
            let size = serde_json::to_string(node).map_or(1, |s| s.len().max(1));
            let n = usize::from(*n).min(crate::bytes::MAX_LEN / size + 2);
            Value::Array(vec![node.clone(); n])
        }
        Replacement::CopyOf { path } => {
            let mut r = root.clone();
            walk(&mut r, path).clone()
        }
    }
}

/// Apply the tree edits to `doc`. `toml` keeps values TOML can hold (no null, integers within i64).
pub fn apply_tree(doc: &mut Value, ops: &[TreeOp], toml: bool) {
    for op in ops {
        match op {
            TreeOp::Replace { path, with } => {
                let root = doc.clone();
                let node = walk(doc, path);
                let new = build(with, node, &root, toml);
                *node = new;
            }
            TreeOp::Remove { path } => {
                if let Some((parent, slot)) = parent_and_slot(doc, path) {
                    match walk(doc, &parent) {
                        Value::Array(a) if !a.is_empty() => {
                            let i = slot.of(a.len());
                            a.remove(i);
                        }
                        Value::Object(o) if !o.is_empty() => {
                            let i = slot.of(o.len());
                            if let Some(k) = o.keys().nth(i).cloned() {
                                o.remove(&k);
                            }
                        }
                        _ => {}
                    }
                }
            }
            TreeOp::AddKey { path, piece } => {
                if let Value::Object(o) = walk(doc, path) {
                    o.insert(format!("x{}", piece_string(*piece, 3)), Value::from(1));
                }
            }
        }
    }
}

/// Apply the text edits to `text`.
pub fn apply_text(text: &str, ops: &[TextOp]) -> String {
    let mut s = text.to_string();
    for TextOp::Insert { at, snippet } in ops {
        let snippet = SNIPPETS[usize::from(*snippet) % SNIPPETS.len()];
        let mut i = at.gap(s.len());
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.insert_str(i, snippet);
    }
    s
}

/// A JSON seed mutated: tree edits on the parsed seed (left as is when it does not parse), written back, then
/// text and byte edits.
pub fn mutate_json(seed: &[u8], m: &TreeMutation) -> Vec<u8> {
    let text = match serde_json::from_slice::<Value>(seed) {
        Ok(mut doc) => {
            apply_tree(&mut doc, &m.tree, false);
            serde_json::to_string(&doc).unwrap_or_else(|_| String::from_utf8_lossy(seed).into_owned())
        }
        Err(_) => String::from_utf8_lossy(seed).into_owned(),
    };
    crate::bytes::apply(apply_text(&text, &m.text).as_bytes(), &m.bytes, &[])
}

/// A TOML seed mutated the same way (the tree goes through JSON values; TOML-only types such as dates are kept as
/// serde writes them).
pub fn mutate_toml(seed: &str, m: &TreeMutation) -> Vec<u8> {
    let text = match toml::from_str::<toml::Table>(seed).ok().and_then(|t| serde_json::to_value(t).ok()) {
        Some(mut doc) => {
            apply_tree(&mut doc, &m.tree, true);
            json_to_toml(&doc).unwrap_or_else(|| seed.to_string())
        }
        None => seed.to_string(),
    };
    crate::bytes::apply(apply_text(&text, &m.text).as_bytes(), &m.bytes, &[])
}

fn json_to_toml(v: &Value) -> Option<String> {
    let t: toml::Table = match toml::Value::try_from(v).ok()? {
        toml::Value::Table(t) => t,
        _ => return None,
    };
    toml::to_string(&t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_edits_reach_nested_nodes() {
        let mut doc: Value = serde_json::from_str(r#"{"a": {"b": [1, 2, 3]}, "c": "x"}"#).unwrap();
        apply_tree(
            &mut doc,
            &[TreeOp::Replace { path: vec![At(0), At(0), At(u64::MAX)], with: Replacement::Str { piece: 0, len: 3 } }],
            false,
        );
        assert_eq!(doc["a"]["b"][2], "aaa");
        apply_tree(&mut doc, &[TreeOp::Remove { path: vec![At(u64::MAX)] }], false);
        assert!(doc.get("c").is_none());
        apply_tree(&mut doc, &[TreeOp::Replace { path: vec![], with: Replacement::Nest { depth: 0 } }], false);
        let mut depth = 0;
        let mut v = &doc;
        while let Value::Array(a) = v {
            depth += 1;
            v = &a[0];
        }
        assert_eq!(depth, 8);
    }

    #[test]
    fn toml_round_trips_and_mutates() {
        let seed = "work = \"w\"\n[crop]\nscore = 0.5\n[[person]]\nlabel = \"a\"\ndir = \"d\"\n";
        let same = mutate_toml(seed, &TreeMutation { tree: vec![], text: vec![], bytes: vec![] });
        let parsed: toml::Table = toml::from_str(std::str::from_utf8(&same).unwrap()).unwrap();
        assert_eq!(parsed["crop"]["score"].as_float(), Some(0.5));
        let m = TreeMutation {
            tree: vec![TreeOp::Replace { path: vec![At(0)], with: Replacement::Null }],
            text: vec![TextOp::Insert { at: At(0), snippet: 0 }],
            bytes: vec![],
        };
        assert!(mutate_toml(seed, &m).starts_with(b"1e999"));
    }
}
