//! Rows gathered in PostgreSQL's binary `COPY` format and sent in one `COPY` once enough have
//! gathered: an import stages its records in batches of about a thousand, and one `COPY` per
//! batch would spend more on starting them than on the rows.

use std::io::Write;

use bytes::{BufMut, BytesMut};
use postgres::Client;
use postgres::types::{IsNull, ToSql, Type};

use crate::store::StoreError;

/// The signature, flags and header extension length that open binary `COPY` data.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The size at which gathered rows are sent.
const SEND_AT: usize = 1 << 20;

pub(super) struct CopyBuffer {
    /// `COPY … FROM STDIN BINARY`.
    statement: &'static str,
    types: &'static [Type],
    rows: BytesMut,
}

impl CopyBuffer {
    pub(super) fn new(statement: &'static str, types: &'static [Type]) -> Self {
        CopyBuffer {
            statement,
            types,
            rows: BytesMut::new(),
        }
    }

    /// Adds a row (one value per type), sending what has gathered once it is large.
    pub(super) fn push(
        &mut self,
        client: &mut Client,
        row: &[&(dyn ToSql + Sync)],
    ) -> Result<(), StoreError> {
        debug_assert_eq!(row.len(), self.types.len());
        self.rows.put_i16(row.len() as i16);
        for (value, ty) in row.iter().zip(self.types) {
            let length_at = self.rows.len();
            self.rows.put_i32(0);
            let length = match value
                .to_sql_checked(ty, &mut self.rows)
                .map_err(StoreError::Database)?
            {
                IsNull::Yes => -1,
                IsNull::No => (self.rows.len() - length_at - 4) as i32,
            };
            self.rows[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
        }
        if self.rows.len() >= SEND_AT {
            self.send(client)?;
        }
        Ok(())
    }

    /// Sends the rows gathered so far in one `COPY`.
    pub(super) fn send(&mut self, client: &mut Client) -> Result<(), StoreError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut writer = client.copy_in(self.statement)?;
        writer.write_all(HEADER)?;
        writer.write_all(&self.rows)?;
        writer.write_all(&(-1i16).to_be_bytes())?;
        writer.finish()?;
        self.rows.clear();
        Ok(())
    }
}
