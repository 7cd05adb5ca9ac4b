//! Properties of the reader and the normaliser over generated input: whatever the bytes, no
//! panic, reading ends, every line number is within the file, and every row is accepted or
//! rejected with a reason (or reading stops with one, at a line of the file).

use proptest::prelude::*;
use vulnimport::import::format::ColumnMap;
use vulnimport::import::reader::{CsvReader, Item};

/// Pieces CSV is made of, the troublesome ones included: quotes, all three delimiters and line
/// endings, multi-byte and invalid UTF-8, values the normaliser looks at.
const PIECES: [&[u8]; 20] = [
    b"\"",
    b"\"\"",
    b",",
    b";",
    b"\t",
    b"\n",
    b"\r",
    b"\r\n",
    b" ",
    b"a",
    b"web01",
    b"10.0.0.1",
    b"CVE-2024-1234",
    b"cisco-sa-x",
    b"7,5",
    b"High",
    "é".as_bytes(),
    b"\xff",
    b"\0",
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

const HEADERS: [&str; 4] = [
    "hostname,cve,severity,cvss\n",
    "Host;CVE;Plugin ID;Name\r\n",
    "asset.id\tdefinition.cve\tdefinition.id\n",
    "",
];

fn input() -> impl Strategy<Value = (Vec<u8>, usize)> {
    (
        0..HEADERS.len(),
        prop::collection::vec(0..PIECES.len(), 0..120),
        1usize..200,
    )
        .prop_map(|(header, pieces, limit)| {
            let mut bytes = HEADERS[header].as_bytes().to_vec();
            for piece in pieces {
                bytes.extend_from_slice(PIECES[piece]);
            }
            (bytes, limit)
        })
}

/// Lines in `bytes`, as the reader counts them (`\r\n`, `\n` or `\r` end one).
fn line_count(bytes: &[u8]) -> u64 {
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|&(at, &b)| b == b'\r' || b == b'\n' && (at == 0 || bytes[at - 1] != b'\r'));
    breaks.count() as u64 + 1
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_row_is_accepted_or_rejected_with_a_reason((bytes, limit) in input()) {
        let lines = line_count(&bytes);
        let mut reader = CsvReader::new(&bytes[..], limit).unwrap();
        let header = match reader.read_header() {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(()),
            Err(error) => {
                prop_assert!(!error.to_string().is_empty());
                return Ok(());
            }
        };
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let columns = ColumnMap::from_headers(&header).ok();
        let mut last_line = 0;
        let mut items = 0;
        loop {
            let item = match reader.next_item() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(error) => {
                    let message = error.to_string();
                    let line: u64 = message
                        .split_whitespace()
                        .skip_while(|word| *word != "line")
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("no line in {message:?}"));
                    prop_assert!(line > last_line && line <= lines, "{message}");
                    break;
                }
            };
            items += 1;
            prop_assert!(items <= bytes.len() + 1, "reading does not end");
            let line = match item {
                Item::Row(row) => {
                    prop_assert_eq!(row.fields.len(), header.len());
                    if let Some(columns) = &columns {
                        let mut records = Vec::new();
                        match columns.normalize(&row.fields, &mut records) {
                            Ok(_) => prop_assert!(!records.is_empty()),
                            Err(reason) => {
                                prop_assert!(records.is_empty());
                                prop_assert!(!reason.to_string().is_empty());
                            }
                        }
                    }
                    row.line
                }
                Item::Malformed(bad) => {
                    prop_assert!(!bad.reason.is_empty());
                    bad.line
                }
            };
            prop_assert!(line > last_line && line <= lines, "line {line} after {last_line}, of {lines}");
            last_line = line;
        }
    }
}
