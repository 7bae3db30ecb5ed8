//! What a stored `.safetensors` file holds, read from its header alone (tensor count, dtypes,
//! parameters), never trusting the header's lengths or offsets.

use std::collections::BTreeMap;
use std::io::{self, Read};

use serde::Serialize;

use crate::error::{Error, Result};

/// Largest safetensors header [`safetensors_summary`] reads; a larger length is malformed.
pub const MAX_SAFETENSORS_HEADER: u64 = 100 << 20;

/// What the header of a `.safetensors` file declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorSummary {
    /// Number of tensors (the `__metadata__` entry not counted).
    pub tensors: u64,
    /// Tensors per dtype (`F16`, `BF16`, `F32`, ...).
    pub dtypes: BTreeMap<String, u64>,
    /// Total number of elements over all tensors.
    pub parameters: u64,
    /// Length of the JSON header in bytes.
    pub header_len: u64,
    /// Whether the header has a `__metadata__` entry.
    pub has_metadata: bool,
}

/// One tensor's description in a safetensors header.
#[derive(serde::Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Bytes per element of the dtypes whose size is a whole number of bytes.
fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// The header's entries, `__metadata__` skipped, without building a JSON tree of it.
struct Header(Vec<TensorInfo>, bool);

impl<'de> serde::Deserialize<'de> for Header {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Header, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Header;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of tensor names to tensor descriptions")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Header, A::Error> {
                let mut tensors = Vec::new();
                let mut meta = false;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        meta = true;
                    } else {
                        tensors.push(map.next_value::<TensorInfo>()?);
                    }
                }
                Ok(Header(tensors, meta))
            }
        }
        d.deserialize_map(V)
    }
}

/// Summarise a safetensors file from its first bytes: an 8-byte little-endian header length N,
/// then N bytes of JSON. Reads only the header. `Ok(None)` when the header is malformed (too
/// short, longer than [`MAX_SAFETENSORS_HEADER`], not the expected JSON, inconsistent offsets);
/// `Err` only when the reader fails.
pub fn safetensors_summary(mut reader: impl Read) -> Result<Option<TensorSummary>> {
    let read_err = |e: io::Error| Error::Invalid(format!("reading the safetensors header: {e}"));
    let mut len = [0u8; 8];
    match reader.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(read_err(e)),
    }
    let n = u64::from_le_bytes(len);
    if !(2..=MAX_SAFETENSORS_HEADER).contains(&n) {
        return Ok(None);
    }
    // read_to_end grows as bytes arrive, so a lying length does not allocate up front.
    let mut header = Vec::new();
    reader
        .by_ref()
        .take(n)
        .read_to_end(&mut header)
        .map_err(read_err)?;
    if header.len() as u64 != n {
        return Ok(None);
    }
    let Ok(Header(tensors, has_metadata)) = serde_json::from_slice::<Header>(&header) else {
        return Ok(None);
    };
    let mut s = TensorSummary {
        tensors: tensors.len() as u64,
        dtypes: BTreeMap::new(),
        parameters: 0,
        header_len: n,
        has_metadata,
    };
    for t in tensors {
        let (begin, end) = t.data_offsets;
        let Some(elements) = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)) else {
            return Ok(None);
        };
        if begin > end {
            return Ok(None);
        }
        if let Some(size) = dtype_size(&t.dtype)
            && elements.checked_mul(size) != Some(end - begin)
        {
            return Ok(None);
        }
        let Some(p) = s.parameters.checked_add(elements) else {
            return Ok(None);
        };
        s.parameters = p;
        *s.dtypes.entry(t.dtype).or_default() += 1;
    }
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(json: &str) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.extend_from_slice(&[0u8; 64]);
        v
    }

    #[test]
    fn safetensors_headers() {
        let ok = st(
            r#"{"__metadata__":{"format":"pt","shape":"x"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[12,20]}}  "#,
        );
        let s = safetensors_summary(&ok[..]).unwrap().unwrap();
        assert_eq!(s.tensors, 2);
        assert_eq!(s.parameters, 10);
        assert!(s.has_metadata);
        assert_eq!(s.dtypes.keys().collect::<Vec<_>>(), ["BF16", "F16"]);
        for bad in [
            st("not json"),
            st(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,5]}}"#),
            st(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[4,0]}}"#),
            st(r#"{"a":{"dtype":"F16","shape":[18446744073709551615,2],"data_offsets":[0,4]}}"#),
            st(r#"{"a":1}"#),
            st("[]"),
            u64::MAX.to_le_bytes().to_vec(),
            100u64.to_le_bytes().to_vec(),
            vec![1, 2, 3],
        ] {
            assert_eq!(safetensors_summary(&bad[..]).unwrap(), None);
        }
    }
}
