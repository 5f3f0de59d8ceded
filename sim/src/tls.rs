//! A TLS front for the simulator, as StarRocks's FE serves TLS on its query port: the greeting
//! advertises CLIENT_SSL, a client that answers with an SSLRequest is switched to TLS, and from
//! then on every packet is encrypted. The front terminates TLS and relays to the simulator's plain
//! port, so the simulator behind it stays exactly as strict (errnos, auth, statements) as without.
//!
//! Connection phase relaying: the client's handshake response arrives (over TLS) with sequence id
//! 2 because its SSLRequest was 1; the plain server expects 1, so until the server ends the phase
//! (OK or ERR) client packets are sent one lower and server packets one higher. After that the
//! bytes are copied as they are (every command restarts sequence ids at 0).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// CLIENT_SSL in the capability flags.
const CLIENT_SSL: u32 = 0x0000_0800;

/// A running TLS front; stops when dropped.
pub struct TlsFront {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsFront {
    /// Serves TLS on a free 127.0.0.1 port in front of the simulator's `sim_port`, with the given
    /// certificate chain (DER, leaf first) and PKCS#8 private key (DER).
    pub fn start(
        sim_port: u16,
        chain: Vec<Vec<u8>>,
        key_pkcs8: Vec<u8>,
    ) -> anyhow::Result<TlsFront> {
        let certs: Vec<CertificateDer<'static>> =
            chain.into_iter().map(CertificateDer::from).collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sim-tls".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => {
                                if let Ok((sock, _)) = accepted {
                                    let acceptor = acceptor.clone();
                                    tokio::spawn(async move {
                                        let _ = relay(acceptor, sock, sim_port).await;
                                    });
                                }
                            }
                        }
                    }
                });
            })?;
        Ok(TlsFront {
            port,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn read_packet<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head).await?;
    let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok((head[3], payload))
}

async fn write_packet<W: AsyncWrite + Unpin>(
    w: &mut W,
    seq: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let len = payload.len();
    let head = [
        (len & 0xff) as u8,
        ((len >> 8) & 0xff) as u8,
        ((len >> 16) & 0xff) as u8,
        seq,
    ];
    w.write_all(&head).await?;
    w.write_all(payload).await?;
    w.flush().await
}

fn caps(payload: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    for (i, v) in payload.iter().take(4).enumerate() {
        b[i] = *v;
    }
    u32::from_le_bytes(b)
}

/// Offset of the lower capability flags in a HandshakeV10 greeting.
fn greeting_caps_offset(greeting: &[u8]) -> Option<usize> {
    // protocol(1) + server version (NUL-terminated) + connection id(4) + auth data(8) + filler(1)
    let nul = greeting.iter().skip(1).position(|b| *b == 0)? + 1;
    let at = nul + 1 + 4 + 8 + 1;
    (at + 2 <= greeting.len()).then_some(at)
}

async fn relay(
    acceptor: TlsAcceptor,
    mut client: tokio::net::TcpStream,
    sim_port: u16,
) -> std::io::Result<()> {
    let mut server = tokio::net::TcpStream::connect(("127.0.0.1", sim_port)).await?;
    let (seq, mut greeting) = read_packet(&mut server).await?;
    if let Some(at) = greeting_caps_offset(&greeting) {
        greeting[at + 1] |= (CLIENT_SSL >> 8) as u8;
    }
    write_packet(&mut client, seq, &greeting).await?;
    let (seq, first) = read_packet(&mut client).await?;
    if caps(&first) & CLIENT_SSL == 0 {
        // a plain client: relay as is
        write_packet(&mut server, seq, &first).await?;
        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        return Ok(());
    }
    let mut tls = acceptor.accept(client).await?;
    // the connection phase, sequence ids shifted by the SSLRequest
    let (seq, mut response) = read_packet(&mut tls).await?;
    if response.len() >= 4 {
        let c = caps(&response) & !CLIENT_SSL;
        response[..4].copy_from_slice(&c.to_le_bytes());
    }
    write_packet(&mut server, seq.wrapping_sub(1), &response).await?;
    loop {
        let (seq, payload) = read_packet(&mut server).await?;
        write_packet(&mut tls, seq.wrapping_add(1), &payload).await?;
        match payload.first() {
            Some(0x00) | Some(0xff) => break,
            _ => {
                // auth switch / more data: the client answers
                let (seq, answer) = read_packet(&mut tls).await?;
                write_packet(&mut server, seq.wrapping_sub(1), &answer).await?;
            }
        }
    }
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}
