//! Streaming CSV rows with their line numbers.
//!
//! Built on `csv-core`, which parses in bounded buffers. On top of it this reader:
//! - recognises the delimiter (comma, semicolon or tab) from the header line;
//! - accepts CRLF, LF and CR line endings and reports the line each row starts on;
//! - skips blank lines (also rows whose fields are all empty, as spreadsheets write them);
//! - rejects a row with the wrong number of fields, and a quote that is never closed: rather than
//!   swallowing the rest of the file into one field, the row is reported as malformed at the line
//!   where its quote opens and reading resumes on the next line. A record may be at most
//!   [`MAX_RECORD_BYTES`] long, so memory stays bounded whatever the input.

use std::io::{self, Read};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

/// The longest record accepted; longer means a quote was never closed.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
const BUFFER_BYTES: usize = 256 << 10;

/// One data row: the line it starts on and its fields.
#[derive(Debug)]
pub struct Row<'a> {
    pub line: u64,
    pub fields: Vec<&'a str>,
}

/// A row that could not be read, with why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Malformed {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug)]
pub enum Item<'a> {
    Row(Row<'a>),
    Malformed(Malformed),
}

pub struct CsvReader<R> {
    input: R,
    buffer: Vec<u8>,
    buffer_pos: usize,
    buffer_end: usize,
    input_done: bool,
    replay: Vec<u8>,
    replay_pos: usize,
    delimiter: u8,
    parser: Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
    raw: Vec<u8>,
    /// Line number of the next byte to be consumed.
    line: u64,
    after_cr: bool,
    /// The rest of the current line belongs to a record already rejected.
    skip_rest_of_line: bool,
    expected_fields: Option<usize>,
}

/// A record's place in the reader's buffers.
struct Span {
    line: u64,
    fields: usize,
    multiline: bool,
}

impl<R: Read> CsvReader<R> {
    /// Reads ahead to the end of the header line to recognise the delimiter.
    pub fn new(mut input: R) -> io::Result<Self> {
        let mut buffer = vec![0u8; BUFFER_BYTES];
        let mut end = 0;
        let mut input_done = false;
        while end < buffer.len() && !buffer[..end].iter().any(|&b| b == b'\n' || b == b'\r') {
            match input.read(&mut buffer[end..]) {
                Ok(0) => {
                    input_done = true;
                    break;
                }
                Ok(n) => end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let delimiter = sniff_delimiter(&buffer[..end]);
        Ok(CsvReader {
            input,
            buffer,
            buffer_pos: 0,
            buffer_end: end,
            input_done,
            replay: Vec::new(),
            replay_pos: 0,
            delimiter,
            parser: new_parser(delimiter),
            output: vec![0; 64 << 10],
            ends: vec![0; 256],
            raw: Vec::new(),
            line: 1,
            after_cr: false,
            skip_rest_of_line: false,
            expected_fields: None,
        })
    }

    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The first record, trimmed of nothing; `None` for a file without any.
    /// Data rows must then have as many fields as it has.
    pub fn read_header(&mut self) -> io::Result<Option<Vec<String>>> {
        let Some(span) = self.read_record()? else {
            return Ok(None);
        };
        let header: Vec<String> = self
            .fields(span.fields)
            .map(|fields| fields.into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        self.expected_fields = Some(header.len());
        Ok(Some(header))
    }

    /// The next data row or malformed row; `None` at the end of the file.
    pub fn next_item(&mut self) -> io::Result<Option<Item<'_>>> {
        loop {
            let Some(span) = self.read_record()? else {
                return Ok(None);
            };
            let expected = self.expected_fields.unwrap_or(span.fields);
            let unbalanced = || self.raw.iter().filter(|&&b| b == b'"').count() % 2 == 1;
            if span.multiline && (span.fields != expected || unbalanced()) {
                self.resume_after_first_line(span.line);
                return Ok(Some(Item::Malformed(Malformed {
                    line: span.line,
                    reason: "a quoted field opened on this line is never closed".into(),
                })));
            }
            if span.fields != expected {
                return Ok(Some(Item::Malformed(Malformed {
                    line: span.line,
                    reason: format!("expected {expected} fields, found {}", span.fields),
                })));
            }
            if self.is_blank(span.fields) {
                continue;
            }
            let line = span.line;
            let Some(fields) = self.fields(span.fields) else {
                return Ok(Some(Item::Malformed(Malformed {
                    line,
                    reason: "the row is not valid text".into(),
                })));
            };
            return Ok(Some(Item::Row(Row { line, fields })));
        }
    }

    fn is_blank(&self, count: usize) -> bool {
        let used = self.ends[..count].last().copied().unwrap_or(0);
        self.output[..used].iter().all(u8::is_ascii_whitespace)
    }

    fn fields(&self, count: usize) -> Option<Vec<&str>> {
        let mut start = 0;
        self.ends[..count]
            .iter()
            .map(|&end| {
                let field = std::str::from_utf8(&self.output[start..end]).ok();
                start = end;
                field
            })
            .collect()
    }

    /// Parses one record into `output`/`ends`, keeping its raw bytes in `raw`.
    fn read_record(&mut self) -> io::Result<Option<Span>> {
        self.raw.clear();
        if self.skip_rest_of_line {
            self.skip_to_next_line()?;
        }
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            if self.raw.len() > MAX_RECORD_BYTES {
                let line = self.line + leading_breaks(&self.raw, self.after_cr);
                self.resume_after_first_line(line);
                return Ok(Some(Span {
                    line,
                    fields: usize::MAX,
                    multiline: true,
                }));
            }
            self.fill()?;
            let input: &[u8] = if self.replay_pos < self.replay.len() {
                &self.replay[self.replay_pos..]
            } else {
                &self.buffer[self.buffer_pos..self.buffer_end]
            };
            let (result, read, written, ended) = self.parser.read_record(
                input,
                &mut self.output[out_len..],
                &mut self.ends[ends_len..],
            );
            self.raw.extend_from_slice(&input[..read]);
            if self.replay_pos < self.replay.len() {
                self.replay_pos += read;
            } else {
                self.buffer_pos += read;
            }
            // csv-core's field ends count from the start of the record, across calls.
            out_len += written;
            ends_len += ended;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let grown = self.output.len() * 2;
                    self.output.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => return Ok(Some(self.finish_span(ends_len))),
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    fn finish_span(&mut self, fields: usize) -> Span {
        let start_after_cr = self.after_cr;
        let leading = leading_breaks(&self.raw, start_after_cr);
        let trailing = self
            .raw
            .iter()
            .rev()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        let content_end = self.raw.len().saturating_sub(trailing);
        let (content_breaks, _) = count_breaks(&self.raw[..content_end], start_after_cr);
        let (breaks, after_cr) = count_breaks(&self.raw, start_after_cr);
        let span = Span {
            line: self.line + leading,
            fields,
            multiline: content_breaks > leading,
        };
        self.line += breaks;
        self.after_cr = after_cr;
        span
    }

    /// Drops the record that starts on `line`'s first line and parses again from the next line.
    fn resume_after_first_line(&mut self, line: u64) {
        let body_start = self
            .raw
            .iter()
            .position(|&b| b != b'\n' && b != b'\r')
            .unwrap_or(self.raw.len());
        let body = &self.raw[body_start..];
        let next_line = body
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map(|at| {
                if body[at] == b'\r' && body.get(at + 1) == Some(&b'\n') {
                    at + 2
                } else {
                    at + 1
                }
            })
            .unwrap_or(body.len());
        self.skip_rest_of_line =
            next_line == body.len() && !body.ends_with(b"\n") && !body.ends_with(b"\r");
        let mut replay = body[next_line..].to_vec();
        replay.extend_from_slice(&self.replay[self.replay_pos..]);
        self.replay = replay;
        self.replay_pos = 0;
        self.line = line + 1;
        self.after_cr = false;
        self.parser = new_parser(self.delimiter);
    }

    /// Discards input up to and including the next line break.
    fn skip_to_next_line(&mut self) -> io::Result<()> {
        while self.skip_rest_of_line {
            self.fill()?;
            let (input, pos) = if self.replay_pos < self.replay.len() {
                (&self.replay[self.replay_pos..], &mut self.replay_pos)
            } else {
                (
                    &self.buffer[self.buffer_pos..self.buffer_end],
                    &mut self.buffer_pos,
                )
            };
            if input.is_empty() {
                self.skip_rest_of_line = false;
            } else if let Some(at) = input.iter().position(|&b| b == b'\n' || b == b'\r') {
                *pos += at + 1;
                self.after_cr = input[at] == b'\r';
                self.skip_rest_of_line = false;
            } else {
                *pos += input.len();
            }
        }
        Ok(())
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.replay_pos < self.replay.len()
            || self.buffer_pos < self.buffer_end
            || self.input_done
        {
            return Ok(());
        }
        self.buffer_pos = 0;
        self.buffer_end = 0;
        loop {
            match self.input.read(&mut self.buffer) {
                Ok(0) => {
                    self.input_done = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.buffer_end = n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn new_parser(delimiter: u8) -> Reader {
    ReaderBuilder::new().delimiter(delimiter).build()
}

/// The delimiter is whichever of comma, semicolon and tab occurs most often, outside quotes,
/// in the header line; comma on a tie.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

/// Line breaks in `bytes` (`\n`, `\r\n` or a lone `\r`), and whether it ends with `\r`.
/// `after_cr` says the bytes before ended with `\r`, so a leading `\n` completes that break.
fn count_breaks(bytes: &[u8], mut after_cr: bool) -> (u64, bool) {
    let mut breaks = 0;
    for &b in bytes {
        match b {
            b'\n' if after_cr => after_cr = false,
            b'\n' => breaks += 1,
            b'\r' => {
                breaks += 1;
                after_cr = true;
            }
            _ => after_cr = false,
        }
    }
    (breaks, after_cr)
}

/// Line breaks before the first byte of the record (blank lines csv-core skipped).
fn leading_breaks(raw: &[u8], after_cr: bool) -> u64 {
    let leading = raw
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .count();
    count_breaks(&raw[..leading], after_cr).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Seen {
        Row(u64, Vec<String>),
        Bad(u64, String),
    }

    fn read_all(text: &str) -> (Vec<String>, Vec<Seen>) {
        let mut reader = CsvReader::new(text.as_bytes()).unwrap();
        let header = reader.read_header().unwrap().unwrap_or_default();
        let mut seen = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            seen.push(match item {
                Item::Row(row) => {
                    Seen::Row(row.line, row.fields.iter().map(|f| f.to_string()).collect())
                }
                Item::Malformed(bad) => Seen::Bad(bad.line, bad.reason),
            });
        }
        (header, seen)
    }

    fn row(line: u64, fields: &[&str]) -> Seen {
        Seen::Row(line, fields.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn every_line_ending_gives_the_same_rows_and_lines() {
        for ending in ["\n", "\r\n", "\r"] {
            let text = ["h1,h2", "a,b", "", "c,d", ""].join(ending);
            let (header, rows) = read_all(&text);
            assert_eq!(header, ["h1", "h2"], "{ending:?}");
            assert_eq!(
                rows,
                [row(2, &["a", "b"]), row(4, &["c", "d"])],
                "{ending:?}"
            );
        }
    }

    #[test]
    fn recognises_semicolon_and_tab() {
        let (header, rows) = read_all("host;cve\nsrv;\"CVE-1,CVE-2\"\n");
        assert_eq!(header, ["host", "cve"]);
        assert_eq!(rows, [row(2, &["srv", "CVE-1,CVE-2"])]);
        let (header, _) = read_all("host\tcve\tnote,x\n");
        assert_eq!(header, ["host", "cve", "note,x"]);
    }

    #[test]
    fn quoted_newlines_stay_in_their_field_and_lines_keep_counting() {
        let (_, rows) = read_all("h,d\na,\"two\nlines\"\nb,\"x \"\"q\"\"\"\n");
        assert_eq!(
            rows,
            [row(2, &["a", "two\nlines"]), row(4, &["b", "x \"q\""])]
        );
    }

    #[test]
    fn wrong_field_count_is_reported_with_its_line() {
        let (_, rows) = read_all("h1,h2\na,b\nc\nd,e,f\ng,h\n");
        assert_eq!(
            rows,
            [
                row(2, &["a", "b"]),
                Seen::Bad(3, "expected 2 fields, found 1".into()),
                Seen::Bad(4, "expected 2 fields, found 3".into()),
                row(5, &["g", "h"]),
            ]
        );
    }

    #[test]
    fn unclosed_quote_is_rejected_where_it_opens_and_reading_resumes() {
        let (_, rows) = read_all("h1,h2\na,\"never closed\nb,c\nd,e\n");
        assert_eq!(
            rows,
            [
                Seen::Bad(
                    2,
                    "a quoted field opened on this line is never closed".into()
                ),
                row(3, &["b", "c"]),
                row(4, &["d", "e"]),
            ]
        );
    }

    #[test]
    fn stray_quote_mid_file_loses_only_its_row() {
        let (_, rows) = read_all("h1,h2\na,\"bad\nb,\"ok, quoted\"\nc,d\n");
        assert_eq!(rows[0], Seen::Bad(2, rows_reason()));
        assert_eq!(
            rows[1..],
            [row(3, &["b", "ok, quoted"]), row(4, &["c", "d"])]
        );
    }

    fn rows_reason() -> String {
        "a quoted field opened on this line is never closed".into()
    }

    #[test]
    fn oversized_record_is_cut_off() {
        let mut text = String::from("h1,h2\na,\"");
        text.push_str(&"x".repeat(MAX_RECORD_BYTES + 10));
        text.push_str("\nb,c\n");
        let (_, rows) = read_all(&text);
        assert_eq!(rows[0], Seen::Bad(2, rows_reason()));
        assert_eq!(rows[1], row(3, &["b", "c"]));
    }

    #[test]
    fn all_empty_rows_are_blank_lines() {
        let (_, rows) = read_all("h1,h2\n,\n , \na,b\n");
        assert_eq!(rows, [row(4, &["a", "b"])]);
    }

    #[test]
    fn header_only_and_empty() {
        assert_eq!(
            read_all("h1,h2\n"),
            (vec!["h1".into(), "h2".into()], vec![])
        );
        let mut reader = CsvReader::new(&b""[..]).unwrap();
        assert!(reader.read_header().unwrap().is_none());
    }

    #[test]
    fn rows_across_buffer_refills_are_whole() {
        let mut text = String::from("id,text\n");
        for i in 0..20_000 {
            text.push_str(&format!("{i},\"value {i}\nsecond line\"\n"));
        }
        let (_, rows) = read_all(&text);
        assert_eq!(rows.len(), 20_000);
        for (i, seen) in rows.iter().enumerate() {
            let value = format!("value {i}\nsecond line");
            assert_eq!(
                *seen,
                row(2 + 2 * i as u64, &[&i.to_string(), &value]),
                "row {i}"
            );
        }
    }
}
