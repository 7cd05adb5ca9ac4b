//! Opening an export file: recognising what it is from its first bytes, deciding its text
//! encoding for the whole file, and handing out a UTF-8 byte stream (BOM removed).
//!
//! A CSV may come gzip-compressed, or as the one CSV of a zip archive; it is decompressed as it
//! streams. Anything else that is not text is refused, named for what its first bytes say it is
//! (an Excel workbook, a PDF…). The stream counts the bytes it reads *from the file*, compressed
//! ones for a compressed file, so progress measured against the file's size stays honest.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;
use flate2::read::{DeflateDecoder, MultiGzDecoder};
use zip::{CompressionMethod, ZipArchive};

const CHUNK: usize = 1 << 20;
/// Enough of a file's start to recognise any format [`identify`] knows.
const MAGIC_BYTES: usize = 512;
/// How many names a message about a zip archive quotes.
const NAMES_QUOTED_AT_MOST: usize = 3;

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
    #[error("the file is {0}, not CSV; export the scan results as CSV and import that file")]
    NotCsv(String),
    #[error("the file is a zip archive holding {0}; import the scanner's CSV export")]
    ZipWithoutCsv(String),
    #[error(
        "the file is a zip archive holding {count} CSV files ({names}); import them one at a time"
    )]
    SeveralCsv { count: usize, names: String },
    #[error("the zip archive cannot be read: {0}")]
    BadZip(String),
    #[error("the file is UTF-32 encoded; save it as UTF-8 CSV and import it again")]
    Utf32,
    #[error(
        "the file is binary, not CSV (a NUL byte at offset {0}); import the scanner's CSV export"
    )]
    Binary(u64),
}

/// How the CSV is stored in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    Plain,
    Gzip,
    Zip(ZipEntry),
}

/// Where the one CSV of a zip archive lies in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    name: String,
    data_start: u64,
    compressed_size: u64,
    size: u64,
    crc32: u32,
    deflated: bool,
}

/// What the pre-pass learned about a file.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub container: Container,
    pub encoding: TextEncoding,
    pub size: u64,
}

/// What a file's first bytes say it is, when it is not plain text.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Gzip,
    Zip,
    /// Something else, named for a message ("a PDF document").
    Other(&'static str),
}

/// Recognises compressed data, archives and common binary formats by their magic bytes.
fn identify(head: &[u8]) -> Option<Kind> {
    const SIGNATURES: [(&[u8], &str); 12] = [
        (b"%PDF-", "a PDF document"),
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "an Excel 97-2003 workbook (xls) or another older Office document",
        ),
        (b"\x89PNG\r\n\x1A\n", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\xFD7zXZ\x00", "an xz-compressed file"),
        (b"\x28\xB5\x2F\xFD", "a zstd-compressed file"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
        (b"Rar!\x1A\x07", "a RAR archive"),
        (b"SQLite format 3\x00", "an SQLite database"),
        (b"\x7FELF", "a program (ELF)"),
        (b"{\\rtf", "an RTF document"),
    ];
    if head.starts_with(b"\x1F\x8B") {
        return Some(Kind::Gzip);
    }
    if [&b"PK\x03\x04"[..], b"PK\x05\x06", b"PK\x07\x08"]
        .iter()
        .any(|magic| head.starts_with(magic))
    {
        return Some(Kind::Zip);
    }
    if head.len() >= 10 && head.starts_with(b"BZh") && &head[4..10] == b"1AY&SY" {
        return Some(Kind::Other("a bzip2-compressed file"));
    }
    if head.get(257..262) == Some(b"ustar") {
        return Some(Kind::Other("a tar archive"));
    }
    SIGNATURES
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, name)| Kind::Other(name))
}

/// Recognises what the file holds, then reads all its text once to decide its encoding:
/// UTF-8 (BOM dropped) when every byte is valid UTF-8, UTF-16 when it starts with a UTF-16 BOM,
/// otherwise Windows-1252. `on_bytes` is called with the running count of the file's bytes
/// read after each chunk; returning `false` stops.
pub fn inspect(
    path: &Path,
    mut on_bytes: impl FnMut(u64) -> bool,
) -> Result<Option<Inspection>, SourceError> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut magic = [0u8; MAGIC_BYTES];
    let magic_len = read_full(&mut file, &mut magic)?;
    let container = match identify(&magic[..magic_len]) {
        None => Container::Plain,
        Some(Kind::Gzip) => Container::Gzip,
        Some(Kind::Zip) => Container::Zip(zip_entry(file)?),
        Some(Kind::Other(name)) => return Err(SourceError::NotCsv(name.to_owned())),
    };
    let consumed = Arc::new(AtomicU64::new(0));
    let mut stream = open_container(path, &container, consumed.clone())?;
    let mut buf = vec![0u8; CHUNK];
    let mut filled = read_full(&mut stream, &mut buf)?;
    let head = &buf[..filled];
    if container != Container::Plain
        && let Some(kind) = identify(head)
    {
        let inner = match kind {
            Kind::Gzip => "gzip-compressed data",
            Kind::Zip => "a zip archive",
            Kind::Other(name) => name,
        };
        return Err(SourceError::NotCsv(match &container {
            Container::Zip(entry) => format!("a zip archive whose {} is {inner}", entry.name),
            _ => format!("a gzip-compressed file holding {inner}"),
        }));
    }
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
        return Ok(Some(Inspection {
            container,
            encoding,
            size,
        }));
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
        if !on_bytes(consumed.load(Ordering::Relaxed)) {
            return Ok(None);
        }
        if filled < buf.len() {
            break;
        }
        buf.copy_within(filled - carry..filled, 0);
        let read = read_full(&mut stream, &mut buf[carry..])?;
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
    Ok(Some(Inspection {
        container,
        encoding,
        size,
    }))
}

/// The one CSV of a zip archive (a name ending in `.csv`, in any case); refuses an Office
/// document, an archive with no CSV or several, and an entry it cannot decompress.
fn zip_entry(file: File) -> Result<ZipEntry, SourceError> {
    let mut archive = ZipArchive::new(file)
        .map_err(|e| SourceError::BadZip(format!("it is damaged or incomplete ({e})")))?;
    let names: Vec<String> = (0..archive.len())
        .filter_map(|index| Some(archive.name_for_index(index)?.ok()?.into_owned()))
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    if has("[Content_Types].xml") {
        let document = if names.iter().any(|n| n.starts_with("xl/")) {
            "an Excel workbook (xlsx)"
        } else if names.iter().any(|n| n.starts_with("word/")) {
            "a Word document (docx)"
        } else if names.iter().any(|n| n.starts_with("ppt/")) {
            "a PowerPoint presentation (pptx)"
        } else {
            "an Office document"
        };
        return Err(SourceError::NotCsv(document.to_owned()));
    }
    if has("mimetype") && has("content.xml") {
        return Err(SourceError::NotCsv(
            "an OpenDocument file (ods, odt…)".to_owned(),
        ));
    }
    let files: Vec<(usize, &String)> = names
        .iter()
        .enumerate()
        .filter(|(_, name)| !name.ends_with('/') && !name.starts_with("__MACOSX/"))
        .collect();
    let csvs: Vec<(usize, &String)> = files
        .iter()
        .copied()
        .filter(|(_, name)| name.to_ascii_lowercase().ends_with(".csv"))
        .collect();
    let index = match csvs[..] {
        [(index, _)] => index,
        [] => {
            return Err(match files.len() {
                0 => SourceError::NotCsv("an empty zip archive".to_owned()),
                1 => SourceError::ZipWithoutCsv(format!("{}, not a CSV", files[0].1)),
                count => SourceError::ZipWithoutCsv(format!("{count} files, none of them a CSV")),
            });
        }
        _ => {
            let mut quoted: Vec<&str> = csvs
                .iter()
                .take(NAMES_QUOTED_AT_MOST)
                .map(|(_, name)| name.as_str())
                .collect();
            if csvs.len() > NAMES_QUOTED_AT_MOST {
                quoted.push("…");
            }
            return Err(SourceError::SeveralCsv {
                count: csvs.len(),
                names: quoted.join(", "),
            });
        }
    };
    let entry = archive
        .by_index_raw(index)
        .map_err(|e| SourceError::BadZip(format!("it is damaged ({e})")))?;
    let name = names[index].clone();
    if entry.encrypted() {
        return Err(SourceError::BadZip(format!("{name} is encrypted")));
    }
    let deflated = match entry.compression() {
        CompressionMethod::Stored => false,
        CompressionMethod::Deflated => true,
        other => {
            return Err(SourceError::BadZip(format!(
                "{name} is compressed with a method vulnimport does not read ({other}); \
                 zip it again with the usual one (deflate)"
            )));
        }
    };
    Ok(ZipEntry {
        data_start: entry
            .data_start()
            .ok_or_else(|| SourceError::BadZip(format!("{name} cannot be located")))?,
        compressed_size: entry.compressed_size(),
        size: entry.size(),
        crc32: entry.crc32(),
        deflated,
        name,
    })
}

/// The CSV's bytes as stored, decompressed; `consumed` receives the file's bytes read so far.
fn open_container(
    path: &Path,
    container: &Container,
    consumed: Arc<AtomicU64>,
) -> io::Result<Box<dyn Read + Send>> {
    let mut file = File::open(path)?;
    Ok(match container {
        Container::Plain => Box::new(CountingReader {
            inner: file,
            consumed,
        }),
        Container::Gzip => Box::new(MultiGzDecoder::new(CountingReader {
            inner: file,
            consumed,
        })),
        Container::Zip(entry) => {
            file.seek(SeekFrom::Start(entry.data_start))?;
            consumed.fetch_add(entry.data_start, Ordering::Relaxed);
            let stored = CountingReader {
                inner: file.take(entry.compressed_size),
                consumed,
            };
            let data: Box<dyn Read + Send> = if entry.deflated {
                Box::new(DeflateDecoder::new(stored))
            } else {
                Box::new(stored)
            };
            Box::new(CheckedEntry {
                inner: flate2::CrcReader::new(data),
                entry: entry.clone(),
            })
        }
    })
}

/// Opens the file as a UTF-8 stream without BOM. `consumed` receives the file's bytes read so
/// far (compressed bytes for a compressed file).
pub fn open_text(
    path: &Path,
    inspection: &Inspection,
    consumed: Arc<AtomicU64>,
) -> io::Result<Box<dyn Read + Send>> {
    let raw = open_container(path, &inspection.container, consumed)?;
    let decoder = |encoding, raw| {
        DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .bom_override(true)
            .build(raw)
    };
    Ok(match inspection.encoding {
        TextEncoding::Utf8 | TextEncoding::Utf8Bom => {
            let mut reader = BufReader::with_capacity(CHUNK, raw);
            if inspection.encoding == TextEncoding::Utf8Bom {
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

fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
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

/// A zip entry's data that, at its end, checks its size and CRC-32 against the archive's.
struct CheckedEntry<R> {
    inner: flate2::CrcReader<R>,
    entry: ZipEntry,
}

impl<R: Read> Read for CheckedEntry<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let crc = self.inner.crc();
        if n == 0
            && !buf.is_empty()
            && (crc.sum() != self.entry.crc32
                || u64::from(crc.amount()) != self.entry.size % (1 << 32))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} in the zip archive is damaged or incomplete",
                    self.entry.name
                ),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    fn inspected(bytes: &[u8]) -> Result<Inspection, SourceError> {
        let file = file_with(bytes);
        inspect(file.path(), |_| true).map(|found| found.unwrap())
    }

    fn encoding_of(bytes: &[u8]) -> Result<TextEncoding, SourceError> {
        inspected(bytes).map(|inspection| inspection.encoding)
    }

    /// The text of `bytes` and how many of the file's bytes were read for it.
    fn decoded_counting(bytes: &[u8]) -> io::Result<(String, u64)> {
        let file = file_with(bytes);
        let inspection = inspected(bytes).unwrap();
        let consumed = Arc::new(AtomicU64::new(0));
        let mut text = String::new();
        open_text(file.path(), &inspection, consumed.clone())?.read_to_string(&mut text)?;
        Ok((text, consumed.load(Ordering::Relaxed)))
    }

    fn decoded(bytes: &[u8]) -> String {
        decoded_counting(bytes).unwrap().0
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn zip_of(entries: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            let options = SimpleFileOptions::default().compression_method(method);
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn refusal(bytes: &[u8]) -> String {
        inspected(bytes).unwrap_err().to_string()
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
    fn gzip_is_decompressed_counting_compressed_bytes() {
        let text = "host,title\nsrv,Caf\u{e9}\n".repeat(10_000);
        let compressed = gzip(text.as_bytes());
        let inspection = inspected(&compressed).unwrap();
        assert_eq!(
            (inspection.container, inspection.encoding),
            (Container::Gzip, TextEncoding::Utf8)
        );
        let (read, consumed) = decoded_counting(&compressed).unwrap();
        assert_eq!(read, text);
        assert_eq!(consumed, compressed.len() as u64);
        let latin1 = gzip(b"host,title\nsrv,Caf\xe9\n");
        assert_eq!(encoding_of(&latin1).unwrap(), TextEncoding::Windows1252);
        assert_eq!(decoded(&latin1), "host,title\nsrv,Café\n");
    }

    #[test]
    fn the_one_csv_of_a_zip_is_read_stored_or_deflated() {
        let text = b"host,cve\nsrv,CVE-2024-1\n".repeat(1000);
        for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
            let zip = zip_of(
                &[
                    ("export/", b""),
                    ("export/Scan.CSV", &text),
                    ("notes.txt", b"hi"),
                ],
                method,
            );
            let inspection = inspected(&zip).unwrap();
            let Container::Zip(entry) = &inspection.container else {
                panic!("{inspection:?}");
            };
            assert_eq!(entry.name, "export/Scan.CSV");
            let (read, consumed) = decoded_counting(&zip).unwrap();
            assert_eq!(read.as_bytes(), text, "{method}");
            assert_eq!(consumed, entry.data_start + entry.compressed_size);
        }
    }

    #[test]
    fn a_damaged_zip_entry_fails_to_read() {
        let text = b"host,cve\nsrv,CVE-2024-1\n";
        let mut zip = zip_of(&[("scan.csv", text)], CompressionMethod::Stored);
        let at = zip.windows(4).position(|w| w == b"srv,").unwrap();
        zip[at] = b'S';
        let error = refusal(&zip);
        assert!(
            error.contains("scan.csv in the zip archive is damaged"),
            "{error}"
        );
    }

    #[test]
    fn archives_without_exactly_one_csv_are_refused_by_name() {
        let stored = CompressionMethod::Stored;
        assert_eq!(
            refusal(&zip_of(
                &[("a.csv", b"h\n1\n"), ("b.csv", b"h\n2\n")],
                stored
            )),
            "the file is a zip archive holding 2 CSV files (a.csv, b.csv); import them one at a time"
        );
        assert!(
            refusal(&zip_of(&[("a.txt", b"x"), ("b.pdf", b"y")], stored))
                .starts_with("the file is a zip archive holding 2 files, none of them a CSV;")
        );
        assert!(refusal(&zip_of(&[], stored)).starts_with("the file is an empty zip archive"));
        let workbook = [
            ("[Content_Types].xml", &b"<Types/>"[..]),
            ("xl/workbook.xml", b"<workbook/>"),
        ];
        assert!(
            refusal(&zip_of(&workbook, stored))
                .starts_with("the file is an Excel workbook (xlsx), not CSV")
        );
        assert!(refusal(b"PK\x03\x04\x14\0\x06\0").starts_with("the zip archive cannot be read"));
        let nested = zip_of(&[("scan.csv", &gzip(b"h\n1\n"))], stored);
        assert!(
            refusal(&nested)
                .starts_with("the file is a zip archive whose scan.csv is gzip-compressed data")
        );
    }

    #[test]
    fn refuses_what_is_not_text() {
        assert!(matches!(encoding_of(b""), Err(SourceError::Empty)));
        assert!(matches!(encoding_of(b" \r\n"), Err(SourceError::Empty)));
        assert!(matches!(encoding_of(&gzip(b"")), Err(SourceError::Empty)));
        assert!(matches!(
            encoding_of(&[0xFF, 0xFE, 0, 0, b'h', 0, 0, 0]),
            Err(SourceError::Utf32)
        ));
        assert!(matches!(
            encoding_of(b"host,cve\n\0\0"),
            Err(SourceError::Binary(9))
        ));
        assert!(refusal(b"%PDF-1.7\n%\xe2\xe3").starts_with("the file is a PDF document, not CSV"));
        assert!(refusal(b"\x89PNG\r\n\x1a\n\0\0").starts_with("the file is a PNG image"));
        assert!(
            refusal(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0")
                .starts_with("the file is an Excel 97-2003 workbook (xls)")
        );
        assert!(
            refusal(&gzip(b"%PDF-1.7\n"))
                .starts_with("the file is a gzip-compressed file holding a PDF document")
        );
    }

    #[test]
    fn stops_when_asked() {
        let file = file_with(b"host\nsrv\n");
        assert!(inspect(file.path(), |_| false).unwrap().is_none());
    }
}
