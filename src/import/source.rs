//! Opening an export file: deciding its text encoding for the whole file, refusing what is not
//! text, and handing out a UTF-8 byte stream (BOM removed) that counts the raw bytes consumed.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;

const CHUNK: usize = 1 << 20;

/// How the file's bytes are turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TextEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "utf-8-bom")]
    Utf8Bom,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
    #[serde(rename = "windows-1252")]
    Windows1252,
}

impl TextEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Utf8Bom => "utf-8-bom",
            TextEncoding::Utf16Le => "utf-16le",
            TextEncoding::Utf16Be => "utf-16be",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }
}

/// Why a file cannot be read as a CSV export at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read the file: {0}")]
    Unreadable(#[from] io::Error),
    #[error("the file is empty; export the scan results as CSV and import that file")]
    Empty,
    #[error(
        "the file is an Excel workbook or ZIP archive, not CSV; open it and save or export it as CSV"
    )]
    Archive,
    #[error("the file is UTF-32 encoded; save it as UTF-8 CSV and import it again")]
    Utf32,
    #[error(
        "the file is binary, not CSV (a NUL byte at offset {0}); import the scanner's CSV export"
    )]
    Binary(u64),
}

/// What the pre-pass learned about a file.
#[derive(Debug, Clone, Copy)]
pub struct Inspection {
    pub encoding: TextEncoding,
    pub size: u64,
}

/// Reads the whole file once to decide its encoding: UTF-8 (BOM dropped) when every byte is
/// valid UTF-8, UTF-16 when it starts with a UTF-16 BOM, otherwise Windows-1252.
/// `on_bytes` is called with the running byte count after each chunk; returning `false` stops.
pub fn inspect(
    path: &Path,
    mut on_bytes: impl FnMut(u64) -> bool,
) -> Result<Option<Inspection>, SourceError> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut buf = vec![0u8; CHUNK];
    let mut filled = read_full(&mut file, &mut buf)?;
    let head = &buf[..filled];
    if head.iter().all(|b| b.is_ascii_whitespace()) && filled < CHUNK {
        return Err(SourceError::Empty);
    }
    if head.starts_with(&[0xFF, 0xFE, 0, 0]) || head.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(SourceError::Utf32);
    }
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        let encoding = if head[0] == 0xFF {
            TextEncoding::Utf16Le
        } else {
            TextEncoding::Utf16Be
        };
        return Ok(Some(Inspection { encoding, size }));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err(SourceError::Archive);
    }
    let bom = head.starts_with(&[0xEF, 0xBB, 0xBF]);
    let mut offset = 0u64;
    let mut carry = 0usize;
    let mut valid_utf8 = true;
    loop {
        let chunk = &buf[..filled];
        if let Some(nul) = chunk.iter().position(|&b| b == 0) {
            return Err(SourceError::Binary(offset + nul as u64));
        }
        if valid_utf8 {
            match std::str::from_utf8(chunk) {
                Ok(_) => carry = 0,
                Err(e) if e.error_len().is_none() && filled == buf.len() => {
                    carry = chunk.len() - e.valid_up_to();
                }
                Err(_) => {
                    valid_utf8 = false;
                    carry = 0;
                }
            }
        }
        offset += (filled - carry) as u64;
        if !on_bytes(offset) {
            return Ok(None);
        }
        if filled < buf.len() {
            break;
        }
        buf.copy_within(filled - carry..filled, 0);
        let read = read_full(&mut file, &mut buf[carry..])?;
        if read == 0 {
            valid_utf8 &= carry == 0;
            break;
        }
        filled = carry + read;
    }
    let encoding = match (valid_utf8, bom) {
        (true, true) => TextEncoding::Utf8Bom,
        (true, false) => TextEncoding::Utf8,
        (false, _) => TextEncoding::Windows1252,
    };
    Ok(Some(Inspection { encoding, size }))
}

/// Opens the file as a UTF-8 stream without BOM. `consumed` receives the raw bytes read so far.
pub fn open_text(
    path: &Path,
    encoding: TextEncoding,
    consumed: Arc<AtomicU64>,
) -> io::Result<Box<dyn Read + Send>> {
    let raw = CountingReader {
        inner: File::open(path)?,
        consumed,
    };
    let decoder = |encoding, raw| {
        DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .bom_override(true)
            .build(raw)
    };
    Ok(match encoding {
        TextEncoding::Utf8 | TextEncoding::Utf8Bom => {
            let mut reader = BufReader::with_capacity(CHUNK, raw);
            if encoding == TextEncoding::Utf8Bom {
                let mut bom = [0u8; 3];
                reader.read_exact(&mut bom)?;
            }
            Box::new(reader)
        }
        TextEncoding::Utf16Le => Box::new(decoder(UTF_16LE, raw)),
        TextEncoding::Utf16Be => Box::new(decoder(UTF_16BE, raw)),
        TextEncoding::Windows1252 => Box::new(decoder(WINDOWS_1252, raw)),
    })
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

struct CountingReader<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    fn encoding_of(bytes: &[u8]) -> Result<TextEncoding, SourceError> {
        let file = file_with(bytes);
        inspect(file.path(), |_| true).map(|found| found.unwrap().encoding)
    }

    fn decoded(bytes: &[u8]) -> String {
        let file = file_with(bytes);
        let encoding = encoding_of(bytes).unwrap();
        let mut text = String::new();
        open_text(file.path(), encoding, Arc::default())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(encoding_of(b"host,cve\n").unwrap(), TextEncoding::Utf8);
        assert_eq!(
            encoding_of("\u{feff}host,cve\nmünchen,x\n".as_bytes()).unwrap(),
            TextEncoding::Utf8Bom
        );
        assert_eq!(
            decoded("\u{feff}host\nmünchen\n".as_bytes()),
            "host\nmünchen\n"
        );
    }

    #[test]
    fn invalid_utf8_is_windows_1252() {
        let bytes = b"host,title\nsrv,Caf\xe9 \x93quoted\x94\n";
        assert_eq!(encoding_of(bytes).unwrap(), TextEncoding::Windows1252);
        assert_eq!(decoded(bytes), "host,title\nsrv,Café “quoted”\n");
    }

    #[test]
    fn utf8_sequence_split_across_chunks_stays_utf8() {
        let mut bytes = vec![b'a'; CHUNK - 1];
        bytes.extend_from_slice("é\n".as_bytes());
        assert_eq!(encoding_of(&bytes).unwrap(), TextEncoding::Utf8);
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "host,cve\nsrv,CVE-2024-1\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(encoding_of(&bytes).unwrap(), TextEncoding::Utf16Le);
        assert_eq!(decoded(&bytes), "host,cve\nsrv,CVE-2024-1\n");
    }

    #[test]
    fn refuses_what_is_not_text() {
        assert!(matches!(encoding_of(b""), Err(SourceError::Empty)));
        assert!(matches!(encoding_of(b" \r\n"), Err(SourceError::Empty)));
        assert!(matches!(
            encoding_of(&[0xFF, 0xFE, 0, 0, b'h', 0, 0, 0]),
            Err(SourceError::Utf32)
        ));
        assert!(matches!(
            encoding_of(b"PK\x03\x04rest"),
            Err(SourceError::Archive)
        ));
        assert!(matches!(
            encoding_of(b"\x89PNG\r\n\x1a\n\0\0"),
            Err(SourceError::Binary(8))
        ));
    }

    #[test]
    fn stops_when_asked() {
        let file = file_with(b"host\nsrv\n");
        assert!(inspect(file.path(), |_| false).unwrap().is_none());
    }
}
