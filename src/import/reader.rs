//! Streaming CSV rows with their line numbers.
//!
//! Built on `csv-core`, which parses in bounded buffers. On top of it this reader:
//! - recognises the delimiter (comma, semicolon or tab) from the header line;
//! - accepts CRLF, LF and CR line endings and reports the line each row starts on;
//! - skips blank lines (also rows whose fields are all empty, as spreadsheets write them);
//! - rejects a row with the wrong number of fields;
//! - bounds what one row may hold, so memory stays bounded whatever the input: a field at most
//!   `max_field_bytes` (N), a row at most 2N bytes and [`MAX_FIELDS`] fields. A row past a limit
//!   is parsed on to its real end, its bytes discarded rather than kept, and rejected ("field
//!   longer than N bytes"); reading resumes after it.
//! - rejects a quote that is never closed without swallowing the rest of the file. A row that
//!   spans lines yet ends with the wrong number of fields or an odd number of quotes (typically:
//!   the input ended inside its quoted field) is taken to be an unclosed quote, reported at the
//!   line where it starts; reading resumes on the next line, replaying the row's kept bytes.
//!   Only a row within the limits can be replayed: past them, the rows the quote swallowed are
//!   gone, so reading fails, naming the line where the quote opens.

use std::io::{self, Read};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use crate::domain::RowProblem;

/// The most fields a row may have.
pub const MAX_FIELDS: usize = 1 << 16;
const BUFFER_BYTES: usize = 256 << 10;

/// One data row: the line it starts on and its fields.
#[derive(Debug)]
pub struct Row<'a> {
    pub line: u64,
    pub fields: Vec<&'a str>,
}

#[derive(Debug)]
pub enum Item<'a> {
    Row(Row<'a>),
    Malformed(RowProblem),
}

pub struct CsvReader<R> {
    input: R,
    buffer: Vec<u8>,
    buffer_pos: usize,
    buffer_end: usize,
    input_done: bool,
    /// Bytes read again after an unclosed quote, before the rest of the input.
    replay: Vec<u8>,
    replay_pos: usize,
    delimiter: u8,
    parser: Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
    /// The current record's raw bytes, for replaying after an unclosed quote.
    raw: Vec<u8>,
    /// Line number of the next byte to be consumed.
    line: u64,
    after_cr: bool,
    expected_fields: Option<usize>,
    max_field_bytes: usize,
}

/// What one record was, once parsed.
struct Span {
    line: u64,
    fields: usize,
    /// A line break between its first and its last byte.
    multiline: bool,
    /// An odd number of quotes.
    unbalanced: bool,
    /// Set when the record went past the limits: the length of its longest field.
    over_limit: Option<usize>,
}

impl<R: Read> CsvReader<R> {
    /// Reads ahead to the end of the header line to recognise the delimiter. No field may hold
    /// more than `max_field_bytes`.
    pub fn new(mut input: R, max_field_bytes: usize) -> io::Result<Self> {
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
            expected_fields: None,
            max_field_bytes,
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
        if let Some(longest) = span.over_limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the header row has a {}",
                    self.limit_exceeded(longest, span.fields)
                ),
            ));
        }
        let header: Vec<String> = self
            .fields(span.fields)
            .map(|fields| fields.into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        self.expected_fields = Some(header.len());
        Ok(Some(header))
    }

    /// The next data row or malformed row; `None` at the end of the file. Fails, besides on a
    /// read error, when an unclosed quote swallowed more than the limits let it replay.
    pub fn next_item(&mut self) -> io::Result<Option<Item<'_>>> {
        loop {
            let Some(span) = self.read_record()? else {
                return Ok(None);
            };
            let expected = self.expected_fields.unwrap_or(span.fields);
            let malformed = |reason: String| {
                Ok(Some(Item::Malformed(RowProblem {
                    line: span.line,
                    reason,
                })))
            };
            if span.multiline && (span.fields != expected || span.unbalanced) {
                if span.over_limit.is_some() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a quoted field opened on line {} is not closed within the \
                             {}-byte field limit, so the rows after it cannot be read; close \
                             the quote, or raise the limit if the field is that long",
                            span.line, self.max_field_bytes
                        ),
                    ));
                }
                self.resume_after_first_line(span.line);
                return malformed("a quoted field opened on this line is never closed".into());
            }
            if let Some(longest) = span.over_limit {
                return malformed(self.limit_exceeded(longest, span.fields));
            }
            if span.fields != expected {
                return malformed(format!("expected {expected} fields, found {}", span.fields));
            }
            if self.is_blank(span.fields) {
                continue;
            }
            let line = span.line;
            let Some(fields) = self.fields(span.fields) else {
                return malformed("the row is not valid text".into());
            };
            return Ok(Some(Item::Row(Row { line, fields })));
        }
    }

    /// The most bytes a whole row may hold.
    fn max_row_bytes(&self) -> usize {
        self.max_field_bytes.saturating_mul(2)
    }

    /// Which limit a record went past.
    fn limit_exceeded(&self, longest_field: usize, fields: usize) -> String {
        if longest_field > self.max_field_bytes {
            format!("field longer than {} bytes", self.max_field_bytes)
        } else if fields > MAX_FIELDS {
            format!("row of more than {MAX_FIELDS} fields")
        } else {
            format!("row longer than {} bytes", self.max_row_bytes())
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

    /// Parses one record into `output`/`ends`, keeping its raw bytes in `raw`; a record that
    /// outgrows the limits is parsed to its end without being kept.
    fn read_record(&mut self) -> io::Result<Option<Span>> {
        self.raw.clear();
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            if self.outgrown(out_len, ends_len) {
                return self.discard_record(out_len, ends_len).map(Some);
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
            self.consume(read);
            // csv-core's field ends count from the start of the record, across calls.
            out_len += written;
            ends_len += ended;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let grown = (self.output.len() * 2).min(self.max_row_bytes() + 1);
                    self.output.resize(grown.max(self.output.len() + 1), 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let grown = (self.ends.len() * 2).min(MAX_FIELDS);
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    let over_limit = self
                        .outgrown(out_len, ends_len)
                        .then(|| longest_field(&self.ends[..ends_len], 0, out_len));
                    let tally = Tally::of(&self.raw, self.after_cr);
                    return Ok(Some(self.finish(tally, ends_len, over_limit)));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Whether the record being parsed went past a limit.
    fn outgrown(&self, out_len: usize, ends_len: usize) -> bool {
        if out_len <= self.max_field_bytes && self.raw.len() <= self.max_row_bytes() {
            return ends_len >= MAX_FIELDS;
        }
        self.raw.len() > self.max_row_bytes()
            || ends_len >= MAX_FIELDS
            || longest_field(&self.ends[..ends_len], 0, out_len) > self.max_field_bytes
    }

    /// Parses the rest of a record that outgrew the limits, discarding its bytes and keeping
    /// only its line breaks, quotes, field count and longest field.
    fn discard_record(&mut self, out_len: usize, ends_len: usize) -> io::Result<Span> {
        let mut tally = Tally::of(&self.raw, self.after_cr);
        self.raw = Vec::new();
        let mut longest = longest_field(&self.ends[..ends_len], 0, out_len);
        let mut field_start = ends_len.checked_sub(1).map_or(0, |last| self.ends[last]);
        let (mut written_so_far, mut fields) = (out_len, ends_len);
        loop {
            self.fill()?;
            let input: &[u8] = if self.replay_pos < self.replay.len() {
                &self.replay[self.replay_pos..]
            } else {
                &self.buffer[self.buffer_pos..self.buffer_end]
            };
            let (result, read, written, ended) =
                self.parser
                    .read_record(input, &mut self.output, &mut self.ends);
            tally.feed(&input[..read]);
            self.consume(read);
            written_so_far += written;
            fields += ended;
            longest = longest.max(longest_field(
                &self.ends[..ended],
                field_start,
                written_so_far,
            ));
            if let Some(&end) = self.ends[..ended].last() {
                field_start = end;
            }
            if matches!(result, ReadRecordResult::Record | ReadRecordResult::End) {
                return Ok(self.finish(tally, fields, Some(longest)));
            }
        }
    }

    /// The span of a record with these line breaks and quotes; moves the line count past it.
    fn finish(&mut self, tally: Tally, fields: usize, over_limit: Option<usize>) -> Span {
        let span = Span {
            line: self.line + tally.leading,
            fields,
            multiline: tally.inner > 0,
            unbalanced: tally.quotes % 2 == 1,
            over_limit,
        };
        self.line += tally.leading + tally.inner + tally.trailing;
        self.after_cr = tally.after_cr;
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
        let next_line =
            body.iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map_or(body.len(), |at| {
                    if body[at] == b'\r' && body.get(at + 1) == Some(&b'\n') {
                        at + 2
                    } else {
                        at + 1
                    }
                });
        let mut replay = std::mem::take(&mut self.raw);
        replay.drain(..body_start + next_line);
        replay.extend_from_slice(&self.replay[self.replay_pos..]);
        self.replay = replay;
        self.replay_pos = 0;
        self.line = line + 1;
        self.after_cr = false;
        self.parser = new_parser(self.delimiter);
    }

    /// Moves past `read` bytes of the replayed bytes, or else of the buffer.
    fn consume(&mut self, read: usize) {
        if self.replay_pos < self.replay.len() {
            self.replay_pos += read;
        } else {
            self.buffer_pos += read;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.replay_pos < self.replay.len() {
            return Ok(());
        }
        if !self.replay.is_empty() {
            self.replay = Vec::new();
            self.replay_pos = 0;
        }
        if self.buffer_pos < self.buffer_end || self.input_done {
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

/// The longest field of a record: `ends` are field ends after `start`, `written` the output
/// so far, whose last field may still be growing.
fn longest_field(ends: &[usize], mut start: usize, written: usize) -> usize {
    let mut longest = 0;
    for &end in ends {
        longest = longest.max(end - start);
        start = end;
    }
    longest.max(written.saturating_sub(start))
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

/// The line breaks (`\n`, `\r\n` or a lone `\r`) and quotes of a record's raw bytes, counted as
/// they are consumed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tally {
    /// The bytes so far end with `\r`, so a `\n` next completes that break.
    after_cr: bool,
    /// Breaks before the first other byte (blank lines csv-core skipped).
    leading: u64,
    /// Breaks between the first and the last other byte.
    inner: u64,
    /// Breaks after the last other byte.
    trailing: u64,
    quotes: u64,
    started: bool,
}

impl Tally {
    /// The tally of `bytes`; `after_cr` says the bytes before them ended with `\r`.
    fn of(bytes: &[u8], after_cr: bool) -> Tally {
        let mut tally = Tally {
            after_cr,
            leading: 0,
            inner: 0,
            trailing: 0,
            quotes: 0,
            started: false,
        };
        tally.feed(bytes);
        tally
    }

    fn feed(&mut self, bytes: &[u8]) {
        let Tally {
            mut after_cr,
            mut leading,
            mut inner,
            mut trailing,
            mut quotes,
            mut started,
        } = *self;
        for &b in bytes {
            match b {
                b'\n' if after_cr => after_cr = false,
                b'\n' | b'\r' => {
                    if started {
                        trailing += 1;
                    } else {
                        leading += 1;
                    }
                    after_cr = b == b'\r';
                }
                _ => {
                    quotes += u64::from(b == b'"');
                    inner += trailing;
                    trailing = 0;
                    started = true;
                    after_cr = false;
                }
            }
        }
        *self = Tally {
            after_cr,
            leading,
            inner,
            trailing,
            quotes,
            started,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Seen {
        Row(u64, Vec<String>),
        Bad(u64, String),
    }

    const LIMIT: usize = 16 << 20;

    fn read_all(text: &str) -> (Vec<String>, Vec<Seen>) {
        read_limited(text, LIMIT).unwrap()
    }

    /// The header and what follows, up to an error that stops reading.
    fn read_limited(text: &str, limit: usize) -> io::Result<(Vec<String>, Vec<Seen>)> {
        let mut reader = CsvReader::new(text.as_bytes(), limit)?;
        let header = reader.read_header()?.unwrap_or_default();
        let mut seen = Vec::new();
        while let Some(item) = reader.next_item()? {
            seen.push(match item {
                Item::Row(row) => {
                    Seen::Row(row.line, row.fields.iter().map(|f| f.to_string()).collect())
                }
                Item::Malformed(bad) => Seen::Bad(bad.line, bad.reason),
            });
        }
        Ok((header, seen))
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
    fn unclosed_quote_at_the_end_resumes_on_the_next_line() {
        let mut text = String::from("h1,h2\na,\"");
        text.push_str(&"x".repeat(2 << 20));
        text.push_str("\nb,c\n");
        let (_, rows) = read_all(&text);
        assert_eq!(rows, [Seen::Bad(2, rows_reason()), row(3, &["b", "c"])]);
    }

    #[test]
    fn a_five_megabyte_field_with_line_breaks_is_one_field() {
        let line = format!("{}\n", "plugin output ".repeat(7));
        let big = line.repeat((5 << 20) / line.len());
        let breaks = big.matches('\n').count() as u64;
        let text = format!("host,output\na,\"{big}\"\nb,small\nc,\"two\nlines\"\nd,e\n");
        let (_, rows) = read_all(&text);
        assert_eq!(
            rows,
            [
                row(2, &["a", &big]),
                row(3 + breaks, &["b", "small"]),
                row(4 + breaks, &["c", "two\nlines"]),
                row(6 + breaks, &["d", "e"]),
            ]
        );
    }

    #[test]
    fn a_field_over_the_limit_is_rejected_and_reading_resumes_after_it() {
        let big = "0123456789\n".repeat(300);
        for ending in ["\n", "\r\n", "\r"] {
            let big = big.replace('\n', ending);
            let text = ["h1,h2", "a,b", &format!("c,\"{big}\""), "d,e", ""].join(ending);
            let (_, rows) = read_limited(&text, 1000).unwrap();
            assert_eq!(
                rows,
                [
                    row(2, &["a", "b"]),
                    Seen::Bad(3, "field longer than 1000 bytes".into()),
                    row(304, &["d", "e"]),
                ],
                "{ending:?}"
            );
        }
        let exactly = "x".repeat(1000);
        let (_, rows) = read_limited(&format!("h1,h2\na,\"{exactly}\"\n"), 1000).unwrap();
        assert_eq!(rows, [row(2, &["a", &exactly])]);
    }

    #[test]
    fn rows_over_the_limits_are_rejected() {
        let field = "x".repeat(900);
        let text = format!("h1,h2,h3\n{field},{field},{field}\na,b,c\n");
        let (_, rows) = read_limited(&text, 1000).unwrap();
        assert_eq!(
            rows,
            [
                Seen::Bad(2, "row longer than 2000 bytes".into()),
                row(3, &["a", "b", "c"])
            ]
        );
        let text = format!("h1,h2\n{}\na,b\n", ",".repeat(MAX_FIELDS));
        let (_, rows) = read_all(&text);
        assert_eq!(
            rows,
            [
                Seen::Bad(2, format!("row of more than {MAX_FIELDS} fields")),
                row(3, &["a", "b"])
            ]
        );
        let error = read_limited(&format!("h1,\"{field}{field}\"\n"), 1000).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the header row has a field longer than 1000 bytes"
        );
    }

    #[test]
    fn an_unclosed_quote_past_the_limit_stops_reading_at_its_line() {
        let text = format!("h1,h2\na,b\nc,\"never closed\n{}", "d,e\n".repeat(1000));
        let error = read_limited(&text, 1000).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error
                .to_string()
                .starts_with("a quoted field opened on line 3 is not closed"),
            "{error}"
        );
        let (_, rows) = read_limited(&text, 10_000).unwrap();
        assert_eq!(
            rows.len(),
            1002,
            "within the limit, the rows after it are read"
        );
    }

    #[test]
    fn a_discarded_row_leaves_memory_bounded() {
        let text = format!("h1,h2\na,\"{}\"\nb,c\n", "x\n".repeat(10 << 20));
        let mut reader = CsvReader::new(text.as_bytes(), 1 << 20).unwrap();
        reader.read_header().unwrap();
        let Some(Item::Malformed(bad)) = reader.next_item().unwrap() else {
            panic!("the big row is rejected");
        };
        assert_eq!(bad.reason, "field longer than 1048576 bytes");
        assert!(
            reader.output.len() <= (2 << 20) + 1,
            "{}",
            reader.output.len()
        );
        assert!(
            reader.raw.capacity() <= BUFFER_BYTES,
            "{}",
            reader.raw.capacity()
        );
        let Some(Item::Row(row)) = reader.next_item().unwrap() else {
            panic!("the next row is read");
        };
        assert_eq!((row.line, row.fields), (3 + (10 << 20), vec!["b", "c"]));
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
        let mut reader = CsvReader::new(&b""[..], LIMIT).unwrap();
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
