//! In-memory fix for ONNX files whose graph inputs/outputs use the same symbolic dimension name `?` for every
//! dynamic axis (the RetinaFace export). ONNX Runtime treats each `?` as unknown, but tract reads them as one
//! symbol and concludes batch = height = width, which fails. Each `?` in the graph's input and output
//! descriptions is renamed to a distinct one-letter symbol; the byte length is unchanged, so no protobuf length
//! prefix moves. Weights and nodes are not touched (only the `input`/`output` value-info messages are searched).

/// Protobuf wire: read a varint at `*i`.
fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The byte ranges of the length-delimited fields numbered `field` in the message `b[start..end]`.
fn field_ranges(b: &[u8], start: usize, end: usize, field: u64) -> Option<Vec<(usize, usize)>> {
    Some(field_spans(b, start, end, field)?.into_iter().map(|(_, s, e)| (s, e)).collect())
}

/// Rename every `dim_param: "?"` in the graph's inputs and outputs to distinct symbols. Returns how many were
/// renamed; the model is left unchanged when its structure is not what is expected.
pub(crate) fn rename_question_mark_dims(model: &mut [u8]) -> usize {
    const GRAPH: u64 = 7; // ModelProto.graph
    const INPUT: u64 = 11; // GraphProto.input
    const OUTPUT: u64 = 12; // GraphProto.output
    const SYMBOLS: &[u8] = b"NHWabcdefghijklmnopqrstuvxyz";
    let Some(graphs) = field_ranges(model, 0, model.len(), GRAPH) else { return 0 };
    let Some(&(gs, ge)) = graphs.first() else { return 0 };
    let mut ranges = Vec::new();
    for f in [INPUT, OUTPUT] {
        match field_ranges(model, gs, ge, f) {
            Some(r) => ranges.extend(r),
            None => return 0,
        }
    }
    ranges.sort_unstable();
    let mut n = 0;
    for (s, e) in ranges {
        let mut i = s;
        while i + 3 <= e {
            // TensorShapeProto.Dimension.dim_param (field 2, length 1) = "?"
            if model[i..i + 3] == [0x12, 0x01, b'?'] && n < SYMBOLS.len() {
                model[i + 2] = SYMBOLS[n];
                n += 1;
                i += 3;
            } else {
                i += 1;
            }
        }
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7F) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_field(out: &mut Vec<u8>, field: u64, payload: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// The length-delimited fields numbered `field` in the message `b[start..end]`: (key start, payload start,
/// payload end). `None` if the bytes are not a well-formed message.
fn field_spans(b: &[u8], start: usize, end: usize, field: u64) -> Option<Vec<(usize, usize, usize)>> {
    let mut out = Vec::new();
    let mut i = start;
    while i < end {
        let key_start = i;
        let key = varint(b, &mut i)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(b, &mut i)?;
            }
            1 => i += 8,
            5 => i += 4,
            2 => {
                let len = usize::try_from(varint(b, &mut i)?).ok()?;
                if i + len > end {
                    return None;
                }
                if num == field {
                    out.push((key_start, i, i + len));
                }
                i += len;
            }
            _ => return None,
        }
    }
    (i == end).then_some(out)
}

/// A copy of the model whose first graph input has the concrete float32 `shape`. tract plans a graph once per
/// concrete shape and runs it several times faster than with symbolic dimensions (and some graphs, such as
/// RetinaFace's resize-by-computed-size, only run with concrete ones). `None` if the file is not as expected.
pub(crate) fn with_fixed_input_shape(model: &[u8], shape: &[usize]) -> Option<Vec<u8>> {
    const GRAPH: u64 = 7;
    const INPUT: u64 = 11;
    let &(gk, gs, ge) = field_spans(model, 0, model.len(), GRAPH)?.first()?;
    let &(ik, is, ie) = field_spans(model, gs, ge, INPUT)?.first()?;
    let &(_, ns, ne) = field_spans(model, is, ie, 1)?.first()?; // ValueInfoProto.name
    let name = &model[ns..ne];

    let mut shape_msg = Vec::new();
    for &d in shape {
        let mut dim = Vec::new();
        put_varint(&mut dim, 1 << 3); // Dimension.dim_value
        put_varint(&mut dim, d as u64);
        put_field(&mut shape_msg, 1, &dim);
    }
    let mut tensor = Vec::new();
    put_varint(&mut tensor, 1 << 3); // TypeProto.Tensor.elem_type = FLOAT
    put_varint(&mut tensor, 1);
    put_field(&mut tensor, 2, &shape_msg);
    let mut type_msg = Vec::new();
    put_field(&mut type_msg, 1, &tensor);
    let mut input = Vec::new();
    put_field(&mut input, 1, name);
    put_field(&mut input, 2, &type_msg);

    let mut graph = Vec::with_capacity(ge - gs + 64);
    graph.extend_from_slice(&model[gs..ik]);
    put_field(&mut graph, INPUT, &input);
    graph.extend_from_slice(&model[ie..ge]);

    let mut out = Vec::with_capacity(model.len() + 64);
    out.extend_from_slice(&model[..gk]);
    put_field(&mut out, GRAPH, &graph);
    out.extend_from_slice(&model[ge..]);
    Some(out)
}
