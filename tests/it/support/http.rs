//! Plain HTTP/1.1 over a real TCP connection, one request per connection
//! (`Connection: close`), as the tests talk to the real router: written by
//! hand so that a test controls every byte, read back into a [`Reply`].

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response: its status, headers (names in lower case) and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn parse(raw: &[u8]) -> Reply {
        let text = String::from_utf8(raw.to_vec()).expect("a UTF-8 response");
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of headers in {text:?}"));
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (name, value) = l.split_once(':').expect("a header line has a colon");
                (name.trim().to_ascii_lowercase(), value.trim().to_string())
            })
            .collect();
        assert!(
            !headers
                .iter()
                .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")),
            "this client does not decode chunked bodies"
        );
        Reply {
            status,
            headers,
            body: body.to_string(),
        }
    }

    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path`, closing the connection after the answer.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: arshjul\r\nConnection: close\r\n\r\n")
}

/// A browser-like form `POST path`; `extra` are more header lines, each
/// ending in CRLF.
pub fn post(path: &str, form: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: arshjul\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         User-Agent: Testbrowser/1.0\r\n{extra}\r\n{form}",
        form.len()
    )
}

/// Sends `request` to `addr` and reads the answer to the end (blocking,
/// for tests that run the binary; 10 s at most for the answer).
pub fn send(addr: impl ToSocketAddrs, request: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to the router");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    Reply::parse(&raw)
}

/// [`send`] on the async runtime.
pub async fn send_async(addr: std::net::SocketAddr, request: &str) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the router");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    Reply::parse(&raw)
}
