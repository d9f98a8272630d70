//! Just enough HTTP/2 (RFC 9113) for one request with prior knowledge: the preface, our
//! SETTINGS, one stream (HEADERS + DATA), then frames read until that stream ends, with
//! the server's SETTINGS and PINGs acknowledged on the way. Every frame, header block and
//! body is capped, and every read and write gives up at the deadline.

use std::io::{self, BufReader, Read, Write};

use super::hpack::{self, Field};
use crate::error::{Error, Http2Fault, Phase};
use crate::net::io_failure;
use crate::probe::wire::{other_protocol, recognise};

const GRPC: &str = "grpc://";
use crate::probe::{Budget, Report};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types (RFC 9113 6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;

// Flags.
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

// Settings we send.
const SETTINGS_ENABLE_PUSH: u16 = 0x2;
const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// The one stream we open.
const STREAM: u32 = 1;
/// Our SETTINGS_MAX_FRAME_SIZE, left at the protocol's default: no frame may be larger,
/// either way.
const MAX_FRAME: usize = 16_384;
/// The dynamic table the server's encoder may use (SETTINGS_HEADER_TABLE_SIZE, default).
const HEADER_TABLE_SIZE: usize = 4096;
/// Our SETTINGS_MAX_HEADER_LIST_SIZE; also the cap on an encoded header block.
const MAX_HEADER_LIST: usize = 16 * 1024;

/// What came back on our stream.
pub struct Response {
    pub headers: Vec<Field>,
    /// Empty when the headers ended the stream (gRPC's Trailers-Only reply).
    pub trailers: Vec<Field>,
    pub body: Vec<u8>,
}

/// Sends one request (`body` may be at most `max_body` back) and reads the response.
pub fn exchange<S: Read + Write>(
    stream: S,
    headers: &[(String, String)],
    body: &[u8],
    max_body: usize,
    budget: &Budget,
    report: &mut Report,
) -> Result<Response, Error> {
    let mut connection = Connection {
        reader: BufReader::with_capacity(4096, stream),
        decoder: hpack::Decoder::new(HEADER_TABLE_SIZE),
        phase: Phase::Response,
    };
    connection.write(&request(headers, body))?;
    report.note(budget, "sent the request");
    connection.expect_preface()?;
    let response = connection.read_response(max_body, budget, report)?;
    // A polite close, so the server has no broken connection to log; it may be gone.
    let mut goaway = Vec::new();
    push_frame(&mut goaway, GOAWAY, 0, 0, &[0; 8]);
    connection.write(&goaway).ok();
    Ok(response)
}

/// The preface, our SETTINGS, and the request on stream 1, for one write.
fn request(headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    let mut settings = Vec::new();
    for (id, value) in [
        // We accept no pushed streams.
        (SETTINGS_ENABLE_PUSH, 0),
        (SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST as u32),
    ] {
        settings.extend_from_slice(&id.to_be_bytes());
        settings.extend_from_slice(&value.to_be_bytes());
    }
    push_frame(&mut out, SETTINGS, 0, 0, &settings);
    // Sent before the server's SETTINGS arrive, which is allowed: until then its limits
    // are the defaults, and our frames fit within them.
    push_frames(&mut out, HEADERS, END_HEADERS, &hpack::encode(headers));
    push_frames(&mut out, DATA, END_STREAM, body);
    out
}

/// `payload` as frames of at most MAX_FRAME bytes on our stream (a header block goes on
/// in CONTINUATION frames), `last_flag` on the last one.
fn push_frames(out: &mut Vec<u8>, kind: u8, last_flag: u8, payload: &[u8]) {
    let count = payload.len().div_ceil(MAX_FRAME).max(1);
    for index in 0..count {
        let chunk = &payload[index * MAX_FRAME..payload.len().min((index + 1) * MAX_FRAME)];
        let kind = if index > 0 && kind == HEADERS {
            CONTINUATION
        } else {
            kind
        };
        let flags = if index + 1 == count { last_flag } else { 0 };
        push_frame(out, kind, flags, STREAM, chunk);
    }
}

fn push_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

struct Connection<S> {
    reader: BufReader<S>,
    decoder: hpack::Decoder,
    /// What a timeout or a closed connection interrupts.
    phase: Phase,
}

impl<S: Read + Write> Connection<S> {
    /// The server's side of the preface is a SETTINGS frame; anything else says what the
    /// server speaks instead.
    fn expect_preface(&mut self) -> Result<(), Error> {
        let mut head = [0; 9];
        let mut filled = 0;
        while filled < head.len() {
            match self.reader.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Closed or reset before a whole frame header: what came tells the most.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                // A TLS alert, then silence: the bytes say more than the deadline.
                Err(e) => match recognise(&head[..filled]) {
                    Some((_, scheme)) if scheme != Some(GRPC) => {
                        return Err(other_protocol("a gRPC server", GRPC, &head[..filled]));
                    }
                    _ => {
                        return Err(match io_failure(&e, self.phase) {
                            Error::Timeout(phase) if filled == 0 => Error::SentNothing(phase),
                            error => error,
                        });
                    }
                },
            }
        }
        // What has arrived so far tells what the server speaks, if not HTTP/2.
        let said = [&head[..filled], self.reader.buffer()].concat();
        match recognise(&said) {
            Some((_, Some(GRPC))) | None => {}
            Some(_) => return Err(other_protocol("a gRPC server", GRPC, &said)),
        }
        if filled < head.len() {
            // A TLS server mostly says nothing to a first record that is not TLS.
            return Err(Error::OtherProtocol(
                "the server closed the connection without an HTTP/2 answer (TLS? try grpcs://)"
                    .to_string(),
            ));
        }
        let frame = self.read_payload(head)?;
        if frame.kind != SETTINGS || frame.flags & ACK != 0 {
            return Err(Error::OtherProtocol(
                "not an HTTP/2 server: its first frame is not SETTINGS".to_string(),
            ));
        }
        self.on_settings(&frame)
    }

    /// Reads frames until our stream ends.
    fn read_response(
        &mut self,
        max_body: usize,
        budget: &Budget,
        report: &mut Report,
    ) -> Result<Response, Error> {
        let mut headers = None;
        let mut body = Vec::new();
        loop {
            let frame = self.read_frame()?;
            let ours = frame.stream == STREAM;
            let end_stream = frame.flags & END_STREAM != 0;
            match frame.kind {
                SETTINGS => self.on_settings(&frame)?,
                PING if frame.flags & ACK == 0 => {
                    if frame.payload.len() != 8 || frame.stream != 0 {
                        return Err(protocol_error("malformed PING"));
                    }
                    let mut pong = Vec::new();
                    push_frame(&mut pong, PING, ACK, 0, &frame.payload);
                    self.write(&pong)?;
                }
                GOAWAY => on_goaway(&frame)?,
                RST_STREAM if ours => {
                    let code = frame.payload.get(..4).map_or(u32::MAX, be32);
                    return Err(Error::StreamReset(error_name(code)));
                }
                HEADERS if ours => {
                    let block = self.header_block(&frame)?;
                    let fields = self
                        .decoder
                        .decode(&block, MAX_HEADER_LIST)
                        .map_err(|e| Error::Http2(Http2Fault::HeaderBlock(e.to_string())))?;
                    match headers.take() {
                        // gRPC's Trailers-Only reply: the status in the only header block.
                        None if end_stream => {
                            report.note(budget, "response (trailers only)");
                            return Ok(Response {
                                headers: fields,
                                trailers: Vec::new(),
                                body,
                            });
                        }
                        None => {
                            report.note(budget, "response headers");
                            self.phase = Phase::Body;
                            headers = Some(fields);
                        }
                        Some(headers) if end_stream => {
                            report.note(budget, "trailers");
                            return Ok(Response {
                                headers,
                                trailers: fields,
                                body,
                            });
                        }
                        Some(_) => {
                            return Err(protocol_error("trailers that do not end the stream"));
                        }
                    }
                }
                DATA if ours => {
                    if headers.is_none() {
                        return Err(protocol_error("DATA before the response headers"));
                    }
                    let content = content(&frame)?;
                    if body.len() + content.len() > max_body {
                        return Err(Error::ReplyTooLarge(max_body));
                    }
                    body.extend_from_slice(content);
                    if end_stream {
                        return Ok(Response {
                            headers: headers.unwrap_or_default(),
                            trailers: Vec::new(),
                            body,
                        });
                    }
                }
                DATA | HEADERS | CONTINUATION | PUSH_PROMISE => {
                    return Err(protocol_error(&format!(
                        "unexpected frame of type {} on stream {}",
                        frame.kind, frame.stream
                    )));
                }
                // PRIORITY, WINDOW_UPDATE, PING acknowledgements, unknown types, and resets
                // of streams that are not ours: nothing to do (RFC 9113 4.1, 5.5).
                _ => {}
            }
        }
    }

    /// A header block: the HEADERS frame's fragment and any CONTINUATION frames after it.
    fn header_block(&mut self, frame: &Frame) -> Result<Vec<u8>, Error> {
        let mut block = content(frame)?.to_vec();
        let mut flags = frame.flags;
        while flags & END_HEADERS == 0 {
            let next = self.read_frame()?;
            if next.kind != CONTINUATION || next.stream != STREAM {
                return Err(protocol_error(
                    "a header block interrupted by another frame",
                ));
            }
            block.extend_from_slice(&next.payload);
            if block.len() > MAX_HEADER_LIST {
                return Err(Error::HeadersTooLarge(MAX_HEADER_LIST));
            }
            flags = next.flags;
        }
        Ok(block)
    }

    /// The server's settings change nothing we send (our frames are within every limit it
    /// may set, and our request within the initial window), so they only need an ACK.
    fn on_settings(&mut self, frame: &Frame) -> Result<(), Error> {
        if frame.flags & ACK != 0 {
            // RFC 9113 6.5: an ACK carries nothing; one that does is a broken peer.
            if !frame.payload.is_empty() {
                return Err(protocol_error("SETTINGS ACK with a payload"));
            }
            return Ok(());
        }
        if frame.stream != 0 || frame.payload.len() % 6 != 0 {
            return Err(protocol_error("malformed SETTINGS"));
        }
        let mut ack = Vec::new();
        push_frame(&mut ack, SETTINGS, ACK, 0, &[]);
        self.write(&ack)
    }

    fn read_frame(&mut self) -> Result<Frame, Error> {
        let mut head = [0; 9];
        self.read_exact(&mut head)?;
        self.read_payload(head)
    }

    fn read_payload(&mut self, head: [u8; 9]) -> Result<Frame, Error> {
        let length = be32(&[0, head[0], head[1], head[2]]) as usize;
        if length > MAX_FRAME {
            return Err(Error::Http2(Http2Fault::FrameTooLarge {
                length,
                max: MAX_FRAME,
            }));
        }
        let mut payload = vec![0; length];
        self.read_exact(&mut payload)?;
        Ok(Frame {
            kind: head[3],
            flags: head[4],
            stream: be32(&head[5..9]) & 0x7fff_ffff,
            payload,
        })
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.reader
            .read_exact(buf)
            .map_err(|e| io_failure(&e, self.phase))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let stream = self.reader.get_mut();
        stream
            .write_all(bytes)
            .and_then(|()| stream.flush())
            .map_err(|e| io_failure(&e, self.phase))
    }
}

/// A GOAWAY is fine when it is graceful and our stream is still served; else it ends
/// the probe.
fn on_goaway(frame: &Frame) -> Result<(), Error> {
    if frame.payload.len() < 8 {
        return Err(protocol_error("malformed GOAWAY"));
    }
    let last_stream = be32(&frame.payload[..4]) & 0x7fff_ffff;
    let code = be32(&frame.payload[4..8]);
    if code == 0 && last_stream >= STREAM {
        return Ok(());
    }
    let debug = String::from_utf8_lossy(&frame.payload[8..]);
    let separator = if debug.is_empty() { "" } else { ": " };
    Err(Error::GoAway(format!(
        "the server closed the connection (GOAWAY {}{separator}{debug})",
        error_name(code)
    )))
}

/// A DATA or HEADERS frame's content, without padding and priority fields.
fn content(frame: &Frame) -> Result<&[u8], Error> {
    let malformed = || protocol_error("malformed padding");
    let mut content = frame.payload.as_slice();
    let mut padding = 0;
    if frame.flags & PADDED != 0 {
        let (&length, rest) = content.split_first().ok_or_else(malformed)?;
        padding = usize::from(length);
        content = rest;
    }
    if frame.kind == HEADERS && frame.flags & PRIORITY != 0 {
        content = content.get(5..).ok_or_else(malformed)?;
    }
    let end = content.len().checked_sub(padding).ok_or_else(malformed)?;
    Ok(&content[..end])
}

fn be32(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0, |value, &byte| value << 8 | u32::from(byte))
}

fn protocol_error(what: &str) -> Error {
    Error::Http2(Http2Fault::Protocol(what.to_string()))
}

/// RFC 9113 7.
fn error_name(code: u32) -> String {
    const NAMES: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    match NAMES.get(code as usize) {
        Some(name) => name.to_string(),
        None => format!("error code {code}"),
    }
}
