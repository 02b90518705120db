//! The Inochi2D INP/INX container: `TRNSRTS\0`, a big-endian u32 length and the JSON puppet, then `TEX_SECT`
//! with the textures (each: u32 length, u8 encoding, bytes), then an optional `EXT_SECT` of named payloads.
//!
//! Reading never trusts a length: every read is bounds-checked and errors name the section and offset, so a
//! truncated or corrupted file says what is wrong instead of panicking.

use thiserror::Error;

pub const MAGIC: &[u8; 8] = b"TRNSRTS\0";
pub const TEX_SECT: &[u8; 8] = b"TEX_SECT";
pub const EXT_SECT: &[u8; 8] = b"EXT_SECT";

/// How a texture's bytes are encoded in the texture section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextureEncoding {
    Png = 0,
    Tga = 1,
    Bc7 = 2,
}

/// One texture as stored in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTexture {
    pub encoding: TextureEncoding,
    pub data: Vec<u8>,
}

/// The parts of an INP file before the JSON is interpreted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Container {
    pub json: Vec<u8>,
    pub textures: Vec<RawTexture>,
    /// Vendor extensions (name, payload), kept so a puppet round-trips.
    pub extensions: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Error)]
pub enum FormatError {
    #[error("not an Inochi2D puppet: the file does not start with \"TRNSRTS\\0\" (is it a .inp/.inx file?)")]
    BadMagic,
    #[error("the file is truncated: {what} needs {need} bytes at offset {at}, but only {have} remain")]
    Truncated { what: String, at: usize, need: usize, have: usize },
    #[error("expected the texture section marker \"TEX_SECT\" at offset {at}")]
    NoTextureSection { at: usize },
    #[error("unknown section marker {marker:?} at offset {at} (expected \"EXT_SECT\" or the end of the file)")]
    UnknownSection { marker: String, at: usize },
    #[error("texture {index} has unknown encoding {code} (known: 0 PNG, 1 TGA, 2 BC7)")]
    UnknownEncoding { index: usize, code: u8 },
    #[error("extension {index} has a name that is not UTF-8")]
    BadExtensionName { index: usize },
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], FormatError> {
        let have = self.bytes.len() - self.at;
        if n > have {
            return Err(FormatError::Truncated { what: what(), at: self.at, need: n, have });
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<usize, FormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
}

/// Splits an INP/INX file into its JSON, textures and extensions.
pub fn read_container(bytes: &[u8]) -> Result<Container, FormatError> {
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let mut r = Reader { bytes, at: 8 };
    let json_len = r.u32(|| "the JSON length".into())?;
    let json = r.take(json_len, || "the JSON payload".into())?.to_vec();
    let mut c = Container { json, ..Default::default() };
    if r.remaining() == 0 {
        // Some writers omit an empty texture section.
        return Ok(c);
    }
    let at = r.at;
    let marker = r.take(8, || "the texture section marker".into())?;
    if marker != TEX_SECT {
        return Err(FormatError::NoTextureSection { at });
    }
    let count = r.u32(|| "the texture count".into())?;
    for index in 0..count {
        let len = r.u32(|| format!("the length of texture {index}"))?;
        let code = r.take(1, || format!("the encoding of texture {index}"))?[0];
        let encoding = match code {
            0 => TextureEncoding::Png,
            1 => TextureEncoding::Tga,
            2 => TextureEncoding::Bc7,
            _ => return Err(FormatError::UnknownEncoding { index, code }),
        };
        let data = r.take(len, || format!("the data of texture {index}"))?.to_vec();
        c.textures.push(RawTexture { encoding, data });
    }
    if r.remaining() == 0 {
        return Ok(c);
    }
    let at = r.at;
    let marker = r.take(8, || "a section marker".into())?;
    if marker != EXT_SECT {
        return Err(FormatError::UnknownSection { marker: String::from_utf8_lossy(marker).into_owned(), at });
    }
    let count = r.u32(|| "the extension count".into())?;
    for index in 0..count {
        let name_len = r.u32(|| format!("the name length of extension {index}"))?;
        let name = r.take(name_len, || format!("the name of extension {index}"))?;
        let name = std::str::from_utf8(name).map_err(|_| FormatError::BadExtensionName { index })?.to_string();
        let len = r.u32(|| format!("the length of extension \"{name}\""))?;
        let data = r.take(len, || format!("the payload of extension \"{name}\""))?.to_vec();
        c.extensions.push((name, data));
    }
    Ok(c)
}

/// Writes a container; the inverse of [`read_container`].
pub fn write_container(c: &Container) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + c.json.len() + c.textures.iter().map(|t| t.data.len() + 5).sum::<usize>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(c.json.len() as u32).to_be_bytes());
    out.extend_from_slice(&c.json);
    out.extend_from_slice(TEX_SECT);
    out.extend_from_slice(&(c.textures.len() as u32).to_be_bytes());
    for t in &c.textures {
        out.extend_from_slice(&(t.data.len() as u32).to_be_bytes());
        out.push(t.encoding as u8);
        out.extend_from_slice(&t.data);
    }
    if !c.extensions.is_empty() {
        out.extend_from_slice(EXT_SECT);
        out.extend_from_slice(&(c.extensions.len() as u32).to_be_bytes());
        for (name, data) in &c.extensions {
            out.extend_from_slice(&(name.len() as u32).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let c = Container {
            json: b"{}".to_vec(),
            textures: vec![RawTexture { encoding: TextureEncoding::Tga, data: vec![1, 2, 3] }],
            extensions: vec![("com.example".into(), vec![9])],
        };
        let bytes = write_container(&c);
        assert_eq!(read_container(&bytes).unwrap(), c);
        for n in 0..bytes.len() {
            // Cutting inside the texture section or an extension is an error; cutting exactly at a section
            // boundary is a shorter valid file. Neither may panic.
            let _ = read_container(&bytes[..n]);
        }
        assert!(matches!(read_container(&bytes[..20]), Err(FormatError::Truncated { .. })));
    }
}
