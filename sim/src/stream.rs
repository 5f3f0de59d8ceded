//! Streaming a big SELECT answer: SQLite steps on a blocking thread (holding the cluster lock, as a
//! buffered answer does) and hands full chunks of rows over while the connection's task writes the
//! chunks already produced, so the client decodes while the simulator still produces (wall time of
//! a 1M-row answer: the larger of the two instead of their sum).
//!
//! What the client sees is unchanged: the same column definitions, the same rows in the same text
//! protocol, the same terminal packet. An answer of at most [`CHUNK_ROWS`] rows is never streamed
//! (nothing is sent before SQLite has stepped past it). The channel is unbounded so the producer
//! never waits for the socket while it holds the cluster lock (a bounded one could park every worker
//! thread on the lock while the writer waits for a worker); at worst it buffers what a buffered
//! answer held.

use std::io;

use opensrv_mysql::{Column, RowWriter, ToMysqlValue};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use crate::cluster::FlatRows;

/// Rows in a chunk handed to the writer (~150 KB of a partitions_meta answer).
pub(crate) const CHUNK_ROWS: usize = 1024;

/// Where a top-level SELECT sends full chunks of rows (each with the column names) while SQLite steps.
pub(crate) type RowSink = mpsc::UnboundedSender<FlatRows>;

/// The receiving end, read by the connection's task.
pub(crate) type RowSource = mpsc::UnboundedReceiver<FlatRows>;

pub(crate) fn channel() -> (RowSink, RowSource) {
    mpsc::unbounded_channel()
}

/// Which protocol a result set is written in: text for COM_QUERY, binary for a prepared SELECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Text,
    Binary,
}

/// Writes the rows of `f`, one packet a row. In the text protocol each row is encoded here into
/// one reused buffer and handed to opensrv as one piece (the same bytes its per-cell writer puts
/// out: a length-encoded string per cell, 0xFB for NULL), which saves the packet buffer growing
/// cell by cell; the binary protocol keeps opensrv's per-cell writer (it needs the NULL bitmap).
pub(crate) async fn write_flat<W: AsyncWrite + Send + Unpin>(
    rw: &mut RowWriter<'_, W>,
    f: &FlatRows,
    proto: Protocol,
) -> io::Result<()> {
    if proto == Protocol::Binary {
        for row in f.rows() {
            for v in row {
                rw.write_col(v)?;
            }
            rw.end_row().await?;
        }
        return Ok(());
    }
    let n = f.columns.len();
    let mut buf = Vec::with_capacity(256);
    for row in f.rows() {
        buf.clear();
        for v in row {
            encode_text_cell(&mut buf, v);
        }
        rw.write_col(EncodedRow(&buf))?;
        for _ in 1..n {
            rw.write_col(EncodedRow(&[]))?;
        }
        rw.end_row().await?;
    }
    Ok(())
}

/// One cell in the text protocol: NULL is 0xFB, a value a length-encoded string.
pub(crate) fn encode_text_cell(out: &mut Vec<u8>, v: Option<&[u8]>) {
    let Some(b) = v else {
        out.push(0xFB);
        return;
    };
    let len = b.len() as u64;
    if len < 251 {
        out.push(len as u8);
    } else if len < 1 << 16 {
        out.push(0xFC);
        out.extend_from_slice(&len.to_le_bytes()[..2]);
    } else if len < 1 << 24 {
        out.push(0xFD);
        out.extend_from_slice(&len.to_le_bytes()[..3]);
    } else {
        out.push(0xFE);
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(b);
}

/// Bytes already encoded for the text protocol, written as they are (a whole row as its first
/// column, nothing for the others: the row writer still counts the columns).
struct EncodedRow<'a>(&'a [u8]);

impl ToMysqlValue for EncodedRow<'_> {
    fn to_mysql_text<W: std::io::Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(self.0)
    }

    fn to_mysql_bin<W: std::io::Write>(&self, _w: &mut W, _c: &Column) -> io::Result<()> {
        Err(io::Error::other(
            "an encoded text row in a binary result set",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written encoding is byte for byte opensrv's (what the client decodes).
    #[test]
    fn cells_encode_as_opensrv_does() {
        for len in [
            0usize,
            1,
            250,
            251,
            252,
            65_535,
            65_536,
            70_000,
            (1 << 24) + 3,
        ] {
            let cell = vec![b'x'; len];
            let mut ours = Vec::new();
            encode_text_cell(&mut ours, Some(&cell));
            let mut theirs = Vec::new();
            Some(cell.as_slice())
                .to_mysql_text(&mut theirs)
                .expect("encode");
            assert_eq!(ours, theirs, "cell of {len} bytes");
        }
        let mut ours = Vec::new();
        encode_text_cell(&mut ours, None);
        let mut theirs = Vec::new();
        None::<&[u8]>.to_mysql_text(&mut theirs).expect("encode");
        assert_eq!(ours, theirs);
    }
}
