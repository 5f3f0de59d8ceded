//! Stream wrappers between the socket and opensrv: ERR packets rewritten to the real errno on the
//! way out, unknown prepared-statement ids answered (not dropped) on the way in.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use opensrv_mysql::ErrorKind;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::server::*;

/// Output stream wrapper rewriting ERR packets: it puts the marked errno in place and turns
/// opensrv's authentication failure into MySQL's 1045 "Access denied".
///
/// Built for large result sets (a 1M-row partitions_meta answer): packets other than ERR are copied
/// through without allocation, writes are vectored (opensrv writes header + payload as two slices),
/// the output buffer is consumed by an offset (never shifted), and it is drained to the socket while
/// rows are still being written, so the client decodes while the simulator encodes.
pub(crate) struct Rewriter<W> {
    inner: W,
    pending: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of `out` already written to `inner`.
    out_pos: usize,
    auth_user: Arc<Mutex<String>>,
}

/// Above this many buffered bytes a write first pushes them to the socket (backpressure).
pub(crate) const HIGH_WATER: usize = 1 << 20;

impl<W> Rewriter<W> {
    pub(crate) fn new(inner: W, auth_user: Arc<Mutex<String>>) -> Self {
        Rewriter {
            inner,
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            auth_user,
        }
    }

    fn sqlstate(code: u16) -> &'static [u8; 5] {
        match code {
            1045 => b"28000",
            1064 | 1049 => b"42000",
            1051 => b"42S02",
            _ => b"HY000",
        }
    }

    /// The replacement payload of an ERR packet, if it needs one.
    fn rewrite(&self, payload: &[u8]) -> Option<Vec<u8>> {
        if payload.len() < 9 || payload[0] != 0xFF {
            return None;
        }
        let code = u16::from_le_bytes([payload[1], payload[2]]);
        let msg = &payload[9..];
        if code == ErrorKind::ER_ACCESS_DENIED_NO_PASSWORD_ERROR as u16 {
            let user = self.auth_user.lock().map(|u| u.clone()).unwrap_or_default();
            let text = format!("Access denied for user '{user}' (using password: YES)");
            return Some(err_payload(1045, text.as_bytes()));
        }
        if msg.first() == Some(&1) {
            if let Some(end) = msg[1..].iter().position(|&b| b == 1) {
                let num = std::str::from_utf8(&msg[1..1 + end])
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok());
                if let Some(num) = num {
                    return Some(err_payload(num, &msg[2 + end..]));
                }
            }
        }
        None
    }

    /// Moves every complete packet of `buf` (after what `pending` holds) to `out`.
    fn accept(&mut self, buf: &[u8]) {
        let owned;
        let data: &[u8] = if self.pending.is_empty() {
            buf
        } else {
            self.pending.extend_from_slice(buf);
            owned = std::mem::take(&mut self.pending);
            &owned
        };
        let mut pos = 0;
        while data.len() - pos >= 4 {
            let rest = &data[pos..];
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], 0]) as usize;
            if rest.len() < 4 + len {
                break;
            }
            let payload = &rest[4..4 + len];
            match (len < 0xFF_FFFF).then(|| self.rewrite(payload)).flatten() {
                Some(p) => {
                    let l = p.len() as u32;
                    self.out.extend_from_slice(&l.to_le_bytes()[..3]);
                    self.out.push(rest[3]);
                    self.out.extend_from_slice(&p);
                }
                None => self.out.extend_from_slice(&rest[..4 + len]),
            }
            pos += 4 + len;
        }
        self.pending = data[pos..].to_vec();
    }

    fn buffered(&self) -> usize {
        self.out.len() - self.out_pos
    }
}

pub(crate) fn err_payload(code: u16, msg: &[u8]) -> Vec<u8> {
    let mut p = vec![0xFF];
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(Rewriter::<()>::sqlstate(code));
    p.extend_from_slice(msg);
    p
}

impl<W: AsyncWrite + Unpin> Rewriter<W> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::WriteZero, "closed")))
                }
                Poll::Ready(Ok(n)) => self.out_pos += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Backpressure: with a lot buffered, push it out before taking more.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buffered() >= HIGH_WATER {
            match self.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if self.buffered() >= 8 * HIGH_WATER => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Rewriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_room(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        this.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_room(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        // opensrv writes one packet as [header, payload]: take it without copying it twice
        if let [h, p] = bufs {
            let len = u32::from_le_bytes([
                h.first().copied().unwrap_or(0),
                h.get(1).copied().unwrap_or(0),
                h.get(2).copied().unwrap_or(0),
                0,
            ]) as usize;
            if this.pending.is_empty() && h.len() == 4 && p.len() == len && len < 0xFF_FFFF {
                match this.rewrite(p) {
                    Some(new) => {
                        let l = new.len() as u32;
                        this.out.extend_from_slice(&l.to_le_bytes()[..3]);
                        this.out.push(h[3]);
                        this.out.extend_from_slice(&new);
                    }
                    None => {
                        this.out.extend_from_slice(h);
                        this.out.extend_from_slice(p);
                    }
                }
                return Poll::Ready(Ok(4 + len));
            }
        }
        let mut n = 0;
        for b in bufs {
            this.accept(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

/// Input stream wrapper in front of opensrv: a COM_STMT_EXECUTE of a statement id this connection
/// does not know (never prepared, or closed) would make opensrv drop the connection, so it is
/// replaced by a COM_QUERY of [`UNKNOWN_STMT_MARKER`] (the backend answers StarRocks' error); a
/// COM_STMT_CLOSE forgets its id at once (the client may send EXECUTE right behind it).
///
/// Only the head of each packet is buffered; the rest streams through. A read never returns bytes
/// of two packets: opensrv's packet reader mishandles a second packet in the same buffer (it
/// answers a pipelined COM_STMT_CLOSE + COM_STMT_EXECUTE with a stray OK).
pub(crate) struct CommandFilter<R> {
    inner: R,
    prepared: Arc<Mutex<Prepared>>,
    /// Header and first payload bytes of the packet being looked at.
    head: Vec<u8>,
    /// Bytes of the current packet still to copy through / to drop.
    pass: usize,
    skip: usize,
    out: Vec<u8>,
    out_pos: usize,
    /// Offsets in `out` where a packet ends.
    ends: std::collections::VecDeque<usize>,
    eof: bool,
}

pub(crate) const COM_STMT_EXECUTE: u8 = 0x17;
pub(crate) const COM_STMT_CLOSE: u8 = 0x19;

impl<R> CommandFilter<R> {
    pub(crate) fn new(inner: R, prepared: Arc<Mutex<Prepared>>) -> Self {
        CommandFilter {
            inner,
            prepared,
            head: Vec::with_capacity(9),
            pass: 0,
            skip: 0,
            out: Vec::new(),
            out_pos: 0,
            ends: std::collections::VecDeque::new(),
            eof: false,
        }
    }

    fn accept(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pass > 0 {
                let n = self.pass.min(data.len());
                self.out.extend_from_slice(&data[..n]);
                self.pass -= n;
                data = &data[n..];
                if self.pass == 0 {
                    self.ends.push_back(self.out.len());
                }
                continue;
            }
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            // the header, then up to 5 payload bytes (command + statement id)
            let want = if self.head.len() < 4 {
                4
            } else {
                let len = u32::from_le_bytes([self.head[0], self.head[1], self.head[2], 0]);
                4 + (len as usize).min(5)
            };
            if self.head.len() < want {
                let n = (want - self.head.len()).min(data.len());
                self.head.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.head.len() < 4 || self.head.len() < want {
                    continue;
                }
                if want == 4 {
                    let len = u32::from_le_bytes([self.head[0], self.head[1], self.head[2], 0]);
                    if len > 0 {
                        continue;
                    }
                }
            }
            self.decide();
        }
    }

    /// Called with a complete head: forwards it (and arranges the rest of the packet) or replaces it.
    fn decide(&mut self) {
        let h = std::mem::take(&mut self.head);
        let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
        let seq = h[3];
        let payload = &h[4..];
        if seq == 0 && payload.len() == 5 {
            let id = u32::from_le_bytes([payload[1], payload[2], payload[3], payload[4]]);
            let mut p = lock_prepared(&self.prepared);
            if payload[0] == COM_STMT_CLOSE {
                p.stmts.remove(&id);
            } else if payload[0] == COM_STMT_EXECUTE && !p.stmts.contains_key(&id) {
                p.unknown = Some(id);
                drop(p);
                let q = UNKNOWN_STMT_MARKER.as_bytes();
                let l = (q.len() + 1) as u32;
                self.out.extend_from_slice(&l.to_le_bytes()[..3]);
                self.out.push(0);
                self.out.push(0x03); // COM_QUERY
                self.out.extend_from_slice(q);
                self.ends.push_back(self.out.len());
                self.skip = len - 5;
                self.head = h;
                self.head.clear();
                return;
            }
        }
        self.out.extend_from_slice(&h);
        self.pass = len - payload.len();
        if self.pass == 0 {
            self.ends.push_back(self.out.len());
        }
        self.head = h;
        self.head.clear();
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for CommandFilter<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let limit = this.ends.front().copied().unwrap_or(this.out.len());
                let n = buf.remaining().min(limit - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.ends.front() == Some(&this.out_pos) {
                    this.ends.pop_front();
                }
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                    this.ends.clear();
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut tmp = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    if got.is_empty() {
                        // end of stream: hand on whatever partial head there is
                        this.eof = true;
                        let h = std::mem::take(&mut this.head);
                        this.out.extend_from_slice(&h);
                    } else {
                        this.accept(got);
                    }
                }
            }
        }
    }
}
