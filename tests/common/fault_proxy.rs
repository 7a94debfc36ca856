//! A loopback TCP proxy that injects network faults between a client and a server on
//! 127.0.0.1: black holes (bytes dropped, no reset), severed connections that stay open
//! (half-open: the client must notice by itself), and, for HTTP, `500` answers. It runs
//! on its own runtime thread, so the test may block freely; dropping it stops it.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with traffic from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    Forward,
    /// Accept and read everything, forward nothing, close nothing: the network swallows
    /// the bytes. Connections alive when the black hole starts stay dead after it ends
    /// (their lost bytes broke the stream); new connections work again.
    BlackHole,
    /// Answer every HTTP request with `500 Internal Server Error` and close.
    Http500,
}

#[derive(Debug)]
struct State {
    fault: Fault,
    /// Connections opened before this generation are dead (swallowed, never closed).
    severed_before: u64,
    /// Connections accepted so far; the next one's generation.
    connections: u64,
}

impl State {
    fn alive(&self, generation: u64) -> bool {
        self.fault != Fault::BlackHole && generation >= self.severed_before
    }
}

/// The proxy: listening on `127.0.0.1:{port}` (a free port it picks), forwarding to
/// `127.0.0.1:{upstream}`.
pub struct FaultProxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// A proxy on a free port of 127.0.0.1 in front of `upstream` (on 127.0.0.1 too).
    pub fn start(upstream: u16) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .unwrap_or_else(|e| panic!("the proxy cannot listen on 127.0.0.1: {e}"));
        let port = listener.local_addr().expect("a bound address").port();
        let state = Arc::new(Mutex::new(State {
            fault: Fault::Forward,
            severed_before: 0,
            connections: 0,
        }));
        let accepting = Arc::clone(&state);
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).expect("a listener for tokio");
            accept(listener, upstream, accepting).await;
        });
        Self {
            port,
            state,
            runtime: Some(runtime),
        }
    }

    /// From now on, `fault`. Ending a black hole leaves the connections it swallowed dead.
    pub fn set(&self, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        if state.fault == Fault::BlackHole && fault != Fault::BlackHole {
            state.severed_before = state.connections;
        }
        state.fault = fault;
    }

    /// Every open connection goes silent for good, without a FIN or a reset (the server
    /// vanished); new connections work.
    pub fn sever(&self) {
        let mut state = self.state.lock().unwrap();
        state.severed_before = state.connections;
    }

    /// How many connections clients have opened through the proxy.
    pub fn connections(&self) -> u64 {
        self.state.lock().unwrap().connections
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Stops every task (and closes every socket) without blocking: tests drop the
        // proxy from async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept(listener: TcpListener, upstream: u16, state: Arc<Mutex<State>>) {
    while let Ok((client, _)) = listener.accept().await {
        let generation = {
            let mut state = state.lock().unwrap();
            state.connections += 1;
            state.connections - 1
        };
        tokio::spawn(relay(client, upstream, generation, Arc::clone(&state)));
    }
}

async fn relay(client: TcpStream, upstream: u16, generation: u64, state: Arc<Mutex<State>>) {
    let (client_read, client_write) = client.into_split();
    // During a black hole nothing reaches the server, not even the connection.
    let server = if state.lock().unwrap().alive(generation) {
        TcpStream::connect(("127.0.0.1", upstream)).await.ok()
    } else {
        None
    };
    let Some(server) = server else {
        // Unreachable server (or a black hole): swallow what the client sends until it
        // gives up; the connection is never answered, never reset.
        swallow(client_read).await;
        return;
    };
    let (server_read, server_write) = server.into_split();
    let client_write = Arc::new(tokio::sync::Mutex::new(client_write));
    tokio::join!(
        pump(
            client_read,
            Sink::Server(server_write, Arc::clone(&client_write)),
            generation,
            &state
        ),
        pump(server_read, Sink::Client(client_write), generation, &state),
    );
}

async fn swallow(mut from: OwnedReadHalf) {
    let mut buf = vec![0; 16 * 1024];
    while matches!(from.read(&mut buf).await, Ok(n) if n > 0) {}
}

enum Sink {
    /// Towards the server; the client's write half is there to answer `500` in its place.
    Server(OwnedWriteHalf, Arc<tokio::sync::Mutex<OwnedWriteHalf>>),
    Client(Arc<tokio::sync::Mutex<OwnedWriteHalf>>),
}

const HTTP_500: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n\
content-length: 50\r\nconnection: close\r\n\r\n{\"error_code\":50001,\"message\":\"injected by proxy\"}";

async fn pump(mut from: OwnedReadHalf, mut to: Sink, generation: u64, state: &Mutex<State>) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (alive, fault) = {
            let state = state.lock().unwrap();
            (state.alive(generation), state.fault)
        };
        if !alive {
            continue;
        }
        let written = match &mut to {
            Sink::Server(_, client) if fault == Fault::Http500 => {
                let mut client = client.lock().await;
                let _ = client.write_all(HTTP_500).await;
                let _ = client.shutdown().await;
                return;
            }
            Sink::Server(server, _) => server.write_all(&buf[..n]).await,
            Sink::Client(client) => client.lock().await.write_all(&buf[..n]).await,
        };
        if written.is_err() {
            return;
        }
    }
    // The reading side closed: pass the close on, unless the connection is dead (a dead
    // connection tells the other side nothing).
    if state.lock().unwrap().alive(generation) {
        let _ = match &mut to {
            Sink::Server(server, _) => server.shutdown().await,
            Sink::Client(client) => client.lock().await.shutdown().await,
        };
    }
}
